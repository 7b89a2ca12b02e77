"""CustomerSupport agent for Amazon Bedrock AgentCore Runtime (Strands Agents).

Local tools answer return-policy and product questions; warranty checks come from the AgentCore Gateway, reached
over MCP with the caller's own bearer token, wired anew on every request. One conversation (Agent) is kept per
runtime session and caller (app client AND subject, see ``identity.caller``); a request whose Authorization is
ambiguous (several headers or credentials, not ``Bearer <token>``) is refused before anything runs.

Run locally: ``HOST=127.0.0.1 PORT=8080 python agent/main.py``.
"""

import asyncio
import hashlib
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp, RequestContext
from identity.caller import Caller, RequestRefused, authenticate
from mcp_client.client import gateway_url, get_gateway_mcp_client, get_web_search_mcp_client
from memory.session import get_memory_session_manager
from model.load import load_model
from starlette.responses import JSONResponse, Response
from strands import Agent, tool
from strands.tools.mcp import MCPClient
from strands.types.tools import AgentTool

app = BedrockAgentCoreApp()
log = app.logger

# --- Customer support data (from the AgentCore customer-support tutorial) ---

RETURN_POLICIES: dict[str, dict[str, str]] = {
    "electronics": {
        "window": "30 days",
        "condition": "Original packaging required, must be unused or defective",
        "refund": "Full refund to original payment method",
    },
    "accessories": {
        "window": "14 days",
        "condition": "Must be in original packaging, unused",
        "refund": "Store credit or exchange",
    },
    "audio": {
        "window": "30 days",
        "condition": "Defective items only after 15 days",
        "refund": "Full refund within 15 days, replacement after",
    },
}

PRODUCTS: dict[str, dict[str, Any]] = {
    "PROD-001": {
        "name": "Wireless Headphones",
        "price": 79.99,
        "category": "audio",
        "description": "Noise-cancelling Bluetooth headphones with 30h battery life",
        "warranty_months": 12,
    },
    "PROD-002": {
        "name": "Smart Watch",
        "price": 249.99,
        "category": "electronics",
        "description": "Fitness tracker with heart rate monitor, GPS, and 5-day battery",
        "warranty_months": 24,
    },
    "PROD-003": {
        "name": "Laptop Stand",
        "price": 39.99,
        "category": "accessories",
        "description": "Adjustable aluminum laptop stand for ergonomic desk setup",
        "warranty_months": 6,
    },
    "PROD-004": {
        "name": "USB-C Hub",
        "price": 54.99,
        "category": "accessories",
        "description": "7-in-1 USB-C hub with HDMI, USB-A, SD card reader, and ethernet",
        "warranty_months": 12,
    },
    "PROD-005": {
        "name": "Mechanical Keyboard",
        "price": 129.99,
        "category": "electronics",
        "description": "RGB mechanical keyboard with Cherry MX switches",
        "warranty_months": 24,
    },
}

SYSTEM_PROMPT = """You are a helpful and professional customer support assistant for an e-commerce company.
Your role is to:
- Provide accurate information using the tools available to you
- Be friendly, patient, and understanding with customers
- Always offer additional help after answering questions
- If you can't help with something, direct customers to the appropriate contact

Your tools:
1. get_return_policy() - for return policy questions
2. get_product_info() - to look up product information and specifications
3. check_warranty (via the AgentCore Gateway) - for warranty status; only offered to signed-in customers
4. Web search, when configured - for troubleshooting help

Always use the appropriate tool to get accurate, up-to-date information rather than guessing. If a warranty tool is
not offered, explain that warranty checks require signing in."""


@tool
def get_return_policy(product_category: str) -> str:
    """Get return policy information for a specific product category.

    Args:
        product_category: Product category (e.g., 'electronics', 'accessories', 'audio')

    Returns:
        Formatted return policy details including timeframes and conditions
    """
    category = product_category.strip().lower()
    policy = RETURN_POLICIES.get(category)
    if policy is None:
        return f"No specific return policy found for '{product_category}'. Please contact support for details."
    return (
        f"Return policy for {category}: Window: {policy['window']}, Condition: {policy['condition']}, "
        f"Refund: {policy['refund']}"
    )


@tool
def get_product_info(query: str) -> str:
    """Search for product information by name, ID, or keyword.

    Args:
        query: Product name, ID (e.g., 'PROD-001'), or search keyword

    Returns:
        Product details including name, price, category, and description
    """
    product_id = query.strip().upper()
    product = PRODUCTS.get(product_id)
    if product is not None:
        return (
            f"{product['name']} ({product_id}): ${product['price']}, Category: {product['category']}, "
            f"{product['description']}, Warranty: {product['warranty_months']} months"
        )
    needle = query.strip().lower()
    matches = [
        f"{pid}: {p['name']} - ${p['price']} - {p['description']}"
        for pid, p in PRODUCTS.items()
        if needle and any(needle in p[field_name].lower() for field_name in ("name", "description", "category"))
    ]
    if matches:
        return "Found products:\n" + "\n".join(matches)
    return f"No products found matching '{query}'."


