"""MCP client factories, AgentCore Memory wiring, the local tools and `python main.py`."""

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import httpx2
import main
import pytest
from bedrock_agentcore.memory.integrations.strands.session_manager import AgentCoreMemorySessionManager
from mcp_client import client as mcp_client_module
from memory.session import get_memory_session_manager
from moto import mock_aws
from strands.tools.mcp import MCPClient

from sandbox.agent_host import AGENT_SITE_DIR
from tests.agent.helpers import SESSION_HEADER, free_port, new_session_id, parse_sse_data

GATEWAY_URL = "https://gw-test.gateway.example.invalid/mcp"


@pytest.fixture(autouse=True)
def reset_warn_once() -> None:
    mcp_client_module._warn_once.cache_clear()


@pytest.fixture
def recorded_transports(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, httpx2.AsyncClient]]:
    """Replace mcp's streamable_http_client so opening a transport records its URL and HTTP client, offline."""
    opened: list[tuple[str, httpx2.AsyncClient]] = []

    @asynccontextmanager
    async def fake_streamable_http_client(url: str, *, http_client: httpx2.AsyncClient) -> AsyncIterator[Any]:
        opened.append((url, http_client))
        yield ("read-stream", "write-stream")

    monkeypatch.setattr(mcp_client_module, "streamable_http_client", fake_streamable_http_client)
    return opened


def open_transport_of(client: MCPClient) -> Any:
    async def enter() -> Any:
        async with client._transport_callable() as streams:
            return streams

    return asyncio.run(enter())


def test_gateway_client_sends_the_given_authorization_header(
    monkeypatch: pytest.MonkeyPatch, recorded_transports: list[tuple[str, httpx2.AsyncClient]]
) -> None:
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", GATEWAY_URL)

    client = mcp_client_module.get_gateway_mcp_client("Bearer token-A")

    assert isinstance(client, MCPClient)
    assert recorded_transports == []  # building the client does not connect
    assert open_transport_of(client) == ("read-stream", "write-stream")
    (url, http_client) = recorded_transports[0]
    assert url == GATEWAY_URL
    assert http_client.headers["Authorization"] == "Bearer token-A"
    assert http_client.follow_redirects is False
    assert http_client.is_closed  # the transport closes the HTTP client it created


def test_gateway_client_needs_a_url_and_carries_only_a_real_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    missing_url = [mcp_client_module.get_gateway_mcp_client("Bearer token-A") for _ in range(3)]
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", GATEWAY_URL)
    missing_token = [mcp_client_module.get_gateway_mcp_client(value) for value in (None, "", "   ")]

    assert missing_url == [None, None, None]
    # Without a token the client is still built (an open gateway serves it) but sends no Authorization header.
    assert all(isinstance(client, MCPClient) for client in missing_token)
    warnings = [r for r in caplog.records if "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL is not set" in r.message]
    assert len(warnings) == 1


def test_web_search_client_is_optional_and_never_gets_a_token(
    monkeypatch: pytest.MonkeyPatch,
    recorded_transports: list[tuple[str, httpx2.AsyncClient]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    unset = [mcp_client_module.get_web_search_mcp_client() for _ in range(2)]
    monkeypatch.setenv("WEB_SEARCH_MCP_URL", "https://search.example.invalid/mcp")

    client = mcp_client_module.get_web_search_mcp_client()

    assert unset == [None, None]
    assert sum("WEB_SEARCH_MCP_URL is not set" in r.message for r in caplog.records) == 1
    assert isinstance(client, MCPClient)
    assert client.continue_on_error is True
    open_transport_of(client)
    (url, http_client) = recorded_transports[0]
    assert url == "https://search.example.invalid/mcp"
    assert "Authorization" not in http_client.headers


def test_no_memory_session_manager_without_memory_id() -> None:
    assert get_memory_session_manager("session-1", "actor-1") is None


def test_memory_session_manager_persists_the_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    """With MEMORY_ID set, the agent's turns are written to AgentCore Memory (moto stands in for AWS)."""
    session = new_session_id()
    with mock_aws():
        control = boto3.client("bedrock-agentcore-control", region_name="us-east-1")
        memory_id = control.create_memory(name="CustomerSupportMemory", eventExpiryDuration=30)["memory"]["id"]
        monkeypatch.setenv("MEMORY_ID", memory_id)

        manager = get_memory_session_manager("config-check-session", "actor-1")
        agent = main.build_agent(session, "actor-1")
        asyncio.run(agent.invoke_async("What's the return policy for audio?"))
        events = boto3.client("bedrock-agentcore", region_name="us-east-1").list_events(
            memoryId=memory_id, actorId="actor-1", sessionId=session, includePayloads=True
        )["events"]

    assert isinstance(manager, AgentCoreMemorySessionManager)
    assert manager.config.memory_id == memory_id
    assert manager.config.session_id == "config-check-session"
    assert manager.config.actor_id == "actor-1"
    assert manager.config.async_mode is True
    assert "What's the return policy for audio?" in json.dumps(events, default=str)


def test_local_tools_use_the_tutorial_data() -> None:
    assert main.get_return_policy(product_category="Accessories") == (
        "Return policy for accessories: Window: 14 days, Condition: Must be in original packaging, unused, "
        "Refund: Store credit or exchange"
    )
    assert "No specific return policy found for 'toys'" in main.get_return_policy(product_category="toys")
    assert main.get_product_info(query="prod-001") == (
        "Wireless Headphones (PROD-001): $79.99, Category: audio, "
        "Noise-cancelling Bluetooth headphones with 30h battery life, Warranty: 12 months"
    )
    assert main.get_product_info(query="keyboard").startswith("Found products:\nPROD-005: Mechanical Keyboard")
    assert main.get_product_info(query="teleporter") == "No products found matching 'teleporter'."
    assert sorted(main.PRODUCTS) == ["PROD-001", "PROD-002", "PROD-003", "PROD-004", "PROD-005"]


def test_python_main_py_serves_on_host_and_port_from_env(fake_jwt: Callable[..., str]) -> None:
    """The sandbox starts the agent exactly like this: `python agent/main.py` with HOST and PORT."""
    repo_root = Path(__file__).resolve().parents[2]
    port = free_port()
    # With the sandbox's agent site on the path: the offline model (AGENT_MODEL_PROVIDER) is not in agent/.
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONPATH": str(AGENT_SITE_DIR)}
    process = subprocess.Popen(
        [sys.executable, "agent/main.py"],
        cwd=repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    token = fake_jwt()
    try:
        ping = None
        deadline = time.monotonic() + 60  # its imports alone take seconds on a loaded machine
        while ping is None and time.monotonic() < deadline:
            try:
                ping = httpx.get(f"{base_url}/ping", timeout=1)
            except httpx.TransportError:
                assert process.poll() is None, "agent process exited early"
                time.sleep(0.05)
        assert ping is not None
        assert ping.status_code == 200
        response = httpx.post(
            f"{base_url}/invocations",
            json={"prompt": "What's the return policy for electronics?"},
            headers={SESSION_HEADER: new_session_id(), "Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert "30 days" in "".join(c for c in parse_sse_data(response.text) if isinstance(c, str))
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "caller=testclient123" in output
    assert token not in output
