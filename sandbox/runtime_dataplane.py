"""AgentCore Runtime's data plane (InvokeAgentRuntime over HTTP), served on 127.0.0.1.

`POST /runtimes/{url-encoded runtime ARN}/invocations?qualifier=DEFAULT` is answered the way AgentCore answers it,
by the version the DEFAULT endpoint serves at that moment (its liveVersion, read from moto's
bedrock-agentcore-control records with that version's own configuration - not the latest update, which is live only
once the endpoint has moved to it): unknown ARN -> 404, more than one Authorization header (or one joining two
credentials) -> 403 whatever the authorizer, then the one header against the live version's authorizer:
- CUSTOM_JWT: a bearer token verified (no token -> 401 with a challenge, a refused token -> 403, SigV4 -> 403
  "Authorization method mismatch"); a token in the query string is never read, request lines are logged without it;
- none (IAM, AgentCore's default): SigV4 only - no Authorization -> 403 MissingAuthenticationTokenException, a bearer
  token -> 403 "Authorization method mismatch", a signature that does not verify against a key the account knows ->
  AWS's 403s (sandbox/sigv4.py), and the signer's identity-based policies must allow
  bedrock-agentcore:InvokeAgentRuntime on the endpoint (sandbox/iam; the harness's own credentials are unrestricted);
nothing live yet -> 409, session id checked, then the request goes to the runtime's agent process (started with the
live version's environment variables, running the code of the live version's agentRuntimeArtifact:
sandbox/code_artifacts.py) with only the headers on its requestHeaderAllowlist, and the agent's answer is streamed
back chunk by chunk. An agent that never starts (code that cannot load on the version's runtime, a missing entry
point) is AWS's 424 RuntimeClientError "Runtime initialization time exceeded", with the reason in the runtime's
agent log.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import botocore.session
import httpx
from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

from sandbox.agent_host import AgentProcessPool, AgentStartError
from sandbox.behaviour import live_version
from sandbox.code_artifacts import RUNTIME_START_FAILURE
from sandbox.jwt_verify import SIGV4_SCHEME, Decision, JwtVerifier, ambiguous_authorization, default_verifier
from sandbox.loopback import HTTPLoopbackServer, owner_of
from sandbox.sigv4 import KeyLookup, SigningKey, SigV4Refusal
from sandbox.sigv4 import verify as verify_sigv4

if TYPE_CHECKING:
    from sandbox.iam import SandboxIam

logger = logging.getLogger(__name__)

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
REQUEST_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id"
SESSION_ID_LENGTH = (33, 256)
DEFAULT_QUALIFIER = "DEFAULT"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
PROTECTED_RESOURCE_PREFIX = "/.well-known/oauth-protected-resource"
SIGNING_SERVICE = "bedrock-agentcore"
# AgentCore's answer to a call whose method (OAuth bearer token vs SigV4) is not the one the runtime is configured for.
METHOD_MISMATCH = (
    "Authorization method mismatch. The agent is configured for a different authorization method than what was used "
    "in your request. Check the agent's authorization configuration and ensure your request uses the matching method "
    "(OAuth or SigV4)"
)
MISSING_AUTHENTICATION = "Missing Authentication Token"
_INVOCATION_PATH = re.compile(r"^/runtimes/(?P<arn>.+)/invocations/?$")
_QUERY_STRING = re.compile(r"\?[^\s'\"]*")
# Connection-level headers belong to each hop; never copy them even if an allowlist names them.
_NEVER_FORWARD = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    SESSION_HEADER.lower(),
    REQUEST_ID_HEADER.lower(),
}


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation as the data plane saw it. `client_id` is the verified caller, never a credential: a bearer
    token's client id, or the ARN of a SigV4 signer."""

    time: float
    runtime_arn: str
    runtime_id: str | None
    status: int
    session_id: str | None
    client_id: str | None
    reason: str
    request_id: str
    forwarded_headers: tuple[str, ...] = ()
    streamed_bytes: int = 0
    version: str | None = None  # the runtime version that answered (DEFAULT's liveVersion)


class _Refusal(Exception):
    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}
        self.runtime_id: str | None = None
        self.version: str | None = None


