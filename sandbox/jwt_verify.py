"""Bearer-token checks of an AgentCore CUSTOM_JWT authorizer, for the sandbox's data planes.

`verify_bearer` takes the Authorization header of one request and the authorizer record of the resource as the
control plane holds it *now* (`{"customJWTAuthorizer": {...}}` or None) and decides 200 / 401 / 403 the way
AgentCore does: no token -> 401 with a `WWW-Authenticate` pointing at the protected-resource metadata; a token that
fails any check -> 403. Keys come from the issuer over real HTTP (discovery document -> jwks_uri); only those
documents are cached (briefly, by URL). The authorizer configuration is never cached: callers pass the live record.

Reasons are safe to log and return: they never contain the token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

logger = logging.getLogger(__name__)

DEFAULT_CACHE_TTL = 60.0
DEFAULT_LEEWAY = 10
DEFAULT_HTTP_TIMEOUT = 5.0
MAX_TOKEN_CHARS = 16_384
SIGV4_SCHEME = "AWS4-HMAC-SHA256"
ACCESS_TOKEN_USE = "access"

Fetch = Callable[[str], Any]


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
                        return jwt.PyJWK(candidate, algorithm="RS256").key
                    except jwt.PyJWKError:
                        raise DiscoveryError(f"{jwks_uri} has an unusable key {kid}") from None
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
        header = (authorization_header or "").strip()
        if not header:
            return Decision(401, "missing bearer token", www_authenticate=challenge)
        scheme, _, token = header.partition(" ")
        if scheme == SIGV4_SCHEME:
            return Decision(403, "Authorization method mismatch: this resource expects a bearer token")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            return Decision(401, "Authorization header is not 'Bearer <token>'", www_authenticate=challenge)
        if len(token) > MAX_TOKEN_CHARS:
            return Decision(403, "token too large")

        try:
            return self._verify_token(token, config)
        except DiscoveryError as exc:
            logger.warning("JWT authorizer cannot load keys: %s", exc)
            return Decision(403, f"authorizer could not load the issuer's keys ({exc})")

    def _verify_token(self, token: str, config: dict[str, Any]) -> Decision:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            return Decision(403, "malformed token")
        if header.get("alg") != "RS256":
            return Decision(403, f"unsupported token algorithm {header.get('alg')!r}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            return Decision(403, "token has no key id")

        issuer, jwks_uri = self._discovery(config["discoveryUrl"])
        key = self._signing_key(jwks_uri, kid)
        if key is None:
            return Decision(403, f"token key id {kid!r} is not in the issuer's JWKS")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
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
        if allowed_clients and claims.get("client_id") not in allowed_clients:
            return f"client {claims.get('client_id')!r} is not in allowedClients"
        allowed_audience = config.get("allowedAudience")
        if allowed_audience:
            audience = claims.get("aud")
            audiences = {audience} if isinstance(audience, str) else set(audience or [])
            if not audiences & set(allowed_audience):
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


def _check_custom_claim(claims: dict[str, Any], rule: dict[str, Any]) -> str | None:
    name = rule.get("inboundTokenClaimName")
    value_type = rule.get("inboundTokenClaimValueType", "STRING")
    match = rule.get("authorizingClaimMatchValue") or {}
    operator = match.get("claimMatchOperator")
    expected = match.get("claimMatchValue") or {}
    value = claims.get(name) if isinstance(name, str) else None
    if value_type == "STRING":
        ok = operator == "EQUALS" and isinstance(value, str) and value == expected.get("matchValueString")
    elif value_type == "STRING_ARRAY" and isinstance(value, list):
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
