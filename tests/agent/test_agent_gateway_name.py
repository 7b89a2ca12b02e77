"""Which gateway the agent calls: the one AGENTCORE_GATEWAY_NAME names, by the rollout's own naming rule."""

import logging

import pytest
from mcp_client import client as mcp_client_module
from rollout_core import settings

OTHER_URL = "https://other-gw-0123456789.gateway.example.invalid/mcp"
STALE_URL = "https://my-gateway-9876543210.gateway.example.invalid/mcp"


@pytest.fixture(autouse=True)
def reset_warn_once() -> None:
    mcp_client_module._warn_once.cache_clear()


@pytest.mark.parametrize("name", ["my-gateway-secure", "my-gateway", "other-gw", "gw1", "a", "x1-y2-z3" * 6])
def test_the_agent_derives_the_url_variable_with_the_rollouts_rule(name: str) -> None:
    assert settings.GATEWAY_NAME.fullmatch(name)
    assert mcp_client_module.gateway_url_env_var(name) == settings.gateway_url_env_var_for(name)
    assert mcp_client_module.GATEWAY_NAME_ENV == settings.GATEWAY_NAME_ENV_VAR


def test_the_named_gateways_variable_wins_over_stale_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_URL", STALE_URL)
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", STALE_URL)
    monkeypatch.setenv("AGENTCORE_GATEWAY_OTHER_GW_URL", OTHER_URL)
    monkeypatch.setenv("AGENTCORE_GATEWAY_NAME", "other-gw")

    assert mcp_client_module.gateway_url() == OTHER_URL


def test_a_named_gateway_without_its_url_gives_no_gateway_never_a_stale_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_URL", STALE_URL)
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", STALE_URL)
    monkeypatch.setenv("AGENTCORE_GATEWAY_NAME", "other-gw")

    assert mcp_client_module.gateway_url() is None
    assert mcp_client_module.get_gateway_mcp_client("Bearer t") is None
    assert [r.message for r in caplog.records] == [
        "AGENTCORE_GATEWAY_OTHER_GW_URL is not set; gateway tools (warranty check) are unavailable"
    ]


@pytest.mark.parametrize("bad", ["other_gw", "gw--x", "-gw", "a b", "gw/../x"])
def test_a_malformed_gateway_name_gives_no_gateway(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", STALE_URL)
    monkeypatch.setenv("AGENTCORE_GATEWAY_NAME", bad)

    assert mcp_client_module.gateway_url() is None
    assert "AGENTCORE_GATEWAY_NAME is not a gateway name" in caplog.text


def test_without_a_name_the_tutorials_gateways_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_URL", STALE_URL)
    assert mcp_client_module.gateway_url() == STALE_URL  # before the rollout: the tutorial's open gateway

    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", OTHER_URL)
    assert mcp_client_module.gateway_url() == OTHER_URL
