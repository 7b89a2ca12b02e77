"""Bearer-token checks of an AgentCore CUSTOM_JWT authorizer, for the sandbox's data planes.

`verify_bearer` takes the Authorization header of one request and the authorizer record of the resource as the
control plane holds it *now* (`{"customJWTAuthorizer": {...}}` or None) and decides 200 / 401 / 403 the way
AgentCore does: no token -> 401 with a `WWW-Authenticate` pointing at the protected-resource metadata; a token that
fails any check -> 403. Keys come from the issuer over real HTTP (discovery document -> jwks_uri); only those
documents are cached (briefly, by URL). The authorizer configuration is never cached: callers pass the live record.

What counts as "no token" (401): no Authorization header, an empty one, a scheme other than Bearer (Basic, a bare
value), `Bearer` with nothing after it. A token in the query string (`?access_token=` / `?token=`) is never read:
such a request has no token. Everything else that is not a valid token is 403, and so is anything the verifier
cannot make sense of: a malformed token (not three base64url segments, a header that is not a JSON object, a
duplicated header member), an algorithm other than RS256 (`none`, HS256 — also with the public key as HMAC secret
— ES256, PS256, ...), a `crit` or `b64` header member (no JWS extension is supported), a header naming its own key
source (`jku`, `x5u`, `jwk`, `x5c`: never followed — keys come only from the issuer's JWKS), `enc`/`zip`, a kid that
is missing, not a string or too long, a token over MAX_TOKEN_CHARS, an Authorization header joining two credentials
(`Bearer a, Bearer b`), and Bearer credentials with trailing junk. A verifier bug fails closed too: any unexpected
exception becomes a 403 with a fixed reason, logged with its exception type only.

Claim rules of the authorizer: `allowedClients` is checked against `client_id`; `allowedAudience` against `aud` (a
string or a list of strings); `allowedScopes` against the space-separated `scope` claim with *any-of* semantics —
one allowed scope in the token suffices (the list names scopes that may call, not scopes every caller needs), and a
token with no `scope` claim, an empty one, a non-string one or only other scopes is refused; `customClaims` as
AgentCore documents them. Tokens must be access tokens (`token_use` = access) with `iss` and `exp`.

`ambiguous_authorization` is the data planes' first check, whatever the resource's authorizer: more than one
Authorization header (any case, any combination), or one header joining two credentials, is refused with 403 so
that the credential that is verified is always the one that is forwarded.

Reasons are safe to log and return: they never contain the token, and values taken from a token (kid, alg,
client id) appear only when short and plain.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

logger = logging.getLogger(__name__)

DEFAULT_CACHE_TTL = 60.0
DEFAULT_LEEWAY = 10
DEFAULT_HTTP_TIMEOUT = 5.0
MAX_TOKEN_CHARS = 16_384
MAX_KID_CHARS = 256
SIGV4_SCHEME = "AWS4-HMAC-SHA256"
ACCESS_TOKEN_USE = "access"
SUPPORTED_ALGORITHM = "RS256"
UNEXPECTED_FAILURE_REASON = "token could not be verified"

# Compact JWS: three non-empty base64url segments without padding (RFC 7515 section 7.1).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# A second credential after a comma: `, <auth-scheme> <credentials>` (RFC 7235 token chars). SigV4's own
# `, SignedHeaders=...` parameters do not match: there the name is followed by '=', not by a space.
_SECOND_CREDENTIAL = re.compile(r",\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]+\S")
# Values from a token appear in reasons only if they look like identifiers (no log injection, no token copies).
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:/+=@-]{1,64}")
# Header members the sandbox refuses, and why (Cognito sets none of them).
_REFUSED_HEADER_MEMBERS = {
    "crit": "critical JWS extensions are not supported",
    "b64": "unencoded payloads (b64) are not supported",
    "jku": "keys come only from the issuer's JWKS (jku is never followed)",
    "x5u": "keys come only from the issuer's JWKS (x5u is never followed)",
    "jwk": "keys come only from the issuer's JWKS (an embedded jwk is never used)",
    "x5c": "keys come only from the issuer's JWKS (an embedded x5c chain is never used)",
    "enc": "encrypted tokens (JWE) are not supported",
    "zip": "compressed tokens are not supported",
}

Fetch = Callable[[str], Any]


def shown(value: Any) -> str:
    """A value from a token, fit for a reason or a log line: itself if short and plain, else a placeholder."""
    if isinstance(value, str) and _PLAIN_VALUE.fullmatch(value):
        return repr(value)
    return f"<{type(value).__name__} not shown>"


def joins_credentials(header: str) -> bool:
    """True for one Authorization value that carries two credentials (`Bearer a, Bearer b`, `Basic x, Bearer y`)."""
    return _SECOND_CREDENTIAL.search(header) is not None


@dataclass(frozen=True)
class Decision:
    """Outcome of one authorization check. `claims` are verified claims (empty unless a token was accepted)."""

    status: int
    reason: str
    claims: dict[str, Any] = field(default_factory=dict)
    www_authenticate: str | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200

    @property
    def client_id(self) -> str | None:
        """The caller's identity for logs: `client_id` (Cognito M2M), else `sub`."""
        value = self.claims.get("client_id") or self.claims.get("sub")
        return value if isinstance(value, str) else None


