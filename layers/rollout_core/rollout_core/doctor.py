"""The auth doctor: would AgentCore answer this caller 401 or 403, and why?

Given a bearer token (or a SigV4 caller), the runtime's and the gateway's control-plane records (GetAgentRuntime,
GetGateway), the runtime's endpoints and the invocation URL, it compares what the token claims with what each
authorizer enforces and returns findings: for each check whether it passes, the status the caller would get if it
does not (401, 403, 404, or None when the call succeeds but something behind it fails), the cause and the fix.

Pure: no network, no clock of its own (`now` is given). The token is decoded WITHOUT verifying its signature (only
the authorizer, with the issuer's keys, can tell a forged token from a good one): its header and claims are read,
nothing else. No finding holds the token or its signature, and claim values are shown only when they are short,
plain identifiers (anything else is "<str not shown>"): `diagnose` scrubs every field before it returns.

Used by `secure-rollout doctor` and by the smoke test, which adds the failing findings to SmokeTestFailed.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from rollout_core.cognito import DISCOVERY_SUFFIX
from rollout_core.desired import AUTHORIZATION_HEADER, allows_authorization_header
from rollout_core.redaction import REDACTED, contains_fragment

BEARER: Final = "bearer"
SIGV4: Final = "sigv4"
METHODS: Final = (BEARER, SIGV4)
# AgentCore's tolerance for clock differences is not documented; a few seconds is what JWT verifiers allow.
DEFAULT_SKEW_SECONDS: Final = 10
DEFAULT_QUALIFIER: Final = "DEFAULT"
SIGNING_ALGORITHM: Final = "RS256"
ACCESS_TOKEN_USE: Final = "access"

RUNTIME: Final = "runtime"
GATEWAY: Final = "gateway"

_PLAIN = re.compile(r"[\w.:/@+=-]{1,200}")
_COGNITO_ISSUER = re.compile(r"https://cognito-idp\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<pool>[\w-]+_\w+)")
_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(-[a-z]+)+-\d)_[0-9a-zA-Z]+")
_INVOCATION_PATH = re.compile(r"/runtimes/(?P<arn>[^/]+)/invocations/?")
_MINT_HINT = "mint one with the client_credentials grant at the pool's /oauth2/token (`secure-rollout doctor --mint`)"


@dataclass(frozen=True)
class Finding:
    """One check. `status`: what the caller would get when it fails (None: the call itself succeeds, or the status
    cannot be told); `cause` and `fix` are set for every failure."""

    check: str
    ok: bool
    detail: str
    status: int | None = None
    cause: str | None = None
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Invocation:
    """How the caller reaches the runtime: its URL, the data plane it should go to (scheme://host, as boto3 resolves
    `bedrock-agentcore`), and the runtime's endpoints by name (ListAgentRuntimeEndpoints items)."""

    url: str
    data_plane: str
    endpoints: Mapping[str, Mapping[str, Any]]


class TokenUnreadable(ValueError):
    """The bearer value is not a JWT whose header and claims decode to JSON objects (the message names no part of
    it)."""


# --- reading the token ---------------------------------------------------------------------------------------


