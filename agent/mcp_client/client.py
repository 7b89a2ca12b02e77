"""MCP clients for the AgentCore Gateway and an optional web-search server (mcp 2.x streamable HTTP).

mcp 2.x dropped ``streamablehttp_client(url, headers=...)``: ``streamable_http_client(url, http_client=...)`` takes
a pre-configured ``httpx2.AsyncClient`` (mcp 2.x is built on httpx2, not httpx), and leaves closing a
caller-provided client to the caller. Nothing here connects at import time; ``MCPClient`` connects on ``start()``.

Which gateway: the runtime's ``AGENTCORE_GATEWAY_NAME`` names it, and its URL is in ``AGENTCORE_GATEWAY_<NAME>_URL``
(the AgentCore CLI's convention, upper-cased, ``-`` -> ``_``; the secure rollout sets both, with the same rule as
``rollout_core.settings.gateway_url_env_var_for``). Only that variable is read: a runtime can still carry the URL
variables of earlier gateways (the tutorial's open ``my-gateway``, deleted by the rollout), and guessing among them
could send the caller's token to a gateway that no longer is the secured one. Without ``AGENTCORE_GATEWAY_NAME`` (a
runtime the rollout has not pointed yet) the tutorial's two names are tried: ``my-gateway-secure``, then
``my-gateway``.
"""

import functools
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx2
from mcp.client.streamable_http import streamable_http_client
from strands.tools.mcp import MCPClient

logger = logging.getLogger(__name__)

GATEWAY_NAME_ENV = "AGENTCORE_GATEWAY_NAME"
# CreateGateway's name pattern; anything else is not a gateway name.
_GATEWAY_NAME = re.compile(r"([0-9a-zA-Z][-]?){1,100}")


def gateway_url_env_var(gateway_name: str) -> str:
    """my-gateway-secure -> AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL (the AgentCore CLI's convention)."""
    return f"AGENTCORE_GATEWAY_{gateway_name.upper().replace('-', '_')}_URL"


GATEWAY_URL_ENV = gateway_url_env_var("my-gateway-secure")
# The tutorial's open gateway, used until the secure rollout points the runtime at the JWT gateway.
LEGACY_GATEWAY_URL_ENV = gateway_url_env_var("my-gateway")
WEB_SEARCH_URL_ENV = "WEB_SEARCH_MCP_URL"

# Bounded so an unreachable server cannot hold a customer request for long.
MCP_STARTUP_TIMEOUT_SECONDS = 15
# Same split as mcp's own defaults: normal requests vs. long-lived SSE reads.
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


@functools.cache
def _warn_once(message: str) -> None:
    # Cached on the message so a missing setting is reported once per process, not on every request.
    logger.warning(message)


def streamable_http_transport(
    url: str, headers: Mapping[str, str] | None = None
) -> Callable[[], AbstractAsyncContextManager[Any]]:
    """Return a transport factory for ``MCPClient`` whose HTTP client sends ``headers`` on every request.

    The factory is called each time the MCPClient (re)connects; the HTTP client it creates is closed together
    with the transport, because mcp 2.x does not close clients it was handed.
    """
    fixed_headers = dict(headers or {})

    @asynccontextmanager
    async def open_transport() -> AsyncIterator[Any]:
        # No redirects: a redirect must never carry the caller's bearer token to another URL.
        async with (
            httpx2.AsyncClient(headers=fixed_headers, timeout=_HTTP_TIMEOUT, follow_redirects=False) as http_client,
            streamable_http_client(url, http_client=http_client) as streams,
        ):
            yield streams

    return open_transport


def gateway_url_env_vars() -> tuple[str, ...]:
    """The variables that may hold this runtime's gateway URL, in the order they are read (see the module doc)."""
    name = os.environ.get(GATEWAY_NAME_ENV, "").strip()
    if not name:
        return (GATEWAY_URL_ENV, LEGACY_GATEWAY_URL_ENV)
    if _GATEWAY_NAME.fullmatch(name) is None:
        _warn_once(f"{GATEWAY_NAME_ENV} is not a gateway name; gateway tools (warranty check) are unavailable")
        return ()
    return (gateway_url_env_var(name),)


def gateway_url() -> str | None:
    """The URL of the gateway this runtime is pointed at, or None (warned once)."""
    names = gateway_url_env_vars()
    for name in names:
        url = os.environ.get(name, "").strip()
        if url:
            return url
    if names:
        _warn_once(f"{names[0]} is not set; gateway tools (warranty check) are unavailable")
    return None


def get_gateway_mcp_client(authorization: str | None) -> MCPClient | None:
    """Return an MCP client for the AgentCore Gateway that authenticates with the caller's Authorization header.

    Build one per caller token: the gateway validates the same Cognito JWT as the runtime, so a client built for
    another request's token would act as another (possibly expired) caller. A request without a token gets a
    client without one: an open gateway serves it, a JWT gateway answers 401. Returns None, without connecting,
    when no gateway URL is configured.
    """
    url = gateway_url()
    if url is None:
        return None
    headers = {"Authorization": authorization.strip()} if authorization and authorization.strip() else {}
    return MCPClient(streamable_http_transport(url, headers), startup_timeout=MCP_STARTUP_TIMEOUT_SECONDS)


def get_web_search_mcp_client() -> MCPClient | None:
    """Return an MCP client for the web-search server at WEB_SEARCH_MCP_URL, or None (warned once) if unset.

    It never receives the caller's token. ``continue_on_error`` keeps an unreachable search server from
    failing the agent: its tools are simply missing.
    """
    url = os.environ.get(WEB_SEARCH_URL_ENV, "").strip()
    if not url:
        _warn_once(f"{WEB_SEARCH_URL_ENV} is not set; web search tools are unavailable")
        return None
    return MCPClient(
        streamable_http_transport(url),
        startup_timeout=MCP_STARTUP_TIMEOUT_SECONDS,
        continue_on_error=True,
    )