class DiscoveryError(Exception):
    """The issuer's discovery document or JWKS could not be fetched or made no sense."""


class _HttpFetch:
    """GET a JSON document with one shared client (building a client per fetch costs an SSL context each time)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __call__(self, url: str) -> Any:
        with self._lock:
            if self._client is None:
                # trust_env=False: the issuer in the sandbox is on loopback; never route it through a proxy.
                self._client = httpx.Client(timeout=self._timeout, trust_env=False, follow_redirects=False)
            client = self._client
        response = client.get(url)
        response.raise_for_status()
        return response.json()


def ambiguous_authorization(values: Sequence[str]) -> Decision | None:
    """403 for a request whose Authorization is ambiguous, else None. `values`: every Authorization header it has.

    With two credentials a server may verify one and forward the other; refusing the request is the only answer
    that keeps the verified credential and the forwarded one the same.
    """
    if len(values) > 1:
        return Decision(403, f"request carries {len(values)} Authorization headers; exactly one is allowed")
    if values and joins_credentials(values[0]):
        return Decision(403, "Authorization header joins more than one credential")
    return None


class JwtVerifier:
    """Verifies bearer tokens against a CUSTOM_JWT authorizer configuration. Thread-safe."""

    def __init__(
        self,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        leeway: int = DEFAULT_LEEWAY,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
        require_token_use: str | None = ACCESS_TOKEN_USE,
        fetch: Fetch | None = None,
    ) -> None:
        self.cache_ttl = cache_ttl
        self.leeway = leeway
        self.require_token_use = require_token_use
        self._fetch: Fetch = fetch or _HttpFetch(http_timeout)
        self._documents: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        with self._lock:
            self._documents.clear()

    # -- fetching --------------------------------------------------------------------------------------------

    def _get(self, url: str, *, refresh: bool = False) -> Any:
        now = time.monotonic()
        if not refresh:
            with self._lock:
                cached = self._documents.get(url)
            if cached is not None and cached[0] > now:
                return cached[1]
        try:
            document = self._fetch(url)
        except (httpx.HTTPError, ValueError) as exc:
            raise DiscoveryError(f"GET {url} failed: {type(exc).__name__}") from None
        with self._lock:
            self._documents[url] = (now + self.cache_ttl, document)
        return document

    def _discovery(self, discovery_url: str) -> tuple[str, str]:
        document = self._get(discovery_url)
        if not isinstance(document, dict):
            raise DiscoveryError(f"{discovery_url} is not a JSON object")
        issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise DiscoveryError(f"{discovery_url} lacks issuer or jwks_uri")
        return issuer, jwks_uri

    def _signing_key(self, jwks_uri: str, kid: str) -> Any | None:
        # A kid we have not seen may be a rotated key: look again once, past the cache.
        for refresh in (False, True):
            document = self._get(jwks_uri, refresh=refresh)
            keys = document.get("keys") if isinstance(document, dict) else None
            if not isinstance(keys, list):
                raise DiscoveryError(f"{jwks_uri} is not a JWKS")
            for candidate in keys:
                if isinstance(candidate, dict) and candidate.get("kid") == kid and candidate.get("kty") == "RSA":
                    try:
                        return jwt.PyJWK(candidate, algorithm=SUPPORTED_ALGORITHM).key
                    except jwt.PyJWKError:
                        raise DiscoveryError(f"{jwks_uri} has an unusable key {shown(kid)}") from None
        return None

    # -- decision --------------------------------------------------------------------------------------------

    def verify(
        self,
        authorization_header: str | None,
        authorizer_configuration: dict[str, Any] | None,
        resource_metadata_url: str | None = None,
    ) -> Decision:
        if not authorizer_configuration:
            return Decision(200, "no authorizer configured")
        config = authorizer_configuration.get("customJWTAuthorizer")
        if not isinstance(config, dict) or not isinstance(config.get("discoveryUrl"), str):
            return Decision(403, "authorizer configuration has no customJWTAuthorizer.discoveryUrl")
        challenge = f'Bearer resource_metadata="{resource_metadata_url}"' if resource_metadata_url else "Bearer"
        try:
            return self._decide(authorization_header, config, challenge)
        except Exception as exc:
            # Fail closed. Only the exception type is logged: its message may quote what the caller sent.
            logger.warning("JWT verification failed unexpectedly (%s); request refused", type(exc).__name__)
            return Decision(403, UNEXPECTED_FAILURE_REASON)

    def _decide(self, authorization_header: str | None, config: dict[str, Any], challenge: str) -> Decision:
        header = (authorization_header or "").strip()
        if not header:
            return Decision(401, "missing bearer token", www_authenticate=challenge)
        if joins_credentials(header):
            return Decision(403, "Authorization header joins more than one credential")
        scheme, _, credentials = header.partition(" ")
        if scheme == SIGV4_SCHEME:
            return Decision(403, "Authorization method mismatch: this resource expects a bearer token")
        token = credentials.strip()
        if scheme.lower() != "bearer" or not token:
            # No bearer token presented at all: the challenge tells the caller how to get one (RFC 6750 3.1).
            return Decision(401, "Authorization header is not 'Bearer <token>'", www_authenticate=challenge)
        if len(token) > MAX_TOKEN_CHARS:
            return Decision(403, "token too large")
        if not _COMPACT_JWS.fullmatch(token):
            # A bearer credential was presented but is no JWT (junk after it, 2 or 4 segments, padding, unicode).
            return Decision(403, "malformed token: not a compact JWS (three base64url segments)")
        try:
            return self._verify_token(token, config)
        except DiscoveryError as exc:
            logger.warning("JWT authorizer cannot load keys: %s", exc)
            return Decision(403, f"authorizer could not load the issuer's keys ({exc})")

    def _verify_token(self, token: str, config: dict[str, Any]) -> Decision:
        header = _unverified_header(token)
        if header is None:
            return Decision(403, "malformed token header: not a JSON object with unique members")
        refusal = _check_header(header)
        if refusal is not None:
            return Decision(403, refusal)
        kid: str = header["kid"]

        issuer, jwks_uri = self._discovery(config["discoveryUrl"])
        key = self._signing_key(jwks_uri, kid)
        if key is None:
            return Decision(403, f"token key id {shown(kid)} is not in the issuer's JWKS")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[SUPPORTED_ALGORITHM],
                issuer=issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            return Decision(403, "token expired")
        except jwt.InvalidSignatureError:
            return Decision(403, "invalid token signature")
        except jwt.InvalidIssuerError:
            return Decision(403, f"token issuer does not match the discovery issuer {issuer}")
        except jwt.ImmatureSignatureError:
            return Decision(403, "token not yet valid")
        except jwt.MissingRequiredClaimError as exc:
            return Decision(403, f"token lacks the {exc.claim!r} claim")
        except jwt.InvalidTokenError as exc:
            return Decision(403, f"invalid token ({type(exc).__name__})")

        refusal = self._check_claims(claims, config)
        if refusal is not None:
            return Decision(403, refusal)
        return Decision(200, "token accepted", claims=claims)

    def _check_claims(self, claims: dict[str, Any], config: dict[str, Any]) -> str | None:
        """The authorizer's claim rules; returns why the token is refused, or None."""
        if self.require_token_use is not None and claims.get("token_use") != self.require_token_use:
            return f"token_use is not {self.require_token_use!r}"
        allowed_clients = config.get("allowedClients")
        client_id = claims.get("client_id")
        if allowed_clients and (not isinstance(client_id, str) or client_id not in allowed_clients):
            return f"client {shown(client_id)} is not in allowedClients"
        allowed_audience = config.get("allowedAudience")
        if allowed_audience and not _strings(claims.get("aud")) & set(allowed_audience):
            return "token audience is not in allowedAudience"
        allowed_scopes = config.get("allowedScopes")
        if allowed_scopes:
            scope = claims.get("scope")
            scopes = set(scope.split()) if isinstance(scope, str) else set()
            # Any one allowed scope suffices (the list names what may call, not what all callers need).
            if not scopes & set(allowed_scopes):
                return "token carries none of allowedScopes"
        for rule in config.get("customClaims") or []:
            refusal = _check_custom_claim(claims, rule)
            if refusal is not None:
                return refusal
        return None


