"""Helpers for the agent tests: fake tokens, local servers, and an SSE client for /invocations."""

import base64
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
GATEWAY_TOOL_NAME = "WarrantyCheck___check_warranty"


def make_fake_jwt(client_id: str = "testclient123", **extra_claims: Any) -> str:
    """An unsigned JWT shaped like a Cognito M2M access token; unique per call (random jti and signature)."""

    def encode(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    claims = {
        "sub": client_id,
        "client_id": client_id,
        "token_use": "access",
        "scope": "customersupport/invoke",
        "exp": int(time.time()) + 3600,
        "jti": str(uuid.uuid4()),
        **extra_claims,
    }
    signature = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).rstrip(b"=").decode()
    return f"{encode({'alg': 'RS256', 'kid': 'test'})}.{encode(claims)}.{signature}"


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
    ) -> AgentResponse:
        """POST /invocations the way AgentCore Runtime forwards a request, and decode the SSE stream."""
        headers = {SESSION_HEADER: session_id, "Accept": "text/event-stream, application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(extra_headers or {})
        response = httpx.post(f"{self.url}/invocations", json={"prompt": prompt}, headers=headers, timeout=60)
        return AgentResponse(status_code=response.status_code, chunks=parse_sse_data(response.text))


@dataclass
class FakeGateway:
    """A local MCP server standing in for the AgentCore Gateway; records the Authorization header of each request."""

    url: str
    authorization_headers: list[str | None] = field(default_factory=list)
