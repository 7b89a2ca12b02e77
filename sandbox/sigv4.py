"""SigV4 on the sandbox's HTTP data planes: signing a request as a caller's SDK does, and verifying it as AWS does.

`sign` adds the headers botocore's SigV4Auth adds (Authorization, X-Amz-Date, X-Amz-Security-Token). `verify` checks
one request the way AWS's front end does before any authorization: the Authorization header's parts, the credential
scope (region, service), the clock skew, the access key and session token (known to the account: `KeyLookup`), the
body hash and the signature itself, recomputed over the headers the caller signed. Refusals carry AWS's error codes
and messages (all 403), never the signature or the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.auth import SIGV4_TIMESTAMP, UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandbox.iam.requests import Principal

if TYPE_CHECKING:
    from sandbox.iam.enforcement import Identities

SCHEME = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)
_PARTS = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")
_SCOPE = re.compile(r"(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True)
class SigningKey:
    """What the account knows about an access key: its secret, its session token, whose it is."""

    secret_key: str
    session_token: str | None
    principal: Principal | None  # None: the account's own (unrestricted) credentials, as the harness uses


KeyLookup = Callable[[str], SigningKey | None]


class SigV4Refusal(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = 403
        self.error_type = error_type
        self.message = message


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    region: str,
    service: str,
) -> dict[str, str]:
    """`headers` plus SigV4's, signed with `credentials` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for a
    session, AWS_SESSION_TOKEN)."""
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    creds = Credentials(
        credentials["AWS_ACCESS_KEY_ID"], credentials["AWS_SECRET_ACCESS_KEY"], credentials.get("AWS_SESSION_TOKEN")
    )
    SigV4Auth(creds, service, region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def verify(
    method: str,
    url: str,
    headers: Mapping[str, str],
    authorization: str,
    body: bytes,
    region: str,
    service: str,
    keys: KeyLookup,
    now: datetime | None = None,
) -> SigningKey:
    """The caller's key if `authorization` is a valid SigV4 signature of this request; else SigV4Refusal.

    `headers`: the request's headers (first value of each name, any case)."""
    parts = dict(_PARTS.findall(authorization))
    scope = _SCOPE.fullmatch(parts.get("Credential", ""))
    if not authorization.startswith(f"{SCHEME} ") or scope is None or len(parts) != 3:
        raise SigV4Refusal(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
            "(Credential=<access key>/<date>/<region>/<service>/aws4_request)",
        )
    if scope["region"] != region:
        raise SigV4Refusal("InvalidSignatureException", f"Credential should be scoped to a valid region: '{region}'.")
    if scope["service"] != service:
        raise SigV4Refusal("InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
    lowered = {name.lower(): value for name, value in headers.items()}
    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed or any(name not in lowered for name in signed):
        raise SigV4Refusal(
            "IncompleteSignatureException", "SignedHeaders must name host, x-amz-date and only headers sent"
        )
    stamp = lowered["x-amz-date"]
    try:
        signed_at = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SigV4Refusal("IncompleteSignatureException", "X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z'") from None
    current = now or datetime.now(UTC)
    if stamp[:8] != scope["date"] or abs(current - signed_at) > MAX_SKEW:
        raise SigV4Refusal(
            "InvalidSignatureException",
            f"Signature expired or not yet current: {stamp} is not within 5 minutes of "
            f"{current.strftime(SIGV4_TIMESTAMP)}, or the credential scope's date differs from it.",
        )
    key = keys(scope["key"])
    if key is None or (key.session_token or None) != (lowered.get("x-amz-security-token") or None):
        raise SigV4Refusal("UnrecognizedClientException", INVALID_TOKEN)
    body_hash = hashlib.sha256(body).hexdigest()
    declared = lowered.get("x-amz-content-sha256")
    if declared is not None and declared not in (body_hash, UNSIGNED_PAYLOAD):
        raise SigV4Refusal("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match")
    request = AWSRequest(method=method, url=url, headers={name: lowered[name] for name in signed}, data=body)
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(scope["key"], key.secret_key, key.session_token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, parts["Signature"]):
        raise SigV4Refusal("InvalidSignatureException", SIGNATURE_MISMATCH)
    return key


def account_keys(harness: Mapping[str, str], roles: Identities | None) -> KeyLookup:
    """The access keys an account knows: the harness's own credentials (unrestricted, like an administrator's) and,
    with IAM on, every role session the sandbox minted (each acting as its role)."""

    def lookup(access_key: str) -> SigningKey | None:
        if access_key == harness.get("AWS_ACCESS_KEY_ID"):
            return SigningKey(harness["AWS_SECRET_ACCESS_KEY"], harness.get("AWS_SESSION_TOKEN"), None)
        found = roles.signing(access_key) if roles is not None else None
        if found is None:
            return None
        credentials, principal = found
        return SigningKey(credentials["AWS_SECRET_ACCESS_KEY"], credentials["AWS_SESSION_TOKEN"], principal)

    return lookup