@dataclass(frozen=True)
class _RuntimeView:
    """The fields of the live version this request needs, read once at request time."""

    runtime_id: str
    runtime_arn: str
    version: str | None  # None: nothing live yet
    status: str  # the DEFAULT endpoint's status
    authorizer_configuration: dict[str, Any] | None
    header_allowlist: tuple[str, ...]
    environment: dict[str, str]
    artifact: dict[str, Any] | None = None


class RuntimeDataPlane(HTTPLoopbackServer):
    """Loopback AgentCore runtime data plane over moto's control-plane records and an AgentProcessPool."""

    label = "AgentCore runtime data plane"
    thread_name = "sandbox-runtime-dataplane"

    def __init__(
        self,
        account_id: str,
        region: str,
        agents: AgentProcessPool,
        host: str = "127.0.0.1",
        verifier: JwtVerifier | None = None,
        agent_read_timeout: float = 120.0,
        keys: KeyLookup | None = None,
        iam: SandboxIam | None = None,
    ) -> None:
        """`keys`: the access keys the account knows, for SigV4 callers (default: the process's own credentials,
        unrestricted). `iam`: evaluates bedrock-agentcore:InvokeAgentRuntime for a SigV4 caller that is a role
        (None: no IAM evaluation, as for the sandbox's unrestricted harness)."""
        super().__init__(_DataPlaneHandler, host)
        self.account_id = account_id
        self.region = region
        self.agents = agents
        self.verifier = verifier or default_verifier()
        self.agent_read_timeout = agent_read_timeout
        self.keys: KeyLookup = keys or _process_credentials
        self.iam = iam
        self._http = self._agent_client()
        self._invocations: list[InvocationRecord] = []
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def _agent_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=httpx.Timeout(self.agent_read_timeout, connect=5.0), trust_env=False, follow_redirects=False
        )

    def _serve(self) -> int:
        if self._http.is_closed:  # restarted after stop()
            self._http = self._agent_client()
        return super()._serve()

    def stop(self) -> None:
        super().stop()
        self._http.close()

    # -- addresses -------------------------------------------------------------------------------------------

    def invocation_path(self, runtime_arn: str) -> str:
        return f"/runtimes/{urllib.parse.quote(runtime_arn, safe='')}/invocations"

    def invocation_url(self, runtime_arn: str, qualifier: str | None = DEFAULT_QUALIFIER) -> str:
        query = f"?qualifier={urllib.parse.quote(qualifier, safe='')}" if qualifier else ""
        return f"{self.base_url}{self.invocation_path(runtime_arn)}{query}"

    def resource_metadata_url(self, runtime_arn: str) -> str:
        """RFC 9728 protected-resource metadata of a runtime (named in 401 challenges)."""
        return f"{self.base_url}{PROTECTED_RESOURCE_PREFIX}{self.invocation_path(runtime_arn)}"

    # -- records ---------------------------------------------------------------------------------------------

    @property
    def invocations(self) -> list[InvocationRecord]:
        with self._lock:
            return list(self._invocations)

    def _record(self, record: InvocationRecord) -> None:
        # Called before the response is complete, so a caller that has its answer also finds it on record.
        with self._lock:
            self._invocations.append(record)
        logger.info(
            "InvokeAgentRuntime runtime=%s status=%s session=%s caller=%s (%s)",
            record.runtime_id,
            record.status,
            record.session_id,
            record.client_id or "-",
            record.reason,
        )

    def _runtime(self, runtime_arn: str) -> _RuntimeView | None:
        backend = bedrockagentcorecontrol_backends[self.account_id][self.region]
        for runtime in list(backend.agent_runtimes.values()):
            if runtime.agent_runtime_arn == runtime_arn:
                live = live_version(backend, runtime)
                config = live.configuration
                headers = (config.get("request_header_configuration") or {}).get("requestHeaderAllowlist") or []
                return _RuntimeView(
                    runtime_id=runtime.agent_runtime_id,
                    runtime_arn=runtime.agent_runtime_arn,
                    version=live.version,
                    status=live.status,
                    authorizer_configuration=config.get("authorizer_configuration") or None,
                    header_allowlist=tuple(str(h) for h in headers),
                    environment={str(k): str(v) for k, v in (config.get("environment_variables") or {}).items()},
                    artifact=copy.deepcopy(config.get("agent_runtime_artifact")),
                )
        return None

    # -- request handling ------------------------------------------------------------------------------------

    def _admit(
        self, handler: _DataPlaneHandler, runtime_arn: str, query: dict[str, str], body: bytes
    ) -> tuple[_RuntimeView, Decision]:
        runtime = self._runtime(runtime_arn)
        if runtime is None:
            raise _Refusal(404, "ResourceNotFoundException", f"No agent runtime found with ARN {runtime_arn}")
        try:
            return runtime, self._authorize(handler, runtime, query, body)
        except _Refusal as refusal:
            refusal.runtime_id, refusal.version = runtime.runtime_id, runtime.version
            raise

    def _authorize(
        self, handler: _DataPlaneHandler, runtime: _RuntimeView, query: dict[str, str], body: bytes
    ) -> Decision:
        runtime_arn = runtime.runtime_arn
        qualifier = query.get("qualifier", DEFAULT_QUALIFIER)
        if qualifier != DEFAULT_QUALIFIER:
            raise _Refusal(404, "ResourceNotFoundException", f"No endpoint {qualifier} for runtime {runtime_arn}")
        # Whatever the authorizer: with two credentials one could be verified and the other forwarded to the agent.
        authorizations = handler.headers.get_all("Authorization") or []
        ambiguous = ambiguous_authorization(authorizations)
        if ambiguous is not None:
            raise _Refusal(403, "AccessDeniedException", f"OAuth authorization failed: {ambiguous.reason}")
        # Only the header counts: a token in the query string (?access_token=) is never read.
        authorization = (authorizations[0] if authorizations else "").strip()
        scheme = authorization.partition(" ")[0]
        if not runtime.authorizer_configuration:
            decision = self._authorize_iam(handler, runtime, qualifier, authorization, body)
        elif scheme == SIGV4_SCHEME:  # a CUSTOM_JWT runtime takes bearer tokens only
            raise _Refusal(403, "AccessDeniedException", METHOD_MISMATCH)
        else:
            decision = self.verifier.verify(
                authorization or None, runtime.authorizer_configuration, self.resource_metadata_url(runtime_arn)
            )
        if decision.status == 401:
            challenge = {"WWW-Authenticate": decision.www_authenticate} if decision.www_authenticate else {}
            raise _Refusal(401, "UnauthorizedException", f"Authentication required: {decision.reason}", challenge)
        if not decision.allowed:
            raise _Refusal(403, "AccessDeniedException", f"OAuth authorization failed: {decision.reason}")
        # Authorization first: an unauthenticated caller learns nothing about the runtime's state or the request.
        # Nothing live yet (a new runtime's DEFAULT endpoint is CREATING) is the only state that cannot answer: while
        # an update is rolled out, DEFAULT keeps serving the version that is live.
        if runtime.version is None:
            raise _Refusal(
                409, "RetryableConflictException", f"Agent runtime {runtime.runtime_id} endpoint is {runtime.status}"
            )
        session_id = handler.headers.get(SESSION_HEADER) or ""
        low, high = SESSION_ID_LENGTH
        if not low <= len(session_id) <= high:
            raise _Refusal(400, "ValidationException", f"{SESSION_HEADER} must be {low}-{high} characters long")
        return decision

    def _authorize_iam(
        self, handler: _DataPlaneHandler, runtime: _RuntimeView, qualifier: str, authorization: str, body: bytes
    ) -> Decision:
        """A runtime without an authorizer takes SigV4 (IAM) calls only: signed by a key the account knows, and the
        signer allowed bedrock-agentcore:InvokeAgentRuntime on the endpoint by its identity-based policies."""
        scheme = authorization.partition(" ")[0]
        if not authorization:
            raise _Refusal(403, "MissingAuthenticationTokenException", MISSING_AUTHENTICATION)
        if scheme.lower() == "bearer":
            raise _Refusal(403, "AccessDeniedException", METHOD_MISMATCH)
        try:
            key = verify_sigv4(
                "POST",
                f"http://{handler.headers.get('Host') or self.host}{handler.path}",
                {name: value for name, value in reversed(handler.headers.items())},  # first value of each name
                authorization,
                body,
                self.region,
                SIGNING_SERVICE,
                self.keys,
            )
        except SigV4Refusal as refusal:
            raise _Refusal(refusal.status, refusal.error_type, refusal.message) from None
        caller = self._iam_caller(key, runtime.runtime_arn, qualifier)
        return Decision(200, "SigV4 caller", claims={"sub": caller})

    def _iam_caller(self, key: SigningKey, runtime_arn: str, qualifier: str) -> str:
        """The caller's ARN once IAM allows it InvokeAgentRuntime (a denial is AWS's AccessDeniedException)."""
        if key.principal is None:
            return f"arn:aws:iam::{self.account_id}:root"  # the account's own credentials: unrestricted
        if self.iam is not None:
            from sandbox.iam.enforcement import denial_message
            from sandbox.iam.requests import api_call

            params = {"agentRuntimeArn": runtime_arn, "qualifier": qualifier}
            call = api_call(_data_plane_model(), "InvokeAgentRuntime", params, self.region, key.principal.account)
            denial = self.iam.authorize_call(key.principal, call)
            if denial is not None and self.iam.enforce:
                raise _Refusal(403, "AccessDeniedException", denial_message(key.principal, *denial))
        return key.principal.assumed_role_arn

    def _forward_headers(self, handler: _DataPlaneHandler, runtime: _RuntimeView, request_id: str) -> dict[str, str]:
        allowed = {name.lower() for name in runtime.header_allowlist}
        headers = {
            SESSION_HEADER: handler.headers.get(SESSION_HEADER) or "",
            REQUEST_ID_HEADER: request_id,
            "Content-Type": handler.headers.get("Content-Type") or "application/json",
            "Accept": handler.headers.get("Accept") or "*/*",
        }
        always = {name.lower() for name in headers}
        for name, value in handler.headers.items():
            lowered = name.lower()
            if lowered in allowed and lowered not in _NEVER_FORWARD and lowered not in always:
                headers[name] = value
        return headers

    def handle_invocation(self, handler: _DataPlaneHandler, raw_arn: str, query: dict[str, str], body: bytes) -> None:
        runtime_arn = urllib.parse.unquote(raw_arn)
        request_id = str(uuid.uuid4())
        session_id = handler.headers.get(SESSION_HEADER)
        try:
            runtime, decision = self._admit(handler, runtime_arn, query, body)
        except _Refusal as refusal:
            self._record(
                InvocationRecord(
                    time.time(),
                    runtime_arn,
                    refusal.runtime_id,
                    refusal.status,
                    session_id,
                    None,
                    refusal.message,
                    request_id,
                    version=refusal.version,
                )
            )
            handler.send_error_json(refusal.status, refusal.error_type, refusal.message, refusal.headers, request_id)
            return

        def record(status: int, reason: str, forwarded: tuple[str, ...] = (), streamed: int = 0) -> None:
            self._record(
                InvocationRecord(
                    time.time(),
                    runtime_arn,
                    runtime.runtime_id,
                    status,
                    session_id,
                    decision.client_id,
                    reason,
                    request_id,
                    forwarded,
                    streamed,
                    runtime.version,
                )
            )

        try:
            agent_url = self.agents.get(runtime.runtime_id, runtime.environment, runtime.artifact)
        except AgentStartError as exc:
            logger.error("Agent for runtime %s failed to start: %s", runtime.runtime_id, str(exc).splitlines()[0])
            message = RUNTIME_START_FAILURE
            record(424, message)
            handler.send_error_json(424, "RuntimeClientError", message, {}, request_id)
            return

        headers = self._forward_headers(handler, runtime, request_id)
        forwarded = tuple(sorted(headers))
        try:
            with self._http.stream("POST", f"{agent_url}/invocations", content=body, headers=headers) as response:
                if response.status_code >= 400:
                    message = f"The agent answered HTTP {response.status_code}"
                    record(424, message, forwarded)
                    handler.send_error_json(424, "RuntimeClientError", message, {}, request_id)
                    return
                streamed = handler.stream_response(response, request_id)
        except httpx.HTTPError as exc:
            # Before the first byte we can still answer with an error; after it, the connection is cut.
            if not handler.response_started:
                message = f"The agent could not be reached ({type(exc).__name__})"
                record(424, message, forwarded)
                handler.send_error_json(424, "RuntimeClientError", message, {}, request_id)
            else:
                handler.close_connection = True
                record(200, f"agent stream broke off ({type(exc).__name__})", forwarded)
            return
        except OSError as exc:
            handler.close_connection = True
            record(200, f"caller went away mid-stream ({type(exc).__name__})", forwarded)
            return
        record(response.status_code, "streamed", forwarded, streamed)
        try:
            handler.finish_stream()
        except OSError:
            handler.close_connection = True

    def protected_resource_metadata(self, raw_arn: str) -> dict[str, Any] | None:
        runtime_arn = urllib.parse.unquote(raw_arn)
        runtime = self._runtime(runtime_arn)
        if runtime is None or not runtime.authorizer_configuration:
            return None
        discovery = str((runtime.authorizer_configuration.get("customJWTAuthorizer") or {}).get("discoveryUrl", ""))
        issuer = discovery.removesuffix("/.well-known/openid-configuration")
        return {
            "resource": f"{self.base_url}{self.invocation_path(runtime_arn)}",
            "authorization_servers": [issuer] if issuer else [],
            "bearer_methods_supported": ["header"],
        }


