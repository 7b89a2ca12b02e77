"""A catalog of JWT attacks on a CUSTOM_JWT-protected AgentCore runtime and gateway, and a runner for both planes.

`build_catalog` takes a genuine access token of the allowed client and the sandbox CognitoServer (which signs with
the pool's real key, and with a foreign key under the same kid) and returns named attacks: the Authorization
header(s) and query to send, and the statuses that count as the expected answer. `run_against_runtime` and
`run_against_gateway` send every attack to one resource and return one row per attack; `print_table` shows them.
Rows, tables and attack reprs hold attack names and status codes only: never token text.

Expected statuses, and why:
- the genuine token (the control): 200;
- no bearer token at all: 401 with a WWW-Authenticate challenge. AgentCore answers a request without a token with
  401 (see docs/reference: "No token -> 401"), and RFC 6750 3.1 treats a request that presents no bearer token the
  same way. The sandbox counts as "no token": no Authorization header, `Bearer` with nothing after it, another
  scheme (Basic), and a token only in the query string (never read: AgentCore takes bearer tokens from the header);
- everything else: 403, the status AgentCore is observed to give an invalid token (401 is also reported; the
  sandbox picks 403 for every token it was given and refuses, malformed or not, so a client can tell "get a token"
  from "this token will never work"). Ambiguous credentials (two Authorization headers, two credentials joined by
  a comma) are 403 too: a credential was presented, and the request is refused rather than one of them guessed.

Scope attacks expect 403 only where the authorizer has allowedScopes (`enforces_scope=True`); without it a token's
scope is not checked and they expect 200 (the row then documents that the resource does not check scopes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from sandbox.cognito import CognitoServer
from sandbox.jwt_verify import MAX_TOKEN_CHARS
from sandbox.runtime_dataplane import SESSION_HEADER
from tests import rollout_checks

RUNTIME = "runtime"
GATEWAY = "gateway"
ACCEPTED = frozenset({200})
NO_TOKEN = frozenset({401})
REFUSED = frozenset({403})
ATTACKER_URL = "https://attacker.invalid"  # .invalid never resolves: nothing could be fetched even if followed
DEFAULT_TIMEOUT = 60.0  # the control starts an agent process on first use

Header = tuple[str, str]


@dataclass(frozen=True)
class Attack:
    """One request shape and the statuses that count as the right answer. Its repr never shows the credentials."""

    name: str
    expected: frozenset[int]
    why: str
    headers: tuple[Header, ...] = field(default=(), repr=False)  # Authorization-related headers, in order
    query: tuple[Header, ...] = field(default=(), repr=False)  # extra query parameters

    def secrets(self) -> set[str]:
        """The token-like text this attack sends (for leak scans): whole values and their signature segments."""
        found: set[str] = set()
        for _, value in (*self.headers, *self.query):
            for credential in value.replace(",", " ").split():
                if len(credential) >= 20:  # schemes and short junk are no secret
                    found.add(credential)
                    signature = credential.rsplit(".", 1)[-1]
                    if len(signature) >= 20:
                        found.add(signature)
        return found


@dataclass(frozen=True)
class AttackResult:
    """One attack against one target: what was expected and what came back (a status, or no answer at all)."""

    attack: str
    target: str
    expected: frozenset[int]
    observed: int | None
    failure: str | None = None  # exception type when the request got no HTTP answer
    request_id: str | None = None  # the plane's x-amzn-RequestId, to find the request in its records
    session_id: str | None = None  # runtime requests only

    @property
    def matched(self) -> bool:
        return self.observed in self.expected


# -- building tokens -------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: Any) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _hmac_sha256_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    # By hand: PyJWT rightly refuses a PEM public key as an HMAC secret, which is exactly the attack.
    signing_input = f"{_b64json(header)}.{_b64json(claims)}"
    return f"{signing_input}.{_b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _public_pem(cognito: CognitoServer) -> bytes:
    public_key = RSAAlgorithm.from_jwk(json.dumps(cognito.jwks()["keys"][0]))
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise TypeError("the pool's JWKS does not hold an RSA public key")
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _flip_one_byte(signature: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return _b64url(bytes(raw))


def _other_scope(scope: str) -> str:
    resource_server, _, name = scope.rpartition("/")
    other = "admin" if name != "admin" else "other"
    return f"{resource_server}/{other}" if resource_server else other


def _bearer(token: str) -> tuple[Header, ...]:
    return (("Authorization", f"Bearer {token}"),)


# -- the catalog -----------------------------------------------------------------------------------------------


def build_catalog(
    genuine_token: str,
    cognito: CognitoServer,
    pool_id: str,
    client_id: str,
    scope: str,
    *,
    enforces_scope: bool = True,
) -> list[Attack]:
    """Every attack, built from a genuine access token of `client_id` (pool `pool_id`, carrying `scope`).

    `enforces_scope`: whether the target's authorizer has allowedScopes (decides what the scope attacks expect).
    """
    claims: dict[str, Any] = jwt.decode(genuine_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine_token)["kid"]
    header_segment, payload_segment, signature_segment = genuine_token.split(".")
    now = int(time.time())

    def changed(**changes: Any) -> dict[str, Any]:
        """The genuine claims with changes (None removes a claim)."""
        result = dict(claims)
        for name, value in changes.items():
            if value is None:
                result.pop(name, None)
            else:
                result[name] = value
        return result

    def with_header(raw_header: bytes) -> str:
        return f"{_b64url(raw_header)}.{payload_segment}.{signature_segment}"

    forged = cognito.sign_with_foreign_key(claims)  # the allowed client's claims, an attacker's signature
    attacker_ec_key = ec.generate_private_key(ec.SECP256R1())
    oversized = cognito.sign(changed(padding="x" * 13_000))
    if len(oversized) <= MAX_TOKEN_CHARS:
        raise AssertionError("the oversized token is not over the verifier's limit")
    scope_expected, scope_why = (
        (REFUSED, "allowedScopes needs one of its scopes in the token's scope claim")
        if enforces_scope
        else (ACCEPTED, "the authorizer has no allowedScopes: a token's scope is not checked")
    )
    basic = base64.b64encode(f"{client_id}:guessed-secret".encode()).decode()
    sigv4 = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock-agentcore/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
    )

    def token(name: str, value: str, why: str, expected: frozenset[int] = REFUSED) -> Attack:
        return Attack(name, expected, why, _bearer(value))

    return [
        # -- the control and "no token" ---------------------------------------------------------------------
        token("valid token (control)", genuine_token, "the allowed client's genuine token", ACCEPTED),
        Attack("no token", NO_TOKEN, "no Authorization header: 401 with a challenge"),
        Attack("empty Bearer", NO_TOKEN, "'Bearer' with no token is no token", (("Authorization", "Bearer"),)),
        Attack(
            "wrong scheme (Basic)",
            NO_TOKEN,
            "not a bearer credential: counted as no token, 401 with a challenge",
            (("Authorization", f"Basic {basic}"),),
        ),
        Attack(
            "token in query string only (access_token)",
            NO_TOKEN,
            "query-string tokens are never read",
            query=(("access_token", genuine_token),),
        ),
        Attack(
            "token in query string only (token)",
            NO_TOKEN,
            "query-string tokens are never read",
            query=(("token", genuine_token),),
        ),
        # -- algorithm confusion ----------------------------------------------------------------------------
        token(
            "alg none (signature kept)",
            f"{_b64json({'alg': 'none', 'kid': kid})}.{payload_segment}.{signature_segment}",
            "only RS256 is accepted",
        ),
        token(
            "alg none, signature stripped",
            f"{_b64json({'alg': 'none', 'kid': kid})}.{payload_segment}.",
            "an unsigned token is no compact JWS here",
        ),
        token("alg None (case variant)", cognito.sign(claims, {"alg": "None"}), "only RS256 is accepted"),
        token(
            "HS256 keyed with the RSA public key PEM",
            _hmac_sha256_token({"alg": "HS256", "kid": kid}, claims, _public_pem(cognito)),
            "HS/RS confusion: only RS256 is accepted",
        ),
        token(
            "HS256 with a guessed secret",
            _hmac_sha256_token({"alg": "HS256", "kid": kid}, claims, b"secret"),
            "only RS256 is accepted",
        ),
        token(
            "ES256 signed by an attacker EC key",
            jwt.encode(claims, attacker_ec_key, algorithm="ES256", headers={"kid": kid}),
            "only RS256 is accepted",
        ),
        token(
            "PS256 header over a real RS256 signature",
            cognito.sign(claims, {"alg": "PS256"}),
            "the header's alg must be RS256, even over a valid signature",
        ),
        # -- keys -------------------------------------------------------------------------------------------
        token("RS256 by a foreign key, same kid", forged, "signature does not verify with the published key"),
        token("unknown kid", cognito.sign(claims, {"kid": "attacker-key-1"}), "kid not in the issuer's JWKS"),
        token("missing kid", cognito.sign(claims, {"kid": None}), "a token must name its key"),
        token("non-string kid", cognito.sign(claims, {"kid": 7}), "kid must be a string"),
        token(
            "jku pointing to attacker JWKS",
            cognito.sign_with_foreign_key(claims, {"jku": f"{ATTACKER_URL}/.well-known/jwks.json"}),
            "jku is refused, never followed",
        ),
        token(
            "x5u pointing to attacker certificate",
            cognito.sign_with_foreign_key(claims, {"x5u": f"{ATTACKER_URL}/cert.pem"}),
            "x5u is refused, never followed",
        ),
        token(
            "embedded jwk (attacker key)",
            cognito.sign_with_foreign_key(claims, {"jwk": cognito.foreign_jwk()}),
            "an embedded key is refused, never used",
        ),
        token(
            "crit header (real key)",
            cognito.sign(claims, {"crit": ["urn:attacker:ext"], "urn:attacker:ext": True}),
            "no JWS extension is supported",
        ),
        # -- signature tampering ----------------------------------------------------------------------------
        token("stripped signature", f"{header_segment}.{payload_segment}.", "no signature, no token"),
        token(
            "truncated signature",
            f"{header_segment}.{payload_segment}.{signature_segment[:-12]}",
            "signature does not verify",
        ),
        token(
            "flipped signature byte",
            f"{header_segment}.{payload_segment}.{_flip_one_byte(signature_segment)}",
            "signature does not verify",
        ),
        token(
            "payload swapped (genuine signature)",
            f"{header_segment}.{_b64json(changed(exp=now + 365 * 86400, scope=_other_scope(scope)))}"
            f".{signature_segment}",
            "the genuine signature does not cover the changed claims",
        ),
        # -- claims -----------------------------------------------------------------------------------------
        token(
            "wrong issuer",
            cognito.sign(changed(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Attacker1")),
            "iss must be the discovery document's issuer",
        ),
        token(
            "other pool's issuer (same host)",
            cognito.sign(changed(iss=cognito.issuer(f"{pool_id.split('_')[0]}_OtherPool1"))),
            "a token of another pool of the same Cognito is not this pool's",
        ),
        token(
            "claims are a JSON array (real key)",
            cognito.sign([claims]),
            "the payload must be a JSON object, whoever signed it",
        ),
        token("expired", cognito.sign(changed(iat=now - 3720, exp=now - 120)), "exp is past (beyond leeway)"),
        token("nbf in the future", cognito.sign(changed(nbf=now + 3600)), "not valid yet"),
        token("iat in the future", cognito.sign(changed(iat=now + 3600)), "issued in the future (beyond leeway)"),
        token("missing exp", cognito.sign(changed(exp=None)), "exp is required"),
        token(
            "wrong client_id",
            cognito.sign(changed(client_id="attacker-client", sub="attacker-client")),
            "client_id must be in allowedClients",
        ),
        token("missing client_id", cognito.sign(changed(client_id=None)), "client_id must be in allowedClients"),
        token(
            "id token (token_use=id, with aud)",
            cognito.sign(changed(token_use="id", aud=client_id)),
            "only access tokens are accepted",
        ),
        token("token_use missing", cognito.sign(changed(token_use=None)), "only access tokens are accepted"),
        token("wrong scope", cognito.sign(changed(scope=_other_scope(scope))), scope_why, scope_expected),
        token("no scope claim", cognito.sign(changed(scope=None)), scope_why, scope_expected),
        token("empty scope", cognito.sign(changed(scope="")), scope_why, scope_expected),
        # -- ambiguous credentials --------------------------------------------------------------------------
        Attack(
            "duplicate Authorization (genuine, forged)",
            REFUSED,
            "two Authorization headers: one could be verified and the other forwarded",
            (("Authorization", f"Bearer {genuine_token}"), ("Authorization", f"Bearer {forged}")),
        ),
        Attack(
            "duplicate Authorization (forged, genuine)",
            REFUSED,
            "two Authorization headers, whatever their order and case",
            (("Authorization", f"Bearer {forged}"), ("authorization", f"Bearer {genuine_token}")),
        ),
        Attack(
            "duplicate Authorization (genuine twice)",
            REFUSED,
            "two Authorization headers, even if both are genuine",
            (("Authorization", f"Bearer {genuine_token}"), ("AUTHORIZATION", f"Bearer {genuine_token}")),
        ),
        Attack(
            "comma-joined credentials (genuine, forged)",
            REFUSED,
            "one header joining two credentials",
            (("Authorization", f"Bearer {genuine_token}, Bearer {forged}"),),
        ),
        Attack(
            "SigV4 on a JWT resource",
            REFUSED,
            "AgentCore: AccessDeniedException, Authorization method mismatch",
            (("Authorization", sigv4),),
        ),
        # -- malformed tokens -------------------------------------------------------------------------------
        token("oversized token (>16 KB, real key)", oversized, f"over {MAX_TOKEN_CHARS} characters"),
        token("garbage (not a JWT)", "not-a-jwt-at-all", "not a compact JWS"),
        token("2-segment token", f"{header_segment}.{payload_segment}", "not a compact JWS"),
        token("4-segment token", f"{genuine_token}.{signature_segment}", "not a compact JWS"),
        token("non-JSON header", with_header(b"alg=RS256"), "the header must be a JSON object"),
        token("header is a JSON array", with_header(b'["RS256"]'), "the header must be a JSON object"),
        token(
            "duplicate alg member in header",
            with_header(json.dumps({"kid": kid}).encode()[:-1] + b', "alg": "none", "alg": "RS256"}'),
            "parsers disagree on duplicates: refused",
        ),
        token(
            "deeply nested JSON header",
            with_header(b'{"alg":"RS256","kid":"' + kid.encode() + b'","x":' + b"[" * 3000 + b"]" * 3000 + b"}"),
            "the header must parse",
        ),
        Attack(
            "Bearer with trailing junk",
            REFUSED,
            "a bearer credential that is not exactly one token",
            (("Authorization", f"Bearer {genuine_token} junk"),),
        ),
        token(
            "unicode in token",
            f"{header_segment}.{payload_segment}\u00e9.{signature_segment}",
            "not base64url",
        ),
    ]


def catalog_secrets(catalog: Sequence[Attack]) -> set[str]:
    """Every token-like string the catalog sends, for scanning logs and records."""
    return set().union(*(attack.secrets() for attack in catalog))


# -- running it ------------------------------------------------------------------------------------------------


def _with_query(url: str, query: Sequence[Header]) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(query)}"


def _send(
    http: httpx.Client,
    attack: Attack,
    target: str,
    url: str,
    headers: list[Header],
    body: bytes,
    session_id: str | None = None,
) -> AttackResult:
    # Bytes on the wire as given (UTF-8 for the unicode attack); a list keeps duplicate headers and their case.
    raw_headers = [(name.encode(), value.encode()) for name, value in (*headers, *attack.headers)]
    try:
        response = http.post(_with_query(url, attack.query), headers=raw_headers, content=body)
    except httpx.HTTPError as exc:  # no HTTP answer (a dropped connection): a miss, reported by type only
        return AttackResult(attack.name, target, attack.expected, None, type(exc).__name__, None, session_id)
    return AttackResult(
        attack.name,
        target,
        attack.expected,
        response.status_code,
        None,
        response.headers.get("x-amzn-requestid"),
        session_id,
    )


def run_against_runtime(
    catalog: Sequence[Attack],
    invocation_url: str,
    *,
    http: httpx.Client | None = None,
    prompt: str = "hello",
) -> list[AttackResult]:
    """InvokeAgentRuntime with every attack: POST `invocation_url` (…/runtimes/<quoted ARN>/invocations?qualifier=
    DEFAULT) with a fresh 33+ character session id per attack (kept on the row) and a JSON {"prompt": ...} body."""
    with _client(http) as client:
        rows = []
        for attack in catalog:
            session_id = f"jwt-attack-session-{uuid.uuid4().hex}"  # 51 characters: inside AgentCore's 33-256
            headers = [
                ("Content-Type", "application/json"),
                ("Accept", "text/event-stream, application/json"),
                (SESSION_HEADER, session_id),
            ]
            body = json.dumps({"prompt": prompt}).encode()
            rows.append(_send(client, attack, RUNTIME, invocation_url, headers, body, session_id))
        return rows


def mcp_initialize(client_name: str) -> bytes:
    """The JSON-RPC body of an MCP `initialize` request (the first thing any MCP client sends a gateway)."""
    return json.dumps(rollout_checks.mcp_initialize(client_name)).encode()


MCP_HEADERS = (("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"))


def run_against_gateway(
    catalog: Sequence[Attack], mcp_url: str, *, http: httpx.Client | None = None
) -> list[AttackResult]:
    """MCP `initialize` with every attack: POST the gateway's `mcp_url` (…/mcp) a JSON-RPC initialize request."""
    body = mcp_initialize("jwt-attack-catalog")
    headers = list(MCP_HEADERS)
    with _client(http) as client:
        return [_send(client, attack, GATEWAY, mcp_url, headers, body) for attack in catalog]


