"""Per-request gateway wiring in main.invoke, with get_gateway_mcp_client replaced by a recorder (no connections)."""

import asyncio
from collections.abc import Callable
from typing import Any

import main
import pytest
from bedrock_agentcore.runtime import RequestContext
from identity.caller import ANONYMOUS, Caller
from strands import tool
from strands.tools.mcp import MCPClient
from strands.types.collections import PaginatedList

from tests.agent.helpers import GATEWAY_TOOL_NAME, collect_invocation


class RecordingGatewayClient(MCPClient):
    """Stands in for the gateway MCP client: serves one warranty tool tagged with the credentials it was built with."""

    def __init__(self, authorization: str | None, label: str) -> None:
        def never_connect() -> Any:
            raise AssertionError("the test gateway client must not open a transport")

        super().__init__(never_connect)
        self.authorization = authorization
        self.label = label
        self.started = False
        self.stopped = False

    def start(self) -> "RecordingGatewayClient":
        self.started = True
        return self

    def list_tools_sync(self, pagination_token: str | None = None, *args: Any, **kwargs: Any) -> Any:
        label = self.label

        @tool(name=GATEWAY_TOOL_NAME)
        def check_warranty(product_id: str) -> str:
            """Check the warranty status of a product.

            Args:
                product_id: Product id, e.g. PROD-001
            """
            return f"Warranty for {product_id} checked with {label}"

        return PaginatedList([check_warranty])

    def stop(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.stopped = True


@pytest.fixture
def gateway_clients(monkeypatch: pytest.MonkeyPatch) -> list[RecordingGatewayClient | None]:
    """Record every get_gateway_mcp_client call; tokens map to labels so answers show which client served them."""
    monkeypatch.setenv("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL", "https://gw-test.gateway.example.invalid/mcp")
    monkeypatch.setattr(main, "conversations", main.ConversationCache())
    built: list[RecordingGatewayClient | None] = []

    def fake_get_gateway_mcp_client(authorization: str | None) -> RecordingGatewayClient | None:
        client = None if authorization is None else RecordingGatewayClient(authorization, f"client#{len(built) + 1}")
        built.append(client)
        return client

    monkeypatch.setattr(main, "get_gateway_mcp_client", fake_get_gateway_mcp_client)
    return built


M2M_CALLER = Caller("testclient123", "testclient123")  # make_fake_jwt's default: client credentials, sub == client


def run_invoke(prompt: str, session_id: str, headers: dict[str, str] | None) -> str:
    context = RequestContext(session_id=session_id, request_headers=headers, request=None)
    chunks = asyncio.run(collect_invocation(main.invoke, {"prompt": prompt}, context))
    return "".join(chunk for chunk in chunks if isinstance(chunk, str))


def test_second_request_in_a_session_uses_a_client_built_from_its_own_token(
    gateway_clients: list[RecordingGatewayClient | None], fake_jwt: Callable[..., str], session_id: str
) -> None:
    first_token, second_token = fake_jwt(), fake_jwt()

    first = run_invoke("Check the warranty for PROD-001", session_id, {"Authorization": f"Bearer {first_token}"})
    second = run_invoke("Check the warranty for PROD-002", session_id, {"authorization": f"Bearer {second_token}"})

    first_client, second_client = gateway_clients
    assert first_client is not None
    assert second_client is not None
    assert first_client.authorization == f"Bearer {first_token}"
    assert second_client.authorization == f"Bearer {second_token}"
    assert "Warranty for PROD-001 checked with client#1" in first
    assert "Warranty for PROD-002 checked with client#2" in second
    # The first token's connection was closed as soon as a request came with another token.
    assert first_client.started
    assert first_client.stopped
    assert not second_client.stopped
    # Same caller, same session: one conversation that kept both turns.
    agent = main.conversations.get(session_id, M2M_CALLER)
    assert agent is not None
    assert len(main.conversations) == 1
    assert sum(1 for m in agent.messages if m["role"] == "user" and "text" in m["content"][0]) == 2
    # The gateway tool does not outlive the request that brought it.
    assert GATEWAY_TOOL_NAME not in agent.tool_registry.registry


def test_same_token_reuses_the_conversations_gateway_connection(
    gateway_clients: list[RecordingGatewayClient | None], fake_jwt: Callable[..., str], session_id: str
) -> None:
    headers = {"Authorization": f"Bearer {fake_jwt()}"}
    first = run_invoke("Check the warranty for PROD-001", session_id, headers)
    second = run_invoke("Check the warranty for PROD-004", session_id, headers)

    assert len(gateway_clients) == 1  # one connection for the session and token
    assert "checked with client#1" in first
    assert "Warranty for PROD-004 checked with client#1" in second
    agent = main.conversations.get(session_id, M2M_CALLER)
    assert agent is not None
    assert GATEWAY_TOOL_NAME not in agent.tool_registry.registry


def test_request_without_token_after_one_with_token_gets_no_gateway_tool(
    gateway_clients: list[RecordingGatewayClient | None], fake_jwt: Callable[..., str], session_id: str
) -> None:
    token = fake_jwt()

    with_token = run_invoke("Check the warranty for PROD-003", session_id, {"Authorization": f"Bearer {token}"})
    without_token = run_invoke("Check the warranty for PROD-003", session_id, None)

    assert "checked with client#1" in with_token
    assert gateway_clients[1] is None
    assert "only available to authenticated callers" in without_token
    # The agent itself (not only the model) tells an unauthenticated caller why warranty lookups are missing.
    assert without_token.endswith(main.UNAUTHENTICATED_NOTE)
    assert main.UNAUTHENTICATED_NOTE not in with_token


def test_stream_ends_with_the_names_of_the_tools_used(
    gateway_clients: list[RecordingGatewayClient | None], fake_jwt: Callable[..., str], session_id: str
) -> None:
    context = RequestContext(
        session_id=session_id, request_headers={"Authorization": f"Bearer {fake_jwt()}"}, request=None
    )
    chunks = asyncio.run(collect_invocation(main.invoke, {"prompt": "Check the warranty for PROD-003"}, context))
    assert chunks[-1] == {"metadata": {"toolsUsed": [GATEWAY_TOOL_NAME]}}
    assert all(isinstance(chunk, str) for chunk in chunks[:-1])


def test_different_callers_in_one_session_get_separate_conversations(
    gateway_clients: list[RecordingGatewayClient | None], fake_jwt: Callable[..., str], session_id: str
) -> None:
    run_invoke("What's the return policy for audio?", session_id, {"Authorization": f"Bearer {fake_jwt('alice')}"})
    run_invoke("What's the return policy for audio?", session_id, {"Authorization": f"Bearer {fake_jwt('bob')}"})

    alice = main.conversations.get(session_id, Caller("alice", "alice"))
    bob = main.conversations.get(session_id, Caller("bob", "bob"))
    assert alice is not None
    assert bob is not None
    assert alice is not bob


def test_gateway_connection_failure_is_survived_and_client_closed(
    monkeypatch: pytest.MonkeyPatch, fake_jwt: Callable[..., str], session_id: str
) -> None:
    monkeypatch.setattr(main, "conversations", main.ConversationCache())
    failing = RecordingGatewayClient("Bearer x", "failing")

    def refuse_start() -> RecordingGatewayClient:
        raise ConnectionError("gateway down")

    monkeypatch.setattr(failing, "start", refuse_start)
    monkeypatch.setattr(main, "get_gateway_mcp_client", lambda authorization: failing)

    answer = run_invoke(
        "What's the return policy for electronics?", session_id, {"Authorization": f"Bearer {fake_jwt()}"}
    )

    assert "30 days" in answer
    assert failing.stopped


def test_idle_conversations_beyond_the_limit_are_evicted(
    gateway_clients: list[RecordingGatewayClient | None],
) -> None:
    main.conversations.max_conversations = 2

    for index in range(3):
        run_invoke("Hello", f"eviction-session-{index:024d}", None)

    assert len(main.conversations) == 2
    assert main.conversations.get(f"eviction-session-{0:024d}", ANONYMOUS) is None
    assert main.conversations.get(f"eviction-session-{2:024d}", ANONYMOUS) is not None