def _process_credentials(access_key: str) -> SigningKey | None:
    """Without a key registry: the process's own credentials (the harness's), read at request time, unrestricted."""
    if access_key and access_key == os.environ.get("AWS_ACCESS_KEY_ID"):
        return SigningKey(os.environ.get("AWS_SECRET_ACCESS_KEY", ""), os.environ.get("AWS_SESSION_TOKEN"), None)
    return None


_MODEL: list[Any] = []


def _data_plane_model() -> Any:
    """botocore's bedrock-agentcore service model (loaded once: it names the IAM action and its resource)."""
    if not _MODEL:
        _MODEL.append(botocore.session.get_session().get_service_model(SIGNING_SERVICE))
    return _MODEL[0]


class _DataPlaneHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxAgentCoreRuntime"
    timeout = 60  # idle keep-alive connections must not pin handler threads forever
    response_started = False

    @property
    def dataplane(self) -> RuntimeDataPlane:
        owner: RuntimeDataPlane = owner_of(self)
        return owner

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines may carry a query string with a token in it (?access_token=...): never log one.
        logger.debug(
            "dataplane %s - %s", self.address_string(), _QUERY_STRING.sub("?<query not logged>", format % args)
        )

    # -- responses -------------------------------------------------------------------------------------------

    def send_error_json(
        self, status: int, error_type: str, message: str, headers: dict[str, str], request_id: str
    ) -> None:
        payload = json.dumps({"__type": error_type, "message": message}).encode()
        self.response_started = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("x-amzn-RequestId", request_id)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def stream_response(self, response: httpx.Response, request_id: str) -> int:
        """Relay the agent's answer as it arrives (chunked), keeping its content type. Returns bytes relayed.

        The terminating chunk is left to finish_stream(), so the invocation is on record before the caller can
        see the response end.
        """
        self.response_started = True
        self.send_response(response.status_code)
        self.send_header("Content-Type", response.headers.get("content-type", "application/octet-stream"))
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header(SESSION_HEADER, self.headers.get(SESSION_HEADER) or "")
        self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        total = 0
        for chunk in response.iter_bytes():
            if not chunk:
                continue
            self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
            total += len(chunk)
        return total

    def finish_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- requests --------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        body = bytearray()
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > MAX_PAYLOAD_BYTES:
                return None
            body.extend(self.rfile.read(size))
            self.rfile.readline(1024)

    def do_POST(self) -> None:
        self.response_started = False  # one handler serves every request of a keep-alive connection
        parts = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        request_id = str(uuid.uuid4())
        if body is None:
            self.close_connection = True
            self.send_error_json(413, "ValidationException", "Payload too large", {}, request_id)
            return
        match = _INVOCATION_PATH.match(parts.path)
        if match is None:
            self.send_error_json(404, "UnknownOperationException", f"No operation at {parts.path}", {}, request_id)
            return
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.dataplane.handle_invocation(self, match.group("arn"), query, body)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith(PROTECTED_RESOURCE_PREFIX):
            match = _INVOCATION_PATH.match(path.removeprefix(PROTECTED_RESOURCE_PREFIX))
            metadata = self.dataplane.protected_resource_metadata(match.group("arn")) if match else None
            if metadata is not None:
                self._send_json(200, metadata)
                return
        self._send_json(404, {"message": "Not found"})
