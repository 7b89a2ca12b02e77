"""SwitchRuntime: authorizer, allowlist and gateway URL in one runtime update."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import desired
from rollout_core.errors import (
    AuthorizerConflict,
    RuntimeUpdateFailed,
)
from rollout_core.state import Config, SwitchRuntimeEvent

from functions.switch_runtime import app
from tests.unit.helpers import (
    DISCOVERY_URL,
    NEW_ENV_VAR,
    NEW_GATEWAY,
    NEW_URL,
    RUNTIME_ENV,
    SCOPE,
    SECURE,
    Seeded,
    assert_secured_with_settings_kept,
    client_error,
    make_ready,
    runtime_record,
    switch,
)


def record_updates(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every UpdateAgentRuntime request the client sends (still sent to moto)."""
    sent: list[dict[str, Any]] = []
    real = client.update_agent_runtime

    def recorded(**kwargs: Any) -> Any:
        sent.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(client, "update_agent_runtime", recorded)
    return sent


def test_switch_is_one_update_with_everything_and_preserves_every_other_setting(
    client: Any, seeded: Seeded, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = record_updates(client, monkeypatch)
    result = switch(client, seeded.runtime_id)
    assert len(sent) == 1
    assert result["changes"] == ["authorizer", "allowlist", "gatewayUrl", "gatewayName"]
    assert (result["changed"], result["ready"], result["version"]) == (True, False, "2")
    assert (result["before"], result["after"]) == (None, NEW_URL + "/mcp")
    assert_secured_with_settings_kept(
        runtime_record(client, seeded.runtime_id),
        {**RUNTIME_ENV, NEW_ENV_VAR: NEW_URL + "/mcp", "AGENTCORE_GATEWAY_NAME": NEW_GATEWAY},
    )
    make_ready(backend, seeded.runtime_id)
    again = switch(client, seeded.runtime_id, NEW_URL + "/mcp/")
    assert (again["changed"], again["ready"], again["changes"]) == (False, True, [])
    assert len(sent) == 1  # no UpdateAgentRuntime


def test_switch_never_sends_an_authorizer_to_a_runtime_that_has_one(
    client: Any, seeded: Seeded, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.agent_runtimes[seeded.runtime_id].authorizer_configuration = copy.deepcopy(SECURE)
    sent = record_updates(client, monkeypatch)
    result = switch(client, seeded.runtime_id)
    (request,) = sent
    assert "authorizerConfiguration" not in request
    assert "authorizer" not in result["changes"]
    assert request["environmentVariables"][NEW_ENV_VAR] == NEW_URL + "/mcp"
    # Another authorizer (put there after the plan): refused before any request.
    backend.agent_runtimes[seeded.runtime_id].authorizer_configuration = desired.jwt_authorizer(
        DISCOVERY_URL, "another-client", [SCOPE]
    )
    with pytest.raises(AuthorizerConflict, match="allowedClients \\['another-client'\\]"):
        switch(client, seeded.runtime_id, "https://other/mcp")
    assert len(sent) == 1


def test_switch_repairs_a_runtime_whose_record_already_says_it_all(client: Any, seeded: Seeded, backend: Any) -> None:
    switch(client, seeded.runtime_id)
    backend.agent_runtimes[seeded.runtime_id].status = "UPDATE_FAILED"
    assert switch(client, seeded.runtime_id)["changed"] is False
    repaired = switch(client, seeded.runtime_id, repair=True)
    assert (repaired["changed"], repaired["version"], repaired["changes"]) == (True, "3", ["repair"])


def test_switch_env_var_limit(client: Any, seeded: Seeded, backend: Any) -> None:
    backend.agent_runtimes[seeded.runtime_id].environment_variables = {f"V{i}": "x" for i in range(50)}
    with pytest.raises(RuntimeUpdateFailed, match="would have 52 environment variables"):  # URL + gateway name
        switch(client, seeded.runtime_id)


def test_switch_maps_a_refusal(seeded: Seeded, client: Any) -> None:
    class Refusing:
        def get_agent_runtime(self, **kwargs: Any) -> Any:
            return client.get_agent_runtime(**kwargs)

        def update_agent_runtime(self, **kwargs: Any) -> Any:
            raise client_error("ValidationException", "environment variable value too long")

    with pytest.raises(RuntimeUpdateFailed, match="\\(switch\\): ValidationException: environment variable"):
        switch(Refusing(), seeded.runtime_id)


def test_switch_runtime_handler(client: Any, config: Config, context: LambdaContext) -> None:
    event: SwitchRuntimeEvent = {
        "executionArn": "arn:execution",
        "runtimeId": config["runtime"]["id"],
        "cognito": config["cognito"],
        "envVar": NEW_ENV_VAR,
        "gatewayUrl": NEW_URL,
        "gatewayName": NEW_GATEWAY,
        "agentArtifact": None,
        "repair": False,
    }
    assert app.lambda_handler(event, context)["changed"] is True
    after = runtime_record(client, config["runtime"]["id"])
    assert after["environmentVariables"][NEW_ENV_VAR] == NEW_URL + "/mcp"
    assert after["authorizerConfiguration"] == SECURE
