"""sandbox/loopback.py: the lifecycle the sandbox's loopback servers share (start, base_url, stop, restart)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from sandbox.loopback import HTTPLoopbackServer, owner_of


class _Greeter(HTTPLoopbackServer):
    label = "greeter"
    thread_name = "test-greeter"

    def __init__(self, greeting: str) -> None:
        super().__init__(_GreetingHandler)
        self.greeting = greeting


class _GreetingHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        owner: _Greeter = owner_of(self)
        payload = owner.greeting.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=5.0, trust_env=False)


def test_a_server_answers_on_loopback_while_running_and_refuses_its_url_once_stopped() -> None:
    server = _Greeter("hello")
    with pytest.raises(RuntimeError, match="_Greeter is not running"):
        _ = server.base_url

    with server as running:
        url = running.base_url
        assert running is server
        assert server.start().base_url == url  # start() again: the same server, not a second one
        assert url.startswith("http://127.0.0.1:")
        assert _get(url).text == "hello"  # the handler reached its owner

    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    with pytest.raises(httpx.ConnectError):
        _get(url)
    server.stop()  # stopping a stopped server is a no-op


def test_a_stopped_server_serves_again_when_restarted() -> None:
    server = _Greeter("again")
    with server:
        pass
    with server:
        assert _get(server.base_url).text == "again"


def test_owner_of_refuses_a_handler_not_served_by_a_loopback_server() -> None:
    handler = object.__new__(_GreetingHandler)
    handler.server = object()  # type: ignore[assignment]
    with pytest.raises(TypeError, match="_GreetingHandler is not served by an OwnedHTTPServer"):
        owner_of(handler)
