"""Fixtures for the CustomerSupport agent tests: a real AgentCore app server and a fake MCP gateway, both local."""

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.agent_host import AGENT_SITE_DIR
from tests.agent.helpers import (
    GATEWAY_TOOL_NAME,
    AgentServer,
    FakeGateway,
    make_fake_jwt,
    new_session_id,
    serve_in_thread,
)

# The agent is deployed with agent/ as its root (entry main.py, imports like `from model.load import ...`); the
# offline model is not part of it: like the sandbox's agent processes, the tests find it in the sandbox's agent site.
AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
for _path in (AGENT_SITE_DIR, AGENT_DIR):  # agent/ first, as in the sandbox
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


# Read by the agent; cleared for every test so the host environment cannot leak in.
OPTIONAL_AGENT_ENV_VARS = (
    "AGENTCORE_GATEWAY_NAME",
    "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL",
    "AGENTCORE_GATEWAY_MY_GATEWAY_URL",
    "WEB_SEARCH_MCP_URL",
    "MEMORY_ID",
    "BEDROCK_MODEL_ID",
)


@pytest.fixture(autouse=True)
def offline_agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials, the offline model, and none of the optional integrations unless a test opts in."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AGENT_MODEL_PROVIDER": "offline-deterministic",
    }.items():
        monkeypatch.setenv(name, value)
    for name in OPTIONAL_AGENT_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_jwt() -> Callable[..., str]:
    """Factory for unique fake bearer tokens (see make_fake_jwt)."""
    return make_fake_jwt


@pytest.fixture
def session_id() -> str:
    """A fresh runtime session id."""
    return new_session_id()


@pytest.fixture(scope="session")
def agent_server() -> Iterator[AgentServer]:
    """The real BedrockAgentCoreApp from agent/main.py, served by uvicorn on a free local port."""
    import main

    served = serve_in_thread(main.app)
    yield AgentServer(url=served.url)
    served.stop()


@pytest.fixture(scope="session")
def _fake_gateway_server() -> Iterator[FakeGateway]:
    from mcp.server.mcpserver import MCPServer

    mcp_server = MCPServer("fake-agentcore-gateway")

    @mcp_server.tool(name=GATEWAY_TOOL_NAME, description="Check the warranty status of a product by its product id")
    def check_warranty(product_id: str) -> str:
        return f"Warranty for {product_id}: active, 12 months coverage (fake gateway)"

    mcp_app = mcp_server.streamable_http_app()
    gateway = FakeGateway(url="")

    async def recording_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "http":
            headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
            gateway.authorization_headers.append(headers.get("authorization"))
            if headers.get("authorization") is None:
                # Like a CUSTOM_JWT gateway: no bearer token, no access.
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"www-authenticate", b"Bearer")]}
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await mcp_app(scope, receive, send)

    served = serve_in_thread(recording_app)
    gateway.url = f"{served.url}/mcp"
    yield gateway
    served.stop()


@pytest.fixture
def fake_gateway(_fake_gateway_server: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    """The fake gateway, wired in through AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL, with an empty header log."""
    _fake_gateway_server.authorization_headers.clear()
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", _fake_gateway_server.url)
    return _fake_gateway_server


@pytest.fixture
def model_inputs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every input the agent's model is sent (system prompt and messages, as JSON), in order, from a fresh cache.

    The model is the offline deterministic one, so answers stay the same; only its input is recorded.
    """
    import main
    from offline_model import OfflineDeterministicModel

    inputs: list[str] = []

    class RecordingModel(OfflineDeterministicModel):
        async def stream(self, messages: Any, tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any) -> Any:
            inputs.append(json.dumps({"system": system_prompt, "messages": messages}, default=str))
            async for event in super().stream(messages, tool_specs, system_prompt, **kwargs):
                yield event

    monkeypatch.setattr(main, "load_model", RecordingModel)
    monkeypatch.setattr(main, "conversations", main.ConversationCache())
    return inputs


@pytest.fixture
def memory_sessions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (session id, actor id) of every AgentCore Memory session manager the agent asks for (none is made)."""
    import main

    requested: list[tuple[str, str]] = []

    def record(session_id: str, actor_id: str) -> None:
        requested.append((session_id, actor_id))

    monkeypatch.setattr(main, "get_memory_session_manager", record)
    return requested