LOCAL_TOOLS = [get_return_policy, get_product_info]

# --- Conversations: one Agent per (session id, caller) ---

DEFAULT_SESSION_ID = "default-session"


def build_agent(session_id: str, actor_id: str) -> Agent:
    """Create the conversation's Agent with the local tools (and web search if configured), no gateway tools.

    ``actor_id`` is the caller's ``Caller.actor_id`` (client AND subject), so AgentCore Memory keeps each user's
    turns apart even when several users share an app client and a session id.
    """
    tools: list[Any] = list(LOCAL_TOOLS)
    web_search = get_web_search_mcp_client()
    if web_search is not None:
        tools.append(web_search)
    return Agent(
        model=load_model(),
        system_prompt=SYSTEM_PROMPT,
        tools=tools,
        session_manager=get_memory_session_manager(session_id, actor_id),
        # The default handler prints every token to stdout; the answer is streamed to the caller instead.
        callback_handler=None,
    )


@dataclass
class GatewaySession:
    """An open gateway MCP connection, reused by the conversation's later requests that carry the same token."""

    token_fingerprint: str
    client: MCPClient
    tools: list[AgentTool]


@dataclass
class Conversation:
    """A cached Agent; ``lock`` runs one request at a time per conversation (an Agent is not re-entrant)."""

    agent: Agent | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    active_requests: int = 0
    gateway: GatewaySession | None = None


class ConversationCache:
    """Least-recently-used cache of conversations, so a long-running process does not grow without bound.

    Keyed by session id and the full ``Caller`` (raw client id AND subject): users of one app client never share a
    conversation, whatever their claim values look like.
    """

    def __init__(self, max_conversations: int = 64) -> None:
        """Keep at most ``max_conversations`` idle conversations."""
        self.max_conversations = max_conversations
        self._conversations: OrderedDict[tuple[str, Caller], Conversation] = OrderedDict()

    def __len__(self) -> int:
        """Number of cached conversations."""
        return len(self._conversations)

    def get(self, session_id: str, caller: Caller) -> Agent | None:
        """Return the cached Agent of a conversation, if any (for inspection)."""
        conversation = self._conversations.get((session_id, caller))
        return conversation.agent if conversation else None

    @asynccontextmanager
    async def checkout(self, session_id: str, caller: Caller) -> AsyncIterator[Conversation]:
        """Yield the conversation (its Agent created on first use), locked for this request."""
        key = (session_id, caller)
        # No await between lookup and insert: all invocations share one event loop, so this cannot race.
        conversation = self._conversations.get(key)
        if conversation is None:
            conversation = Conversation()
            self._conversations[key] = conversation
        self._conversations.move_to_end(key)
        conversation.active_requests += 1
        try:
            await self._evict_idle()
            async with conversation.lock:
                if conversation.agent is None:
                    # Agent construction may block (memory read, MCP connect); keep the shared loop free.
                    conversation.agent = await asyncio.to_thread(build_agent, session_id, caller.actor_id)
                yield conversation
        finally:
            conversation.active_requests -= 1

    async def _evict_idle(self) -> None:
        idle = [key for key, conv in self._conversations.items() if conv.active_requests == 0]
        for key in idle[: max(0, len(self._conversations) - self.max_conversations)]:
            evicted = self._conversations.pop(key)
            if evicted.gateway is not None:
                await asyncio.to_thread(_stop_quietly, evicted.gateway.client)
            if evicted.agent is not None:
                # Stops the conversation's MCP clients (web search).
                await asyncio.to_thread(evicted.agent.cleanup)


conversations = ConversationCache()

# --- Gateway tools, wired per request with that request's token ---


def _connect_and_list_tools(client: MCPClient) -> list[AgentTool]:
    client.start()
    tools: list[AgentTool] = []
    pagination_token: str | None = None
    while True:
        page = client.list_tools_sync(pagination_token=pagination_token)
        tools.extend(page)
        pagination_token = page.pagination_token
        if not pagination_token:
            return tools


def _stop_quietly(client: MCPClient) -> None:
    try:
        client.stop(None, None, None)
    except Exception as error:
        log.warning("Closing the gateway MCP client failed: %s", type(error).__name__)


def token_fingerprint(authorization: str | None) -> str:
    """Identifies the token a gateway connection was opened with, without keeping the token itself around."""
    return hashlib.sha256((authorization or "").encode()).hexdigest()


