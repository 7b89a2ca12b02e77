"""Helpers shared by the security suite (a plain module: `conftest` is not importable by name across test dirs)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sandbox.core import Sandbox
from sandbox.loopback import HTTPLoopbackServer, owner_of

if TYPE_CHECKING:
    from tests.security.helpers.jwt_attacks import AttackResult

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
RESOURCE_SERVER = "customersupport"
SCOPE = f"{RESOURCE_SERVER}/invoke"
# The sandbox suite's stand-in agent: same HTTP contract as agent/main.py, logs only whether a token was present.
STANDIN_AGENT = Path(__file__).resolve().parents[2] / "sandbox" / "standin_agent.py"


@dataclass(frozen=True)
class Secured:
    """The secured resources under attack and the allowed caller (its token is never printed)."""

    pool_id: str
    client_id: str
    token: str = field(repr=False)  # pytest shows fixture values of failing tests
    authorizer: dict[str, Any]
    runtime_id: str
    runtime_arn: str
    gateway_id: str


class LogRecords(logging.Handler):
    """Every log record of the module's run (the sandbox's, uvicorn's, the MCP SDK's), formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


PREFIX = "/app/customersupport/agentcore"


# --- the table ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    category: str
    case: str
    expected: str
    observed: str
    ok: bool


ROWS: list[Row] = []


def record(category: str, case: str, expected: str, observed: str, ok: bool) -> bool:
    """Add one attack's outcome to the suite's table (printed at the end of the run). Names and codes only."""
    ROWS.append(Row(category, case, expected, observed, ok))
    return ok


def record_attacks(category: str, rows: Sequence[AttackResult]) -> None:
    """The JWT catalog's results into the suite's table (attack names and status codes; never a token)."""
    for row in rows:
        expected = "/".join(str(status) for status in sorted(row.expected))
        record(category, f"{row.target}: {row.attack}", expected, str(row.observed), row.matched)


def format_rows(rows: list[Row]) -> str:
    header = ("category", "attack", "expected", "observed", "result")
    lines = [(r.category, r.case, r.expected, r.observed, "ok" if r.ok else "MISS") for r in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    rendered = [" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in lines]
    rule = "-+-".join("-" * width for width in widths)
    title = " | ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    missed = sum(not r.ok for r in rows)
    return "\n".join([title, rule, *rendered, rule, f"{len(rows)} attacks, {missed} missed"])


# --- the attacker ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttackerRequest:
    """What reached the attacker. Header names only: if a secret ever arrives, it must not be printed either."""

    method: str
    path: str
    header_names: tuple[str, ...]
    body_bytes: int


class AttackerServer(HTTPLoopbackServer):
    """An outside party on loopback: an OAuth token endpoint and an OIDC issuer with its own signing key."""

    label = "attacker"
    thread_name = "attacker"

    def __init__(self) -> None:
        super().__init__(_AttackerHandler)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"attacker-{uuid.uuid4().hex[:8]}"
        self.requests: list[AttackerRequest] = []
        self._lock = threading.Lock()

    def issuer(self, pool_id: str) -> str:
        return f"{self.base_url}/{pool_id}"

    def discovery_url(self, pool_id: str) -> str:
        return f"{self.issuer(pool_id)}/.well-known/openid-configuration"

    def token_for(self, pool_id: str, client_id: str, scope: str) -> str:
        """A token that looks like the victim pool's, signed by the attacker's key for the attacker's issuer."""
        now = int(time.time())
        claims = {
            "sub": client_id,
            "client_id": client_id,
            "token_use": "access",
            "scope": scope,
            "iss": self.issuer(pool_id),
            "iat": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def received(self) -> list[AttackerRequest]:
        with self._lock:
            return list(self.requests)

    def _note(self, request: AttackerRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _AttackerHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def attacker(self) -> AttackerServer:
        attacker: AttackerServer = owner_of(self)
        return attacker

    def _answer(self, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _note(self) -> int:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.attacker._note(AttackerRequest(self.command, self.path, tuple(self.headers.keys()), length))
        return length

    def do_GET(self) -> None:
        self._note()
        attacker = self.attacker
        if self.path.endswith("/.well-known/openid-configuration"):
            issuer = f"{attacker.base_url}{self.path.removesuffix('/.well-known/openid-configuration')}"
            self._answer({"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json"})
        elif self.path.endswith("/.well-known/jwks.json"):
            jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(attacker.key.public_key()))
            jwk.update({"kid": attacker.kid, "alg": "RS256", "use": "sig"})
            self._answer({"keys": [jwk]})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        self._note()
        # A token endpoint that accepts anything: had a secret arrived, the flow would have gone on.
        self._answer({"access_token": "x.y.z", "token_type": "Bearer", "expires_in": 3600})


@contextmanager
def attacker_server() -> Iterator[AttackerServer]:
    with AttackerServer() as server:
        yield server


# --- rollouts -------------------------------------------------------------------------------------------------


def start_raw(sandbox: Sandbox, execution_input: Any) -> str:
    """StartExecution with exactly this JSON input (any JSON value, as the API allows)."""
    response = sandbox.client("stepfunctions").start_execution(
        stateMachineArn=sandbox.deployment.state_machine_arn,
        name=f"security-{uuid.uuid4().hex[:12]}",
        input=json.dumps(execution_input),
    )
    return str(response["executionArn"])


def drain(sandbox: Sandbox, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Wait for every execution EventBridge started so far (they run one at a time); their descriptions."""
    return [sandbox.wait(arn, timeout=timeout) for arn in list(sandbox.events.started_executions)]


def put_parameter(sandbox: Sandbox, name: str, value: str) -> list[dict[str, Any]]:
    """Write a parameter under the prefix (as anyone with ssm:PutParameter there can) and wait for the rollout
    that EventBridge starts for the change; returns the executions it started."""
    before = len(sandbox.events.started_executions)
    sandbox.client("ssm").put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String", Overwrite=True)
    started = sandbox.events.started_executions[before:]
    return [sandbox.wait(arn) for arn in started]


def status_events(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The execution status messages (RolloutStatusRule's, from the status-change events) the notification topic
    delivered since the last call."""
    return [n for n in sandbox.notifications() if n.get("kind") == "rolloutStatus"]