def _unverified_header(token: str) -> dict[str, Any] | None:
    """The token's JOSE header, or None unless it is a JSON object without duplicate members."""
    segment = token.partition(".")[0]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw, object_pairs_hook=_unique_members)
    except (ValueError, RecursionError):  # bad base64, not UTF-8, not JSON, duplicate member, absurd nesting
        return None
    return header if isinstance(header, dict) else None


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins ({"alg": "none", "alg": "RS256"}): refuse the question.
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member in JSON object")
    return members


def _check_header(header: dict[str, Any]) -> str | None:
    """The header rules (before any key is fetched); returns why the token is refused, or None."""
    alg = header.get("alg")
    if alg != SUPPORTED_ALGORITHM:
        return f"unsupported token algorithm {shown(alg)} (only {SUPPORTED_ALGORITHM})"
    for member, why in _REFUSED_HEADER_MEMBERS.items():
        if member in header:
            return f"token header has {member!r}: {why}"
    kid = header.get("kid")
    if kid is None:
        return "token has no key id"
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
        return "token key id is not a usable string"
    if "typ" in header and not isinstance(header["typ"], str):
        return "token header typ is not a string"
    return None


def _strings(value: Any) -> set[str]:
    """A claim that may be one string or a list of strings, as a set; anything else is empty (never matches)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return set(value)
    return set()


def _check_custom_claim(claims: dict[str, Any], rule: dict[str, Any]) -> str | None:
    name = rule.get("inboundTokenClaimName")
    value_type = rule.get("inboundTokenClaimValueType", "STRING")
    match = rule.get("authorizingClaimMatchValue") or {}
    operator = match.get("claimMatchOperator")
    expected = match.get("claimMatchValue") or {}
    value = claims.get(name) if isinstance(name, str) else None
    if value_type == "STRING":
        ok = operator == "EQUALS" and isinstance(value, str) and value == expected.get("matchValueString")
    elif value_type == "STRING_ARRAY" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        if operator == "CONTAINS":
            ok = expected.get("matchValueString") in value
        elif operator == "CONTAINS_ANY":
            ok = bool(set(value) & set(expected.get("matchValueStringList") or []))
        else:
            ok = False
    else:
        ok = False
    return None if ok else f"custom claim {name!r} does not satisfy {operator}"


_default = JwtVerifier()


def default_verifier() -> JwtVerifier:
    return _default


def verify_bearer(
    authorization_header: str | None,
    authorizer_configuration: dict[str, Any] | None,
    resource_metadata_url: str | None = None,
) -> Decision:
    """Decide one request against a live CUSTOM_JWT authorizer record (None = open resource)."""
    return _default.verify(authorization_header, authorizer_configuration, resource_metadata_url)