async def _gateway_session(conversation: Conversation, authorization: str | None) -> GatewaySession | None:
    """The conversation's gateway connection for THIS request's token: reused while the token is the same,
    replaced (and the old one closed) as soon as it differs - never a connection opened with another token."""
    fingerprint = token_fingerprint(authorization)
    current = conversation.gateway
    if current is not None and current.token_fingerprint == fingerprint:
        return current
    if current is not None:
        conversation.gateway = None
        await asyncio.to_thread(_stop_quietly, current.client)
    client = get_gateway_mcp_client(authorization)
    if client is None:
        return None
    try:
        tools = await asyncio.to_thread(_connect_and_list_tools, client)
    except Exception as error:
        # Only the type: messages from HTTP/auth layers are not guaranteed to be free of request details.
        log.warning("Gateway unavailable for this request (%s); answering with local tools", type(error).__name__)
        await asyncio.to_thread(_stop_quietly, client)
        return None
    conversation.gateway = GatewaySession(fingerprint, client, tools)
    return conversation.gateway


@asynccontextmanager
async def gateway_tools(conversation: Conversation, authorization: str | None) -> AsyncIterator[list[str]]:
    """Expose the gateway's tools to the conversation's Agent for one request, authenticated with its token.

    The tools are registered for this request only and removed when it ends, so a later request - possibly with
    another token - never calls the gateway through this request's connection. Yields the names of the tools
    added (empty if no gateway is configured or it cannot be reached with this token).
    """
    agent = conversation.agent
    session = await _gateway_session(conversation, authorization) if agent is not None else None
    if agent is None or session is None:
        yield []
        return
    registry = agent.tool_registry
    added: list[str] = []
    try:
        for gateway_tool in session.tools:
            if gateway_tool.tool_name in registry.registry:
                log.warning("Gateway tool %s clashes with a local tool; skipped", gateway_tool.tool_name)
                continue
            registry.register_tool(gateway_tool)
            added.append(gateway_tool.tool_name)
        yield added
    finally:
        for name in added:
            registry.registry.pop(name, None)


# --- Entrypoint ---

MISSING_PROMPT_ANSWER = 'Please send a JSON body with a non-empty "prompt" string.'
UNAUTHENTICATED_NOTE = (
    "\n\nNote: warranty lookups go through the secured AgentCore Gateway and need an authenticated request "
    "(send a Cognito bearer token)."
)


def tool_name_of(event: Mapping[str, Any]) -> str | None:
    """The tool a strands stream event starts, if any."""
    current = event.get("current_tool_use")
    name = current.get("name") if isinstance(current, Mapping) else None
    return name if isinstance(name, str) and name else None


def refusal_response(refusal: RequestRefused) -> Response:
    """The HTTP error for a refused credential (RFC 6750 style); it names no header value."""
    return JSONResponse(
        {"error": refusal.error, "error_description": refusal.description},
        status_code=refusal.status,
        headers={"WWW-Authenticate": f'Bearer error="{refusal.error}"'},
    )


@app.entrypoint
async def invoke(payload: Any, context: RequestContext) -> Response | AsyncIterator[str | dict[str, Any]]:
    """Check the request's credential, then stream the answer (see ``answer``); or refuse it with an HTTP error.

    A coroutine rather than an async generator so it can choose the status code: bedrock_agentcore passes a
    returned ``Response`` through as is and streams a returned async generator as server-sent events.
    """
    try:
        caller, authorization = authenticate(context)
    except RequestRefused as refusal:
        # Refused before any conversation, model or gateway call; the log names the reason, never a value.
        log.warning("Invocation refused with HTTP %d: %s", refusal.status, refusal.reason)
        return refusal_response(refusal)
    return answer(payload, context.session_id or DEFAULT_SESSION_ID, caller, authorization)


async def answer(
    payload: Any, session_id: str, caller: Caller, authorization: str | None
) -> AsyncIterator[str | dict[str, Any]]:
    """Stream the answer to ``payload["prompt"]`` as text chunks, then one metadata event naming the tools used.

    The metadata event (``{"metadata": {"toolsUsed": [...]}}``) lets a caller - the rollout's smoke test - tell an
    answer that came from the gateway tool from one the model made up. It carries tool names only.
    """
    prompt = payload.get("prompt") if isinstance(payload, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        log.warning("Invocation rejected: payload has no prompt")
        yield MISSING_PROMPT_ANSWER
        return

    log.info("Invocation from caller=%s, bearer token %s", caller.actor_id, "present" if authorization else "absent")

    tools_used: list[str] = []
    async with (
        conversations.checkout(session_id, caller) as conversation,
        gateway_tools(conversation, authorization) as gateway_tool_names,
    ):
        agent = conversation.agent
        assert agent is not None  # checkout builds it
        async for event in agent.stream_async(prompt):
            text = event.get("data")
            if isinstance(text, str):
                yield text
            name = tool_name_of(event)
            if name and name not in tools_used:
                tools_used.append(name)
    if not authorization and not gateway_tool_names and gateway_url() is not None:
        yield UNAUTHENTICATED_NOTE
    yield {"metadata": {"toolsUsed": tools_used}}


if __name__ == "__main__":
    # AgentCore Runtime reaches the container from outside, so the default binds every interface.
    app.run(port=int(os.environ.get("PORT", "8080")), host=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104
