"""Who is calling: the request's one bearer credential and the caller (app client + subject) it names.

AgentCore Runtime's CUSTOM_JWT authorizer verifies the token before the request reaches this container; this module
only reads it, and refuses a request whose credential is ambiguous. Why: bedrock_agentcore builds
``RequestContext.request_headers`` as a dict, so of several ``Authorization`` headers it keeps only the LAST one,
while Starlette's ``headers.get`` (and many proxies and authorizers) use the FIRST. An agent acting on a credential
nobody verified could use another caller's conversation, memory and gateway access, so such requests never get that
far. The raw header list is read from the Starlette request that the SDK passes in ``RequestContext.request``.
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from bedrock_agentcore.runtime import RequestContext
from starlette.requests import HTTPConnection

AUTHORIZATION = "authorization"
ANONYMOUS_ACTOR_ID = "anonymous"
MAX_TOKEN_CHARS = 16_384

# RFC 9110/6750: credentials = "Bearer" 1*SP token68, the scheme case-insensitive. A comma (a second credential, or
# duplicate headers folded into one line by a proxy), a space inside the token or another scheme is refused.
_BEARER_CREDENTIAL = re.compile(r"bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
# Header values may carry optional whitespace around them (RFC 9110 OWS).
_OWS = " \t"

# AgentCore Memory actor ids (botocore bedrock-agentcore ActorId): 1-255 chars, first alphanumeric, then
# [a-zA-Z0-9-_/] with ':' separators. Only [A-Za-z0-9_-] is used here, which also keeps log lines clean.
_ACTOR_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_READABLE_PART_CHARS = 64
_DIGEST_HEX_CHARS = 32  # 128 bits of SHA-256
_FALLBACK_READABLE = "caller"


class RequestRefused(Exception):
    """The request's Authorization is ambiguous or unusable: answer ``status`` and do nothing else.

    ``reason`` is for the log and ``description`` for the caller; neither ever contains a header value.
    """

    def __init__(self, status: int, error: str, reason: str, description: str) -> None:
        """``error`` is the RFC 6750 error code (``invalid_request`` or ``invalid_token``)."""
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.description = description


@dataclass(frozen=True)
class Caller:
    """The caller a request acts for: the app client and the subject (user, or the client itself for M2M).

    Both parts are the raw claim values, so two callers are equal only if both parts are. ``Caller()`` (neither part)
    is the anonymous caller of a request without a token; a token always names at least one part.
    """

    client_id: str | None = None
    subject: str | None = None

    @property
    def anonymous(self) -> bool:
        """True for a request that carried no credential."""
        return self.client_id is None and self.subject is None

    @property
    def actor_id(self) -> str:
        """A stable AgentCore Memory actor id (also the caller's name in logs) for this client AND subject.

        ``<client>_<subject>-<digest>`` (``<client>-<digest>`` for M2M tokens, whose subject is the client): the
        readable parts are sanitised and truncated for operators, the digest is a SHA-256 of the raw pair in an
        unambiguous encoding. Sanitising or truncating can make readable parts equal ("a.b"+"c" and "a_b"+"c"), the
        digest keeps the ids apart. At most 162 characters, within the 255 allowed.
        """
        if self.anonymous:
            return ANONYMOUS_ACTOR_ID
        # JSON of a two-item list of str/None is injective: no pair of values can encode like another pair.
        raw_pair = json.dumps([self.client_id, self.subject])
        digest = hashlib.sha256(raw_pair.encode()).hexdigest()[:_DIGEST_HEX_CHARS]
        parts = [self.client_id] if self.subject == self.client_id else [self.client_id, self.subject]
        readable = "_".join(safe for safe in (_readable(part) for part in parts if part) if safe)
        return f"{readable or _FALLBACK_READABLE}-{digest}"


ANONYMOUS = Caller()


def _readable(value: str) -> str:
    # Leading '_'/'-' stripped: the actor id must start alphanumeric.
    return _ACTOR_ID_UNSAFE.sub("_", value).strip("_-")[:_READABLE_PART_CHARS]


def _claim_str(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if name == "aud" and isinstance(value, list) and len(value) == 1:
        value = value[0]  # RFC 7519 lets `aud` be a list; only a single audience names one client
    return value if isinstance(value, str) and value else None


def caller_from_token(token: str) -> Caller | None:
    """The caller a JWT names, or None if its payload is unreadable or names nobody.

    The payload is decoded WITHOUT verifying the signature: AgentCore's JWT authorizer has already verified the
    token. Client: ``client_id`` (Cognito access tokens) else ``aud`` (Cognito ID tokens). Subject: ``sub`` (the
    user's UUID; for M2M client_credentials tokens the client id again).
    """
    if len(token) > MAX_TOKEN_CHARS:
        return None
    segments = token.split(".")
    if len(segments) != 3:
        return None
    payload_segment = segments[1]
    try:
        # ValueError covers bad base64 (binascii.Error), bad UTF-8 and bad JSON.
        claims = json.loads(base64.urlsafe_b64decode(payload_segment + "=" * (-len(payload_segment) % 4)))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    caller = Caller(_claim_str(claims, "client_id") or _claim_str(claims, "aud"), _claim_str(claims, "sub"))
    return None if caller.anonymous else caller


def authorization_values(context: RequestContext) -> list[str]:
    """Every Authorization header line of the request, in order, as sent (any case of the header name).

    From the raw Starlette header list when the SDK passed the request; otherwise (a direct call, e.g. a test)
    from ``request_headers``, where only differently-cased duplicate keys can still be seen.
    """
    request = context.request
    if isinstance(request, HTTPConnection):
        return [value.decode("latin-1") for name, value in request.headers.raw if name.lower() == b"authorization"]
    return [value for name, value in (context.request_headers or {}).items() if name.lower() == AUTHORIZATION]


def authenticate(context: RequestContext) -> tuple[Caller, str | None]:
    """The request's caller and the Authorization value to forward to the gateway (None without a credential).

    No Authorization header: the anonymous caller. Exactly one header holding exactly one ``Bearer <token>``
    credential whose token names a caller: that caller. Anything else raises ``RequestRefused``.
    """
    values = authorization_values(context)
    if not values:
        return ANONYMOUS, None
    if len(values) > 1:
        raise RequestRefused(
            400,
            "invalid_request",
            f"{len(values)} Authorization headers",
            "Send exactly one Authorization header.",
        )
    authorization = values[0].strip(_OWS)
    credential = _BEARER_CREDENTIAL.fullmatch(authorization)
    if credential is None:
        raise RequestRefused(
            400,
            "invalid_request",
            "Authorization is not exactly one Bearer credential",
            "The Authorization header must hold exactly one credential: Bearer <token>.",
        )
    caller = caller_from_token(credential.group(1))
    if caller is None:
        raise RequestRefused(
            401,
            "invalid_token",
            "bearer token has no readable client_id/aud or sub claim",
            "The bearer token does not identify a caller.",
        )
    return caller, authorization