def _segment(text: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise TokenUnreadable(f"its {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise TokenUnreadable(f"its {what} is a JSON {type(value).__name__}, not an object")
    return value


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWS, signature NOT verified. Raises TokenUnreadable."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenUnreadable(f"it has {len(parts)} dot-separated part(s), not three (header.claims.signature)")
    return _segment(parts[0], "header"), _segment(parts[1], "claims")


def bearer_value(text: str) -> str:
    """A token as pasted: surrounding blanks, quotes and a leading `Bearer ` removed."""
    value = text.strip().strip('"').strip()
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest else value


def shown(value: Any) -> str:
    """A claim value fit for a finding: itself when it is a short plain identifier, else a placeholder."""
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return repr(value)
    if isinstance(value, list) and value and all(isinstance(v, str) and _PLAIN.fullmatch(v) for v in value[:20]):
        return repr(value[:20])
    if isinstance(value, bool | int | float):
        return repr(value)
    return f"<{type(value).__name__} not shown>"


def _strings(value: Any) -> list[str]:
    """A claim that may be a string or a list of strings; anything else is empty."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    scope = claims.get("scope")
    return scope.split() if isinstance(scope, str) else []


def _origin(parts: urllib.parse.SplitResult) -> str:
    """scheme://host[:port] of a URL, without any user:password@ it may carry."""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":<invalid port>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def shown_url(url: str) -> str:
    """A caller's URL fit for output: origin, path and the qualifier only (a query may carry a token)."""
    parts = urllib.parse.urlsplit(url)
    qualifier = urllib.parse.parse_qs(parts.query).get("qualifier")
    query = f"?qualifier={urllib.parse.quote(qualifier[0], safe='')}" if qualifier else ""
    return f"{_origin(parts)}{parts.path}{query}"


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def pool_of(issuer: str) -> str | None:
    """The Cognito user pool id an issuer names (its last path segment, in Cognito's and the sandbox's form)."""
    match = _COGNITO_ISSUER.fullmatch(issuer)
    if match:
        return match["pool"]
    last = issuer.rstrip("/").rsplit("/", 1)[-1]
    return last if _POOL_ID.fullmatch(last) else None


def describe_token(claims: Mapping[str, Any], now: float) -> str:
    """What the token is, in one line, without any secret: kind, client, pool or issuer, scopes, expiry."""
    kind = {"access": "access token", "id": "ID token"}.get(str(claims.get("token_use")), "token")
    client = claims.get("client_id") if "client_id" in claims else claims.get("aud")
    issuer = claims.get("iss")
    pool = pool_of(issuer) if isinstance(issuer, str) else None
    source = f"from pool {pool}" if pool else f"issued by {shown(issuer)}"
    parts = [f"{kind} of client {shown(client)} {source}"]
    scopes = _scopes(claims)
    parts.append(f"scopes {shown(scopes)}" if scopes else "no scope")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        left = exp - now
        parts.append(f"expires in {_duration(left)}" if left > 0 else f"expired {_duration(left)} ago")
    return ", ".join(parts)


# --- the checks ----------------------------------------------------------------------------------------------


def _ok(check: str, detail: str) -> Finding:
    return Finding(check, True, detail)


def _fail(check: str, detail: str, status: int | None, cause: str, fix: str) -> Finding:
    return Finding(check, False, detail, status, cause, fix)


def token_findings(token: str | None, now: float, skew: int) -> tuple[list[Finding], dict[str, Any] | None]:
    """The checks that hold whichever JWT authorizer reads the token: (findings, claims or None if unreadable)."""
    if not token:
        return [
            _fail(
                "token.present",
                "no bearer token",
                401,
                "a JWT-protected resource answers a call without a bearer token 401 (WWW-Authenticate: Bearer ...)",
                f"send Authorization: Bearer <access token>; {_MINT_HINT}",
            )
        ], None
    try:
        header, claims = decode_unverified(token)
    except TokenUnreadable as exc:
        return [
            _fail(
                "token.format",
                f"not a JWT: {exc}",
                403,
                "AgentCore refuses a bearer value that is not a compact JWS (three base64url segments)",
                "send the access_token of the token endpoint's answer as it is (no quotes, no second 'Bearer ')",
            )
        ], None
    findings = [_ok("token.format", f"a JWT: {describe_token(claims, now)} (signature not verified by the doctor)")]
    alg, kid = header.get("alg"), header.get("kid")
    if alg != SIGNING_ALGORITHM or not isinstance(kid, str) or not kid:
        findings.append(
            _fail(
                "token.algorithm",
                f"header alg {shown(alg)}, kid {'present' if isinstance(kid, str) and kid else 'missing'}",
                403,
                f"the authorizer verifies {SIGNING_ALGORITHM} signatures by a key id of the issuer's JWKS",
                "use a token the identity provider issued (Cognito signs RS256 with a kid)",
            )
        )
    else:
        findings.append(_ok("token.algorithm", f"{SIGNING_ALGORITHM} with a key id"))
    findings.append(_token_use(claims))
    findings += _lifetime(claims, now, skew)
    return findings, claims


def _token_use(claims: Mapping[str, Any]) -> Finding:
    token_use = claims.get("token_use")
    if token_use == ACCESS_TOKEN_USE:
        return _ok("token.use", "token_use 'access'")
    if token_use == "id":
        return _fail(
            "token.use",
            f"token_use 'id' (aud {shown(claims.get('aud'))})",
            403,
            "an ID token: it names its client in aud and has no client_id, and JWT authorizers take access tokens",
            f"call with an access token, not an ID token; {_MINT_HINT}",
        )
    return _fail(
        "token.use",
        f"token_use {shown(token_use)}",
        403,
        "not a Cognito access token (token_use must be 'access')",
        f"call with an access token of the pool the authorizer trusts; {_MINT_HINT}",
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _lifetime(claims: Mapping[str, Any], now: float, skew: int) -> list[Finding]:
    findings: list[Finding] = []
    exp = _number(claims.get("exp"))
    if exp is None:
        findings.append(
            _fail(
                "token.expiry",
                f"exp {shown(claims.get('exp'))}",
                403,
                "the token has no numeric exp claim; the authorizer requires one",
                f"use a token the identity provider issued; {_MINT_HINT}",
            )
        )
    elif exp + skew <= now:
        findings.append(
            _fail(
                "token.expiry",
                f"expired {_duration(now - exp)} ago (exp {_when(exp)}; now {_when(now)})",
                403,
                "the token has expired (AgentCore answers an expired token 403)",
                "mint a new token: client_credentials tokens are not refreshed (Cognito's default lifetime is 60 min)",
            )
        )
    else:
        note = " - within the clock skew allowance, renew it now" if exp <= now else ""
        findings.append(_ok("token.expiry", f"valid until {_when(exp)} ({_duration(exp - now)} left){note}"))
    issued = [(name, _number(claims.get(name))) for name in ("iat", "nbf")]
    future = [(name, value) for name, value in issued if value is not None and value > now + skew]
    if future:
        name, value = future[0]
        findings.append(
            _fail(
                "token.clock_skew",
                f"{name} {_when(value or 0)} is {_duration((value or 0) - now)} ahead of this clock ({_when(now)})",
                403,
                "the token is not valid yet by this clock: this machine's clock or the issuer's is off",
                "sync the clocks (NTP); a token is checked against the service's clock, with a few seconds of skew",
            )
        )
    else:
        findings.append(_ok("token.clock_skew", f"issued before now (allowing {skew} s of clock skew)"))
    return findings


def _jwt(authorizer: Any) -> dict[str, Any] | None:
    jwt = (authorizer or {}).get("customJWTAuthorizer") if isinstance(authorizer, Mapping) else None
    return jwt if isinstance(jwt, dict) else None


def _auth_method(kind: str, name: str, authorizer_type: str, method: str) -> Finding:
    """Bearer vs SigV4 against what the resource takes (CUSTOM_JWT: bearer only; IAM: SigV4 only)."""
    check = f"{kind}.auth_method"
    mismatch = "'Authorization method mismatch' (AccessDeniedException)"
    apply_fix = "run the rollout (`secure-rollout apply`), which secures it with the CUSTOM_JWT authorizer"
    if authorizer_type == "CUSTOM_JWT":
        if method == BEARER:
            return _ok(check, f"{kind} {name} takes bearer tokens (CUSTOM_JWT authorizer)")
        return _fail(
            check,
            f"{kind} {name} has a CUSTOM_JWT authorizer; the call is SigV4-signed",
            403,
            f"a JWT-protected {kind} refuses SigV4 (IAM) calls: {mismatch}",
            "call it over HTTPS with Authorization: Bearer <access token> (boto3 cannot; `secure-rollout invoke` does)",
        )
    if authorizer_type == "AWS_IAM":
        if method == SIGV4:
            return _ok(check, f"{kind} {name} takes SigV4 (IAM) calls; the caller's IAM policy decides")
        what = "no CUSTOM_JWT authorizer" if kind == RUNTIME else "an AWS_IAM authorizer"
        return _fail(
            check,
            f"{kind} {name} has {what}: it takes SigV4 (IAM) calls only",
            403,
            f"a bearer call to a {kind} without a JWT authorizer is refused: {mismatch}",
            f"{apply_fix}; or call it SigV4-signed (boto3)",
        )
    if authorizer_type == "NONE":
        return _fail(
            check,
            f"{kind} {name} has no authorizer (authorizerType NONE)",
            None,
            f"the {kind} admits every caller, with or without a token: it is not secured",
            f"{apply_fix} (a gateway's authorizer type cannot change, so the rollout replaces the gateway)",
        )
    return _fail(
        check,
        f"{kind} {name} has authorizer type {shown(authorizer_type)}",
        None,
        "an authorizer type the doctor does not know how to check",
        "compare the caller with the authorizer by hand (GetGateway authorizerConfiguration)",
    )


def _issuer(kind: str, jwt: Mapping[str, Any], claims: Mapping[str, Any]) -> Finding:
    check = f"{kind}.issuer"
    discovery = jwt.get("discoveryUrl")
    if not isinstance(discovery, str) or not discovery.endswith(DISCOVERY_SUFFIX):
        return _fail(
            check,
            f"discoveryUrl {shown(discovery)}",
            403,
            f"the authorizer's discoveryUrl does not end in {DISCOVERY_SUFFIX}: it cannot load the issuer's keys",
            "run the rollout: it derives the discovery URL from the deployed user pool",
        )
    expected = discovery.removesuffix(DISCOVERY_SUFFIX)
    issuer = claims.get("iss")
    if issuer == expected:
        return _ok(check, f"iss is the authorizer's issuer {expected}")
    if not isinstance(issuer, str):
        return _fail(
            check,
            f"iss {shown(issuer)}; the authorizer trusts {expected}",
            403,
            "the token names no issuer (iss claim)",
            f"use a token the identity provider issued; {_MINT_HINT}",
        )
    token_pool, trusted_pool = pool_of(issuer), pool_of(expected)
    if token_pool and trusted_pool:
        where = ""
        token_region, trusted_region = token_pool.split("_")[0], trusted_pool.split("_")[0]
        if token_region != trusted_region:
            where = f" (region {token_region}, not {trusted_region})"
        cause = (
            f"the token comes from user pool {token_pool}{where}; the {kind}'s authorizer trusts pool {trusted_pool}"
        )
        fix = (
            f"mint the token with an app client of pool {trusted_pool} at that pool's own token endpoint; or, if "
            f"{token_pool} is the right pool, deploy the stack with UserPoolId={token_pool} and run the rollout"
        )
    else:
        cause = f"the token's issuer is not the one the {kind}'s authorizer trusts (its discovery URL's issuer)"
        fix = f"mint the token at the identity provider of {discovery}"
    return _fail(check, f"iss {shown(issuer)}; the authorizer trusts {expected}", 403, cause, fix)


def _clients(kind: str, jwt: Mapping[str, Any], claims: Mapping[str, Any]) -> Finding:
    check = f"{kind}.client"
    allowed = _strings(jwt.get("allowedClients"))
    if not allowed:
        return _ok(check, "allowedClients not set: any client of the issuer")
    client = claims.get("client_id")
    if isinstance(client, str) and client in allowed:
        return _ok(check, f"client_id {shown(client)} is in allowedClients")
    if client is None:
        return _fail(
            check,
            f"no client_id claim (aud {shown(claims.get('aud'))}); allowedClients {shown(allowed)}",
            403,
            "allowedClients checks the client_id claim, which only access tokens carry (an ID token names its "
            "client in aud)",
            f"call with an access token of client {shown(allowed[0])}; {_MINT_HINT}",
        )
    return _fail(
        check,
        f"client_id {shown(client)} is not in allowedClients {shown(allowed)}",
        403,
        f"the token was minted for another app client than the {kind}'s authorizer allows",
        f"mint the token with client {shown(allowed[0])} (the stack's client_id SSM parameter); or, if "
        f"{shown(client)} should call, add it to allowedClients",
    )


def _audience(kind: str, jwt: Mapping[str, Any], claims: Mapping[str, Any]) -> Finding:
    check = f"{kind}.audience"
    allowed = _strings(jwt.get("allowedAudience"))
    if not allowed:
        return _ok(check, "allowedAudience not set (right for Cognito M2M access tokens, which carry no aud)")
    audience = _strings(claims.get("aud"))
    if set(audience) & set(allowed):
        return _ok(check, f"aud {shown(audience)} is in allowedAudience")
    if not audience:
        return _fail(
            check,
            f"no aud claim; allowedAudience {shown(allowed)}",
            403,
            "allowedAudience is set, but Cognito M2M access tokens carry no aud: it refuses every such token",
            "check the caller with allowedClients instead of allowedAudience (the rollout's authorizer does)",
        )
    return _fail(
        check,
        f"aud {shown(audience)} is not in allowedAudience {shown(allowed)}",
        403,
        f"the token is meant for another audience than the {kind}'s authorizer allows",
        "mint the token for an allowed audience, or add its audience to allowedAudience",
    )


def _scope_check(kind: str, jwt: Mapping[str, Any], claims: Mapping[str, Any]) -> Finding:
    check = f"{kind}.scopes"
    allowed = _strings(jwt.get("allowedScopes"))
    if not allowed:
        return _ok(check, "allowedScopes not set: no scope required")
    scopes = _scopes(claims)
    carried = [s for s in scopes if s in allowed]
    if carried:
        return _ok(check, f"the token carries {shown(carried)} of allowedScopes {shown(allowed)}")
    return _fail(
        check,
        f"scopes {shown(scopes) if scopes else 'none'}; allowedScopes {shown(allowed)}",
        403,
        f"the token carries none of the scopes the {kind}'s authorizer allows",
        f"mint the token with scope={' '.join(allowed)} (the app client must be allowed it: AllowedOAuthScopes; "
        "the stack's cognito_auth_scope SSM parameter names it)",
    )


def authorizer_findings(kind: str, jwt: Mapping[str, Any], claims: Mapping[str, Any]) -> list[Finding]:
    """Issuer, client, audience and scopes of the token against one CUSTOM_JWT authorizer."""
    return [
        _issuer(kind, jwt, claims),
        _clients(kind, jwt, claims),
        _audience(kind, jwt, claims),
        _scope_check(kind, jwt, claims),
    ]


def _header_allowlist(runtime: Mapping[str, Any]) -> Finding:
    allowlist = list((runtime.get("requestHeaderConfiguration") or {}).get("requestHeaderAllowlist") or [])
    if allows_authorization_header(allowlist):
        return _ok(
            "runtime.header_allowlist", f"{AUTHORIZATION_HEADER} is on requestHeaderAllowlist: the agent gets it"
        )
    return _fail(
        "runtime.header_allowlist",
        f"requestHeaderAllowlist {shown(allowlist) if allowlist else 'not set'} lacks {AUTHORIZATION_HEADER}",
        None,
        "AgentCore validates the token, then strips it before the agent: the invocation succeeds, but the agent's "
        "calls to the gateway carry no token and the gateway answers them 401 (its tools fail)",
        f"run the rollout (`secure-rollout apply`): it adds {AUTHORIZATION_HEADER} to the allowlist",
    )


def invocation_findings(invocation: Invocation, runtime: Mapping[str, Any], method: str) -> list[Finding]:
    """The URL's endpoint, path (the URL-encoded runtime ARN) and qualifier (an endpoint of the runtime)."""
    findings: list[Finding] = []
    arn = str(runtime.get("agentRuntimeArn", ""))
    url = urllib.parse.urlsplit(invocation.url)
    expected = urllib.parse.urlsplit(invocation.data_plane)
    expected_path = f"/runtimes/{urllib.parse.quote(arn, safe='')}/invocations"
    if _origin(url) != _origin(expected):
        findings.append(
            _fail(
                "runtime.invocation_url",
                f"the URL goes to {_origin(url)}; the runtime's data plane is {_origin(expected)}",
                None,
                "the call goes to another endpoint than the runtime's region's data plane",
                f"POST to {_origin(expected)}{expected_path}?qualifier={DEFAULT_QUALIFIER}",
            )
        )
        return findings
    match = _INVOCATION_PATH.fullmatch(url.path)
    if match is None:
        findings.append(
            _fail(
                "runtime.invocation_url",
                f"path {shown(url.path)} is not /runtimes/<URL-encoded runtime ARN>/invocations",
                None,
                "no such route: AWS answers an unknown route with an error, not the agent (an ARN that is not "
                "URL-encoded - its '/' and ':' as %2F and %3A - is the usual cause)",
                f"POST to {expected_path}?qualifier={DEFAULT_QUALIFIER}",
            )
        )
        return findings
    named = urllib.parse.unquote(match["arn"])
    if named != arn:
        findings.append(
            _fail(
                "runtime.invocation_url",
                f"the URL names runtime {shown(named)}, not {arn}",
                404,
                "the URL names another runtime (ResourceNotFoundException)",
                f"POST to {expected_path}?qualifier={DEFAULT_QUALIFIER}",
            )
        )
        return findings
    findings.append(_ok("runtime.invocation_url", f"{expected_path} on {_origin(expected)}"))
    query = urllib.parse.parse_qs(url.query)
    if {"access_token", "token", "id_token"} & set(query):
        findings.append(
            _fail(
                "runtime.token_in_url",
                "the query string carries a token parameter",
                401 if method == BEARER else None,
                "AgentCore reads the token from the Authorization header only; a token in a URL also ends up in logs",
                "remove it from the URL and send Authorization: Bearer <access token>",
            )
        )
    qualifier = (query.get("qualifier") or [DEFAULT_QUALIFIER])[0]
    endpoint = invocation.endpoints.get(qualifier)
    named_endpoints = sorted(invocation.endpoints)
    if endpoint is None:
        findings.append(
            _fail(
                "runtime.qualifier",
                f"qualifier {shown(qualifier)}; the runtime's endpoints: {shown(named_endpoints) or 'none'}",
                404,
                f"the runtime has no endpoint {shown(qualifier)} (ResourceNotFoundException)",
                f"call ?qualifier={DEFAULT_QUALIFIER} (or an endpoint the runtime has)",
            )
        )
        return findings
    live, status = endpoint.get("liveVersion"), endpoint.get("status")
    if not live:
        findings.append(
            _fail(
                "runtime.qualifier",
                f"endpoint {qualifier} is {shown(status)} and serves no version yet",
                409,
                "nothing is live behind the endpoint yet",
                "wait until the endpoint is READY (secure-rollout status shows the rollout's progress)",
            )
        )
        return findings
    pending = endpoint.get("targetVersion")
    moving = f"; moving to version {pending}" if pending and pending != live else ""
    findings.append(
        _ok("runtime.qualifier", f"endpoint {qualifier} ({status}) serves version {live}{moving}: checked against it")
    )
    return findings


def runtime_findings(
    runtime: Mapping[str, Any], claims: Mapping[str, Any] | None, method: str, invocation: Invocation | None
) -> list[Finding]:
    name = str(runtime.get("agentRuntimeName") or runtime.get("agentRuntimeId") or "?")
    findings = invocation_findings(invocation, runtime, method) if invocation is not None else []
    jwt = _jwt(runtime.get("authorizerConfiguration"))
    findings.append(_auth_method(RUNTIME, name, "CUSTOM_JWT" if jwt else "AWS_IAM", method))
    if method == BEARER:
        if jwt is not None and claims is not None:
            findings += authorizer_findings(RUNTIME, jwt, claims)
        findings.append(_header_allowlist(runtime))
    return findings


def gateway_findings(gateway: Mapping[str, Any], claims: Mapping[str, Any] | None, method: str) -> list[Finding]:
    name = str(gateway.get("name") or gateway.get("gatewayId") or "?")
    authorizer_type = str(gateway.get("authorizerType") or "NONE")
    findings = [_auth_method(GATEWAY, name, authorizer_type, method)]
    jwt = _jwt(gateway.get("authorizerConfiguration"))
    if method == BEARER and authorizer_type == "CUSTOM_JWT" and jwt is not None and claims is not None:
        findings += authorizer_findings(GATEWAY, jwt, claims)
    return findings


def missing_gateway(name: str) -> Finding:
    return _fail(
        "gateway.exists",
        f"no gateway named {name}",
        404,
        f"gateway {name} does not exist (yet): the agent's tool calls have nowhere secured to go",
        "run the rollout (`secure-rollout apply`): it creates the secured gateway",
    )


def diagnose(
    token: str | None,
    runtime: Mapping[str, Any] | None,
    gateway: Mapping[str, Any] | None,
    *,
    now: float,
    method: str = BEARER,
    invocation: Invocation | None = None,
    skew_seconds: int = DEFAULT_SKEW_SECONDS,
) -> list[Finding]:
    """Every finding for a caller with `token` (bearer) or a SigV4-signed caller, against the runtime's (live
    version's) record and the gateway's; None skips that resource. No field of the result holds the token."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    findings: list[Finding] = []
    claims: dict[str, Any] | None = None
    if method == BEARER:
        found, claims = token_findings(token, now, skew_seconds)
        findings += found
    if runtime is not None:
        findings += runtime_findings(runtime, claims, method, invocation)
    if gateway is not None:
        findings += gateway_findings(gateway, claims, method)
    return scrubbed(findings, [token] if token else [])


def scrubbed(findings: Iterable[Finding], tokens: Sequence[str]) -> list[Finding]:
    """Findings with any field that holds a token, its signature or a fragment of either replaced: belt and braces
    on top of `shown` (a claim could quote the token)."""
    # A signature shorter than 16 characters is no RS256 one (a test's or a paste's junk): its letters prove nothing.
    secrets = [t for token in tokens for t in (token, token.rsplit(".", 1)[-1]) if t and (t == token or len(t) >= 16)]

    def clean(text: str | None) -> str | None:
        return REDACTED if text is not None and any(contains_fragment(text, s) for s in secrets) else text

    return [
        replace(finding, detail=clean(finding.detail) or "", cause=clean(finding.cause), fix=clean(finding.fix))
        for finding in findings
    ]


def outcome(findings: Sequence[Finding], kind: str) -> int | None:
    """The status a caller would get from `kind` (runtime or gateway): the first failing check of its own (the URL,
    the method) or, for a JWT-protected resource, of the token, in the order AgentCore checks; None if none fails
    with a status (the call goes through)."""
    own = [f for f in findings if f.check.startswith(f"{kind}.")]
    if not own:
        return None
    for finding in own:
        if finding.check.endswith((".invocation_url", ".qualifier", ".exists")) and not finding.ok:
            return finding.status
    method = next((f for f in own if f.check.endswith(".auth_method")), None)
    if method is not None and not method.ok:
        return method.status
    for finding in [*[f for f in findings if f.check.startswith("token.")], *own]:
        if not finding.ok and finding.status is not None:
            return finding.status
    return None


def failures_line(findings: Sequence[Finding], limit: int = 6) -> str:
    """The failing findings in one line (for an error message): `check (status): detail`, at most `limit`."""
    failing = [f for f in findings if not f.ok]
    parts = [f"{f.check} ({f.status or 'no error status'}): {f.detail}" for f in failing[:limit]]
    if len(failing) > limit:
        parts.append(f"{len(failing) - limit} more")
    return "; ".join(parts)
