"""Cognito's OAuth 2.0 token endpoint and OIDC discovery documents, served on 127.0.0.1.

moto plays the Cognito control plane but has no token endpoint or openid-configuration. This server fills the gap
and enforces what moto's in-memory records say at request time (app clients, their secrets and OAuth settings,
resource-server scopes, domains), so a change made through boto3 takes effect on the next token request.

Real Cognito serves the token endpoint on each pool's own domain; the sandbox has one host, so a token request is
routed to the pool that holds the authenticating client. Tokens are RS256 JWTs with the claims of Cognito M2M
access tokens (no `aud`), signed with a key pair generated per server instance.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm
from moto.cognitoidp.models import CognitoIdpUserPool, CognitoIdpUserPoolClient, cognitoidp_backends

from sandbox.loopback import HTTPLoopbackServer, owner_of

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME = 3600
MAX_FORM_BYTES = 64 * 1024
_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


class OAuthError(Exception):
    """An OAuth error response: `error` is the RFC 6749 code Cognito answers with."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class _Credentials:
    client_id: str
    client_secret: str | None


def _new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class CognitoServer(HTTPLoopbackServer):
    """Loopback Cognito token endpoint + OIDC discovery, reading moto's cognito-idp backend.

    Use as a context manager (or start()/stop()) while `mock_aws` is active in this process.
    """

    label = "Cognito sandbox"
    thread_name = "sandbox-cognito"

    def __init__(
        self,
        account_id: str,
        region: str,
        host: str = "127.0.0.1",
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
    ) -> None:
        super().__init__(_CognitoHandler, host)
        self.account_id = account_id
        self.region = region
        self.token_lifetime = token_lifetime
        self.kid = f"sandbox-{uuid.uuid4().hex[:16]}"
        self._private_key = _new_rsa_key()
        self._foreign_key: rsa.RSAPrivateKey | None = None
        self._issued: list[str] = []
        self._lock = threading.Lock()

    # -- addresses -------------------------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    def issuer(self, pool_id: str) -> str:
        return f"{self.base_url}/{pool_id}"

    def discovery_url(self, pool_id: str) -> str:
        return f"{self.issuer(pool_id)}/.well-known/openid-configuration"

    def jwks_url(self, pool_id: str) -> str:
        return f"{self.issuer(pool_id)}/.well-known/jwks.json"

    # -- issued tokens ---------------------------------------------------------------------------------------

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token this server has handed out or minted (a copy), so tests can scan for leaks."""
        with self._lock:
            return list(self._issued)

    def _remember(self, token: str) -> None:
        with self._lock:
            self._issued.append(token)

    # -- moto records (read at request time: they are the only truth) ----------------------------------------

    def _backend(self) -> Any:
        return cognitoidp_backends[self.account_id][self.region]

    def _pool(self, pool_id: str) -> CognitoIdpUserPool | None:
        pool: CognitoIdpUserPool | None = self._backend().user_pools.get(pool_id)
        return pool

    def _find_client(self, client_id: str) -> tuple[CognitoIdpUserPool, CognitoIdpUserPoolClient] | None:
        for pool in list(self._backend().user_pools.values()):
            client = pool.clients.get(client_id)
            if client is not None:
                return pool, client
        return None

    # -- keys ------------------------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def _signing_key(self, foreign: bool) -> rsa.RSAPrivateKey:
        if not foreign:
            return self._private_key
        with self._lock:
            if self._foreign_key is None:
                self._foreign_key = _new_rsa_key()
            return self._foreign_key

    def _sign(self, claims: dict[str, Any], *, foreign: bool = False, kid: str | None = None) -> str:
        # Cognito's access-token header is just {kid, alg}: drop PyJWT's default typ.
        headers = {"kid": kid or self.kid, "typ": None}
        return jwt.encode(claims, self._signing_key(foreign), algorithm="RS256", headers=headers)

    def _sign_compact(self, claims: Any, headers: dict[str, Any] | None, key: rsa.RSAPrivateKey) -> str:
        # Built by hand, not with jwt.encode: attack tests need headers PyJWT refuses to write (a non-string kid).
        header: dict[str, Any] = {"alg": "RS256", "kid": self.kid}
        for name, value in (headers or {}).items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
        self._remember(token)
        return token

    # -- signing for attack tests ----------------------------------------------------------------------------

    def sign(self, claims: Any, headers: dict[str, Any] | None = None) -> str:
        """An RS256 signature by the pool's real key over any claims and header, for attack tests.

        `claims` is any JSON value (usually a dict of claims; a list or a string makes a non-object payload).
        The header starts as Cognito's `{"alg": "RS256", "kid": <published kid>}`; `headers` adds or replaces
        members, and a None value removes one (`{"kid": None}`). The signature is always RS256 with the real key,
        whatever `alg` the header then claims. No OAuth check is made; the token joins `issued_tokens`.
        """
        return self._sign_compact(claims, headers, self._private_key)

    def sign_with_foreign_key(self, claims: Any, headers: dict[str, Any] | None = None) -> str:
        """Like sign(), but with a key this server never publishes, under the published kid (a forgery)."""
        return self._sign_compact(claims, headers, self._signing_key(foreign=True))

    def foreign_jwk(self) -> dict[str, Any]:
        """The public JWK of the foreign key (same kid), as an attacker would embed or host it."""
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._signing_key(foreign=True).public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return jwk

    def _claims(self, pool_id: str, client_id: str, scopes: list[str], lifetime: int, now: int) -> dict[str, Any]:
        return {
            "sub": client_id,
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": now,
            "iss": self.issuer(pool_id),
            "exp": now + lifetime,
            "iat": now,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": client_id,
        }

    # -- test helpers ----------------------------------------------------------------------------------------

    def mint_token(
        self,
        client_id: str,
        /,
        *,
        pool_id: str | None = None,
        scopes: list[str] | None = None,
        lifetime: int | None = None,
        issued_at: int | None = None,
        foreign_key: bool = False,
        kid: str | None = None,
        **claim_overrides: Any,
    ) -> str:
        """Mint an access token without the OAuth checks, for tests.

        `lifetime` may be negative (already expired); `foreign_key=True` signs with a key the JWKS does not
        publish (same kid, so verification fails on the signature); `kid` overrides the header's key id;
        claim overrides replace claims (`client_id`/`sub` included: `client_id` is positional-only), and an
        override of None removes the claim.
        """
        if pool_id is None or scopes is None:
            found = self._find_client(client_id)
            if pool_id is None:
                if found is None:
                    raise LookupError(f"no user pool holds client {client_id}; pass pool_id")
                pool_id = found[0].id
            if scopes is None:
                scopes = list(found[1].extended_config.get("AllowedOAuthScopes") or []) if found else []
        now = int(time.time()) if issued_at is None else issued_at
        claims = self._claims(pool_id, client_id, scopes, self.token_lifetime if lifetime is None else lifetime, now)
        for name, value in claim_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        token = self._sign(claims, foreign=foreign_key, kid=kid)
        self._remember(token)
        return token

    # -- OAuth -----------------------------------------------------------------------------------------------

    def issue_token(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        """Handle a token request (already form-decoded); raises OAuthError like Cognito's /oauth2/token."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported here")
        credentials = _client_credentials(form, authorization)
        found = self._find_client(credentials.client_id)
        if found is None:
            raise OAuthError("invalid_client", "Client does not exist")
        pool, client = found
        if (
            not client.generate_secret
            or credentials.client_secret is None
            or not hmac.compare_digest(credentials.client_secret.encode(), client.secret.encode())
        ):
            raise OAuthError("invalid_client", "Client authentication failed")
        if pool.domain is None:
            # No domain, no hosted OAuth endpoints for this pool in real Cognito.
            raise OAuthError("invalid_request", "The user pool has no domain", status=404)
        config = client.extended_config
        if not config.get("AllowedOAuthFlowsUserPoolClient") or "client_credentials" not in (
            config.get("AllowedOAuthFlows") or []
        ):
            raise OAuthError("unauthorized_client", "Client is not enabled for the client_credentials flow")
        scopes = self._granted_scopes(pool, config, form.get("scope"))
        lifetime = _access_token_lifetime(config, self.token_lifetime)
        token = self._sign(self._claims(pool.id, client.id, scopes, lifetime, int(time.time())))
        self._remember(token)
        logger.info("Issued access token to client %s (pool %s, scopes %s)", client.id, pool.id, " ".join(scopes))
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    @staticmethod
    def _granted_scopes(pool: CognitoIdpUserPool, config: dict[str, Any], requested: str | None) -> list[str]:
        allowed = list(config.get("AllowedOAuthScopes") or [])
        # client_credentials only grants custom scopes, and only those a resource server still defines.
        defined = {
            f"{server.identifier}/{scope['ScopeName']}"
            for server in list(pool.resource_servers.values())
            for scope in (server.scopes or [])
        }
        if requested is None or not requested.strip():
            granted = [scope for scope in allowed if scope in defined]
        else:
            granted = list(dict.fromkeys(requested.split()))
            refused = [scope for scope in granted if scope not in allowed or scope not in defined]
            if refused:
                raise OAuthError("invalid_scope", f"Scopes not allowed for this client: {' '.join(refused)}")
        if not granted:
            raise OAuthError("invalid_scope", "No custom scope is allowed for this client")
        return granted

    def openid_configuration(self, pool_id: str) -> dict[str, Any]:
        issuer = self.issuer(pool_id)
        return {
            "issuer": issuer,
            "jwks_uri": self.jwks_url(pool_id),
            "token_endpoint": self.token_url,
            "authorization_endpoint": f"{self.base_url}/oauth2/authorize",
            "userinfo_endpoint": f"{self.base_url}/oauth2/userInfo",
            "end_session_endpoint": f"{self.base_url}/logout",
            "response_types_supported": ["code", "token"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def pool_exists(self, pool_id: str) -> bool:
        return self._pool(pool_id) is not None


def _b64url_json(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _access_token_lifetime(config: dict[str, Any], default: int) -> int:
    """Honour the app client's AccessTokenValidity (units default to hours, as in Cognito)."""
    validity = config.get("AccessTokenValidity")
    if not validity:
        return default
    unit = (config.get("TokenValidityUnits") or {}).get("AccessToken", "hours")
    return int(validity) * _UNIT_SECONDS.get(unit, 3600)


def _client_credentials(form: dict[str, str], authorization: str | None) -> _Credentials:
    """client_secret_basic (Authorization: Basic) or client_secret_post (form fields)."""
    if authorization:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "Unsupported client authentication")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic credentials") from None
        basic_id, sep, secret = decoded.partition(":")
        if not sep or not basic_id:
            raise OAuthError("invalid_client", "Malformed Basic credentials")
        return _Credentials(urllib.parse.unquote(basic_id), urllib.parse.unquote(secret))
    form_id = form.get("client_id")
    if not form_id:
        raise OAuthError("invalid_client", "Client authentication is required")
    return _Credentials(form_id, form.get("client_secret"))


class _CognitoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxCognito"
    timeout = 30  # idle keep-alive connections must not pin handler threads forever

    @property
    def cognito(self) -> CognitoServer:
        owner: CognitoServer = owner_of(self)
        return owner

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry no secrets (credentials travel in headers/body); keep them at debug level.
        logger.debug("cognito %s - %s", self.address_string(), format % args)

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        body = self._read_body()
        if path != "/oauth2/token":
            self._send_json(404, {"error": "not_found"})
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            self._send_json(400, {"error": "invalid_request", "error_description": "form-encoded body required"})
            return
        if body is None:
            self._send_json(400, {"error": "invalid_request", "error_description": "request body too large"})
            return
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        try:
            result = self.cognito.issue_token(form, self.headers.get("Authorization"))
        except OAuthError as exc:
            logger.info(
                "Token request refused: %s (%s) for client %s", exc.error, exc.description, _client_hint(form, self)
            )
            self._send_json(exc.status, {"error": exc.error})
            return
        self._send_json(200, result)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        pool_id, _, document = path.lstrip("/").partition("/")
        if document not in (".well-known/openid-configuration", ".well-known/jwks.json"):
            self._send_json(404, {"message": "Not found"})
            return
        if not self.cognito.pool_exists(pool_id):
            self._send_json(404, {"message": f"User pool {pool_id} does not exist."})
            return
        if document.endswith("jwks.json"):
            self._send_json(200, self.cognito.jwks())
        else:
            self._send_json(200, self.cognito.openid_configuration(pool_id))

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_FORM_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""


def _client_hint(form: dict[str, str], handler: BaseHTTPRequestHandler) -> str:
    """The client id of a token request for logs: never the secret."""
    if form.get("client_id"):
        return form["client_id"]
    authorization = handler.headers.get("Authorization") or ""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(encoded.strip(), validate=True).decode().partition(":")[0] or "?"
        except (binascii.Error, UnicodeDecodeError):
            return "?"
    return "?"
