"""The lifecycle every sandbox server shares: a free port on 127.0.0.1, served from a daemon thread.

`LoopbackServer` owns start (idempotent) / stop / `base_url` / the context manager; a subclass says how it serves
(`_serve`, which returns the bound port, and `_shutdown`). `HTTPLoopbackServer` serves a `BaseHTTPRequestHandler`
class with the standard library's ThreadingHTTPServer (Cognito, the runtime data plane); the gateway data plane
serves an ASGI app with uvicorn on the same base.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self

LOOPBACK_HOST = "127.0.0.1"
POLL_INTERVAL = 0.05  # serve_forever's shutdown check: stop() returns within about this long
JOIN_TIMEOUT = 5.0


class LoopbackServer:
    """A server on a free port of `host`; `start()`/`stop()` or use it as a context manager."""

    # Names the server in its "listening on" log line and its thread.
    label: ClassVar[str] = "sandbox server"
    thread_name: ClassVar[str] = "sandbox-server"

    def __init__(self, host: str = LOOPBACK_HOST) -> None:
        self.host = host
        self._port: int | None = None

    def _serve(self) -> int:
        """Bind, start serving on a daemon thread, and return the port (the server must answer once this returns)."""
        raise NotImplementedError

    def _shutdown(self) -> None:
        """Stop serving and release the port (bounded waits)."""
        raise NotImplementedError

    def start(self) -> Self:
        if self._port is not None:
            return self
        self._port = self._serve()
        # The subclass's module logger, so each server logs under its own name.
        logging.getLogger(type(self).__module__).info("%s listening on %s", self.label, self.base_url)
        return self

    def stop(self) -> None:
        if self._port is None:
            return
        self._port = None
        self._shutdown()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return f"http://{self.host}:{self._port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class OwnedHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer whose handlers reach the object they serve as `self.server.owner`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        super().__init__(address, handler)
        self.owner = owner


def owner_of(handler: BaseHTTPRequestHandler) -> Any:
    """The object an HTTPLoopbackServer handler serves (its server's owner)."""
    server = handler.server
    if not isinstance(server, OwnedHTTPServer):
        raise TypeError(f"{type(handler).__name__} is not served by an OwnedHTTPServer")
    return server.owner


class HTTPLoopbackServer(LoopbackServer):
    """Serves `handler` (a BaseHTTPRequestHandler class; in it, `owner_of(self)` is this object) from a daemon
    thread, one thread per connection."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = LOOPBACK_HOST) -> None:
        super().__init__(host)
        self.handler = handler
        self._httpd: OwnedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _serve(self) -> int:
        server = OwnedHTTPServer((self.host, 0), self.handler, self)
        self._httpd = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(POLL_INTERVAL,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        port: int = server.server_address[1]
        return port

    def _shutdown(self) -> None:
        server, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=JOIN_TIMEOUT)