@contextmanager
def _client(http: httpx.Client | None) -> Iterator[httpx.Client]:
    """The caller's client as is (left open), or a fresh one that never uses a proxy (closed afterwards)."""
    if http is not None:
        yield http
        return
    with httpx.Client(timeout=DEFAULT_TIMEOUT, trust_env=False, follow_redirects=False) as own:
        yield own


# -- reporting -------------------------------------------------------------------------------------------------


def misses(rows: Sequence[AttackResult]) -> list[AttackResult]:
    return [row for row in rows if not row.matched]


def format_table(rows: Sequence[AttackResult]) -> str:
    """An aligned text table: attack, target, expected, observed, verdict. Names and status codes only."""
    titles = ("attack", "target", "expected", "observed", "result")
    cells = [
        (
            row.attack,
            row.target,
            "|".join(str(status) for status in sorted(row.expected)),
            str(row.observed) if row.observed is not None else f"no answer ({row.failure})",
            "ok" if row.matched else "MISS",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [titles, *cells]) for i in range(len(titles))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()

    missed = len(misses(rows))
    footer = f"{len(rows)} requests, {len(rows) - missed} as expected, {missed} missed"
    return "\n".join([line(titles), line(["-" * width for width in widths]), *map(line, cells), footer])


def print_table(rows: Sequence[AttackResult], title: str | None = None) -> None:
    if title:
        print(f"\n{title}")
    print(format_table(rows))
