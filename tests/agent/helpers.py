"""Helpers for the agent tests: fake tokens, local servers, and an SSE client for /invocations."""

import base64
import inspect
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
GATEWAY_TOOL_NAME = "WarrantyCheck___check_warranty"


def encode_fake_jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT carrying ``claims``, with a random signature segment."""

    def encode(part: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    signature = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).rstrip(b"=").decode()
    return f"{encode({'alg': 'RS256', 'kid': 'test'})}.{encode(claims)}.{signature}"


def make_fake_jwt(client_id: str = "testclient123", **extra_claims: Any) -> str:
    """An unsigned JWT shaped like a Cognito M2M access token; unique per call (random jti and signature)."""
    return encode_fake_jwt(
        {
            "sub": client_id,
            "client_id": client_id,
            "token_use": "access",
            "scope": "customersupport/invoke",
            "exp": int(time.time()) + 3600,
            "jti": str(uuid.uuid4()),
            **extra_claims,
        }
    )


def make_fake_user_jwt(client_id: str, sub: str, token_use: str = "access") -> str:
    """An unsigned JWT shaped like a Cognito user pool token of user ``sub`` signed in through app client ``client_id``.

    Access tokens name the app client in ``client_id``, ID tokens in ``aud``; both carry the user's UUID in ``sub``.
    """
    return encode_fake_jwt(
        {
            "sub": sub,
            ("client_id" if token_use == "access" else "aud"): client_id,
            "token_use": token_use,
            "cognito:username": f"user-{sub[:8]}",
            "exp": int(time.time()) + 3600,
            "jti": str(uuid.uuid4()),
        }
    )


async def collect_invocation(entrypoint: Callable[..., Awaitable[Any]], payload: Any, context: Any) -> Any:
    """Call the agent's entrypoint like bedrock_agentcore does: a Response is returned as is, a stream is drained."""
    result = await entrypoint(payload, context)
    if inspect.isasyncgen(result):
        return [chunk async for chunk in result]
    return result


def new_session_id() -> str:
    """A runtime session id of the required length (33+ characters)."""
    return f"test-session-{uuid.uuid4().hex}"


def free_port() -> int:
    """A local TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServedApp:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: Any) -> ServedApp:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a daemon thread; returns once it accepts."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return ServedApp(url=f"http://127.0.0.1:{port}", server=server, thread=thread)


@dataclass
class AgentResponse:
    status_code: int
    chunks: list[Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(chunk for chunk in self.chunks if isinstance(chunk, str))


def parse_sse_data(body: str) -> list[Any]:
    """Decode the JSON payload of every ``data:`` line of a server-sent-events body."""
    return [json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")]


@dataclass
class AgentServer:
    url: str

    def invoke(
        self,
        prompt: Any,
        session_id: str,
        token: str | None = None,
        extra_headers: dict[str, str] | None = None,
        raw_headers: list[tuple[str, str]] | None = None,
    ) -> AgentResponse:
        """POST /invocations the way AgentCore Runtime forwards a request, and decode the SSE stream (or JSON error).

        ``raw_headers`` are sent as given, after the others, repeated names included.
        """
        headers = {SESSION_HEADER: session_id, "Accept": "text/event-stream, application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(extra_headers or {})
        header_list = [*headers.items(), *(raw_headers or [])]
        response = httpx.post(f"{self.url}/invocations", json={"prompt": prompt}, headers=header_list, timeout=60)
        if response.headers.get("content-type", "").startswith("application/json"):
            return AgentResponse(response.status_code, [response.json()], dict(response.headers))
        return AgentResponse(response.status_code, parse_sse_data(response.text), dict(response.headers))


@dataclass
class FakeGateway:
    """A local MCP server standing in for the AgentCore Gateway; records the Authorization header of each request."""

    url: str
    authorization_headers: list[str | None] = field(default_factory=list)
