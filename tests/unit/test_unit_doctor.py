"""rollout_core.doctor: each kind of bad token, caller and URL gets the finding - status, cause, fix - AgentCore's
refusal would have; a good token passes every check; no finding ever holds the token or its signature.

Tokens are real RS256 JWTs signed with a local key (the doctor never verifies signatures: it reads claims)."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from rollout_core import doctor
from rollout_core.doctor import Finding, Invocation

REGION = "us-east-1"
POOL = "us-east-1_AbCdEf123"
OTHER_POOL = "eu-west-1_ZyXwVu987"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
CLIENT = "3n4b5c6d7e8f9g0h1i2j3k4l5m"
OTHER_CLIENT = "9z8y7x6w5v4u3t2s1r0q9p8o7n"
SCOPE = "customersupport/invoke"
NOW = 1_760_000_000
ARN = f"arn:aws:bedrock-agentcore:{REGION}:123456789012:runtime/CustomerSupport-abcdefghij"
DATA_PLANE = f"https://bedrock-agentcore.{REGION}.amazonaws.com"
URL = f"{DATA_PLANE}/runtimes/{urllib.parse.quote(ARN, safe='')}/invocations?qualifier=DEFAULT"
AUTHORIZER = {"customJWTAuthorizer": {"discoveryUrl": DISCOVERY, "allowedClients": [CLIENT], "allowedScopes": [SCOPE]}}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def access_claims(**overrides: Any) -> dict[str, Any]:
    """Claims of a Cognito M2M access token (no aud); an override of None removes a claim."""
    claims = {
        "sub": CLIENT,
        "token_use": "access",
        "scope": SCOPE,
        "auth_time": NOW - 60,
        "iss": ISSUER,
        "exp": NOW + 3540,
        "iat": NOW - 60,
        "version": 2,
        "jti": "0b7e3c1e-8d7f-4a2b-9c3d-1e2f3a4b5c6d",
        "client_id": CLIENT,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: rsa.RSAPrivateKey, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "local-key", **header})


def sign_any(key: rsa.RSAPrivateKey, claims: dict[str, Any]) -> str:
    """Signed by hand: PyJWT refuses to write some claims a broken issuer could (a non-string iss)."""

    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'RS256', 'kid': 'local-key'})}.{part(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def runtime(authorizer: dict[str, Any] | None = AUTHORIZER, allowlist: list[str] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "agentRuntimeArn": ARN,
        "agentRuntimeId": "CustomerSupport-abcdefghij",
        "agentRuntimeName": "CustomerSupport",
        "agentRuntimeVersion": "2",
        "requestHeaderConfiguration": {"requestHeaderAllowlist": allowlist or ["Authorization"]},
    }
    if authorizer is not None:
        record["authorizerConfiguration"] = authorizer
    return record


def gateway(authorizer_type: str = "CUSTOM_JWT", authorizer: dict[str, Any] | None = AUTHORIZER) -> dict[str, Any]:
    record: dict[str, Any] = {"gatewayId": "my-gateway-secure-k3j4h5g6f7", "name": "my-gateway-secure"}
    record["authorizerType"] = authorizer_type
    if authorizer is not None and authorizer_type == "CUSTOM_JWT":
        record["authorizerConfiguration"] = authorizer
    return record


def invocation(url: str = URL, endpoints: dict[str, Any] | None = None) -> Invocation:
    default = {"DEFAULT": {"name": "DEFAULT", "status": "READY", "liveVersion": "2", "targetVersion": "2"}}
    return Invocation(url, DATA_PLANE, default if endpoints is None else endpoints)


def diagnose(token: str | None, **kwargs: Any) -> dict[str, Finding]:
    """Findings by check, after proving no field holds the token or its signature."""
    kwargs.setdefault("invocation", invocation())
    findings = doctor.diagnose(
        token,
        kwargs.pop("runtime_record", runtime()),
        kwargs.pop("gateway_record", gateway()),
        now=NOW,
        **kwargs,
    )
    assert_no_secret(findings, token)
    by_check = {f.check: f for f in findings}
    assert len(by_check) == len(findings), "one finding per check"
    for finding in findings:
        if not finding.ok:
            assert finding.cause, finding
            assert finding.fix, finding
    return by_check


def assert_no_secret(findings: list[Finding], token: str | None) -> None:
    text = json.dumps([f.to_dict() for f in findings])
    if token:
        assert token not in text
        signature = token.rsplit(".", 1)[-1]
        if len(signature) >= 16:  # a real signature, not a test's junk value
            assert signature not in text
            assert signature[:16] not in text


def failing(findings: dict[str, Finding]) -> dict[str, int | None]:
    return {check: f.status for check, f in findings.items() if not f.ok}


# --- a good token, and each kind of bad one ------------------------------------------------------------------


def test_a_good_access_token_passes_every_check(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims()))
    assert failing(findings) == {}
    assert set(findings) >= {
        "token.format",
        "token.use",
        "token.expiry",
        "token.clock_skew",
        "runtime.invocation_url",
        "runtime.qualifier",
        "runtime.auth_method",
        "runtime.issuer",
        "runtime.client",
        "runtime.audience",
        "runtime.scopes",
        "runtime.header_allowlist",
        "gateway.auth_method",
        "gateway.issuer",
        "gateway.client",
        "gateway.scopes",
    }
    assert f"from pool {POOL}" in findings["token.format"].detail
    outcome = {kind: doctor.outcome(list(findings.values()), kind) for kind in ("runtime", "gateway")}
    assert outcome == {"runtime": None, "gateway": None}


def test_a_token_of_another_client_is_refused_by_both_authorizers(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims(client_id=OTHER_CLIENT, sub=OTHER_CLIENT)))
    assert failing(findings) == {"runtime.client": 403, "gateway.client": 403}
    client = findings["runtime.client"]
    assert f"client_id '{OTHER_CLIENT}' is not in allowedClients ['{CLIENT}']" in client.detail
    assert f"mint the token with client '{CLIENT}'" in str(client.fix)
    assert doctor.outcome(list(findings.values()), "runtime") == 403


def test_an_expired_token_is_refused_with_when_it_expired(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims(iat=NOW - 7200, exp=NOW - 3600)))
    assert failing(findings) == {"token.expiry": 403}
    assert "expired 60 min ago" in findings["token.expiry"].detail
    assert "mint a new token" in str(findings["token.expiry"].fix)
    assert doctor.outcome(list(findings.values()), "runtime") == 403
    assert doctor.outcome(list(findings.values()), "gateway") == 403


def test_expiry_within_the_clock_skew_still_passes_but_says_renew(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims(exp=NOW - 3)), skew_seconds=10)
    assert failing(findings) == {}
    assert "renew it now" in findings["token.expiry"].detail


def test_a_token_of_another_pool_names_both_pools(key: rsa.RSAPrivateKey) -> None:
    other = f"https://cognito-idp.eu-west-1.amazonaws.com/{OTHER_POOL}"
    findings = diagnose(sign(key, access_claims(iss=other)))
    assert failing(findings) == {"runtime.issuer": 403, "gateway.issuer": 403}
    issuer = findings["runtime.issuer"]
    assert f"from user pool {OTHER_POOL} (region eu-west-1, not us-east-1)" in str(issuer.cause)
    assert f"trusts pool {POOL}" in str(issuer.cause)
    assert f"UserPoolId={OTHER_POOL}" in str(issuer.fix)


def test_an_issuer_that_is_no_cognito_pool_is_named_as_such(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims(iss="https://login.example.com/")))
    assert failing(findings) == {"runtime.issuer": 403, "gateway.issuer": 403}
    assert "'https://login.example.com/'" in findings["runtime.issuer"].detail
    assert f"identity provider of {DISCOVERY}" in str(findings["runtime.issuer"].fix)


def test_an_id_token_is_refused_for_its_token_use_and_its_missing_client_id(key: rsa.RSAPrivateKey) -> None:
    claims = access_claims(token_use="id", aud=CLIENT, client_id=None, scope=None, email="ops@example.com")
    findings = diagnose(sign(key, claims))
    assert failing(findings) == {
        "token.use": 403,
        "runtime.client": 403,
        "runtime.scopes": 403,
        "gateway.client": 403,
        "gateway.scopes": 403,
    }
    assert "an ID token" in str(findings["token.use"].cause)
    assert "access token" in str(findings["token.use"].fix)
    assert "only access tokens carry" in str(findings["runtime.client"].cause)


def test_a_token_without_the_required_scope_names_the_scope_to_ask_for(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims(scope="customersupport/read")))
    assert failing(findings) == {"runtime.scopes": 403, "gateway.scopes": 403}
    assert f"mint the token with scope={SCOPE}" in str(findings["runtime.scopes"].fix)


def test_an_audience_check_refuses_every_cognito_m2m_token(key: rsa.RSAPrivateKey) -> None:
    with_audience = {"customJWTAuthorizer": {**AUTHORIZER["customJWTAuthorizer"], "allowedAudience": [CLIENT]}}
    findings = diagnose(sign(key, access_claims()), runtime_record=runtime(with_audience))
    assert failing(findings) == {"runtime.audience": 403}
    assert "carry no aud" in str(findings["runtime.audience"].cause)
    assert "allowedClients instead of allowedAudience" in str(findings["runtime.audience"].fix)


def test_a_token_issued_in_the_future_is_a_clock_skew(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims(iat=NOW + 600, auth_time=NOW + 600)))
    assert failing(findings) == {"token.clock_skew": 403}
    assert "10 min ahead of this clock" in findings["token.clock_skew"].detail


def test_no_token_is_a_401(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(None)
    assert failing(findings) == {"token.present": 401}
    assert doctor.outcome(list(findings.values()), "runtime") == 401


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not-a-jwt", "1 dot-separated part(s)"),
        ("a.b.c.d", "4 dot-separated part(s)"),
        ("eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24.c2ln", "claims is not base64url-encoded JSON"),
        ("eyJhbGciOiJSUzI1NiJ9.WzEsMl0.c2ln", "claims is a JSON list"),
    ],
)
def test_a_bearer_value_that_is_no_jwt(value: str, why: str) -> None:
    findings = diagnose(value)
    assert failing(findings) == {"token.format": 403}
    assert why in findings["token.format"].detail


def test_a_token_not_signed_rs256_with_a_kid(key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(access_claims(), "a-shared-secret-of-32-bytes-min!", algorithm="HS256")
    findings = diagnose(token)
    assert failing(findings) == {"token.algorithm": 403}
    assert "alg 'HS256', kid missing" in findings["token.algorithm"].detail


def test_bearer_value_strips_what_people_paste() -> None:
    assert doctor.bearer_value('  "Bearer abc.def.ghi"\n') == "abc.def.ghi"
    assert doctor.bearer_value("bearer abc.def.ghi") == "abc.def.ghi"
    assert doctor.bearer_value("abc.def.ghi\n") == "abc.def.ghi"


# --- SigV4 vs bearer, allowlist ------------------------------------------------------------------------------


def test_a_bearer_call_to_a_runtime_without_authorizer_is_a_method_mismatch(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims()), runtime_record=runtime(authorizer=None))
    assert failing(findings) == {"runtime.auth_method": 403}
    assert "Authorization method mismatch" in str(findings["runtime.auth_method"].cause)
    assert "secure-rollout apply" in str(findings["runtime.auth_method"].fix)
    assert "runtime.issuer" not in findings  # nothing to compare the claims with
    assert doctor.outcome(list(findings.values()), "runtime") == 403


def test_a_sigv4_call_to_the_jwt_runtime_and_gateway_is_a_method_mismatch() -> None:
    findings = diagnose(None, method=doctor.SIGV4)
    assert failing(findings) == {"runtime.auth_method": 403, "gateway.auth_method": 403}
    assert "Authorization: Bearer" in str(findings["runtime.auth_method"].fix)
    assert not any(check.startswith("token.") for check in findings)


def test_a_sigv4_call_to_an_iam_runtime_passes() -> None:
    findings = diagnose(None, method=doctor.SIGV4, runtime_record=runtime(None), gateway_record=gateway("AWS_IAM"))
    assert failing(findings) == {}


def test_an_iam_gateway_refuses_bearers_and_an_open_one_is_not_secured(key: rsa.RSAPrivateKey) -> None:
    token = sign(key, access_claims())
    iam = diagnose(token, gateway_record=gateway("AWS_IAM"))
    assert failing(iam) == {"gateway.auth_method": 403}
    open_gateway = diagnose(token, gateway_record=gateway("NONE"))
    assert failing(open_gateway) == {"gateway.auth_method": None}
    assert "admits every caller" in str(open_gateway["gateway.auth_method"].cause)
    assert doctor.outcome(list(open_gateway.values()), "gateway") is None


def test_an_allowlist_without_authorization_starves_the_agents_gateway_calls(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims()), runtime_record=runtime(allowlist=["X-Custom-Header"]))
    assert failing(findings) == {"runtime.header_allowlist": None}
    assert "gateway answers them 401" in str(findings["runtime.header_allowlist"].cause)
    assert doctor.outcome(list(findings.values()), "runtime") is None


def test_a_missing_gateway_is_a_finding() -> None:
    finding = doctor.missing_gateway("my-gateway-secure")
    assert (finding.check, finding.ok, finding.status) == ("gateway.exists", False, 404)
    assert doctor.outcome([finding], "gateway") == 404


# --- the invocation URL and qualifier ------------------------------------------------------------------------


def test_an_arn_that_is_not_url_encoded_is_no_route(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims()), invocation=invocation(f"{DATA_PLANE}/runtimes/{ARN}/invocations"))
    assert failing(findings) == {"runtime.invocation_url": None}
    assert "URL-encoded" in str(findings["runtime.invocation_url"].cause)


def test_another_runtimes_arn_is_a_404(key: rsa.RSAPrivateKey) -> None:
    other = ARN.replace("abcdefghij", "zzzzzzzzzz")
    url = f"{DATA_PLANE}/runtimes/{urllib.parse.quote(other, safe='')}/invocations"
    findings = diagnose(sign(key, access_claims()), invocation=invocation(url))
    assert failing(findings) == {"runtime.invocation_url": 404}


def test_an_unknown_qualifier_is_a_404_naming_the_endpoints(key: rsa.RSAPrivateKey) -> None:
    findings = diagnose(sign(key, access_claims()), invocation=invocation(URL.replace("DEFAULT", "prod")))
    assert failing(findings) == {"runtime.qualifier": 404}
    assert "the runtime's endpoints: ['DEFAULT']" in findings["runtime.qualifier"].detail
    assert doctor.outcome(list(findings.values()), "runtime") == 404


def test_no_qualifier_means_default_and_a_moving_endpoint_is_said(key: rsa.RSAPrivateKey) -> None:
    moving = {"DEFAULT": {"status": "UPDATING", "liveVersion": "2", "targetVersion": "3"}}
    findings = diagnose(sign(key, access_claims()), invocation=invocation(URL.split("?")[0], moving))
    assert failing(findings) == {}
    assert "serves version 2; moving to version 3" in findings["runtime.qualifier"].detail


def test_another_host_is_named_without_credentials_in_the_url(key: rsa.RSAPrivateKey) -> None:
    url = URL.replace("https://", "https://user:pa55word@").replace("us-east-1.amazonaws", "eu-west-1.amazonaws")
    findings = diagnose(sign(key, access_claims()), invocation=invocation(url))
    assert failing(findings) == {"runtime.invocation_url": None}
    assert "pa55word" not in json.dumps([f.to_dict() for f in findings.values()])


def test_a_token_in_the_query_string_is_never_read_nor_shown(key: rsa.RSAPrivateKey) -> None:
    token = sign(key, access_claims())
    findings = diagnose(token, invocation=invocation(f"{URL}&access_token={token}"))
    assert failing(findings) == {"runtime.token_in_url": 401}
    assert doctor.shown_url(f"{URL}&access_token={token}") == URL


# --- what is shown -------------------------------------------------------------------------------------------


def test_claims_that_are_not_plain_identifiers_are_not_shown(key: rsa.RSAPrivateKey) -> None:
    token = sign_any(key, access_claims(client_id="<script>alert(1)</script>", iss={"nested": True}))
    findings = diagnose(token)
    assert "<str not shown>" in findings["runtime.client"].detail
    assert "<dict not shown>" in findings["runtime.issuer"].detail


def test_scrubbed_replaces_any_field_holding_the_token_or_a_fragment_of_its_signature(
    key: rsa.RSAPrivateKey,
) -> None:
    token = sign(key, access_claims())
    signature = token.rsplit(".", 1)[-1]
    findings = [
        Finding("a", False, f"echo {token}", 403, "fine", "fine"),
        Finding("b", False, "fine", 403, f"part {signature[40:60]}", "fine"),
    ]
    cleaned = doctor.scrubbed(findings, [token])
    assert [(f.detail, f.cause, f.fix) for f in cleaned] == [
        ("[redacted]", "fine", "fine"),
        ("fine", "[redacted]", "fine"),
    ]


def test_the_method_must_be_known() -> None:
    with pytest.raises(ValueError, match="method must be one of bearer, sigv4; got 'basic'"):
        doctor.diagnose(None, None, None, now=time.time(), method="basic")


def test_failures_line_is_one_line_per_failure(key: rsa.RSAPrivateKey) -> None:
    findings = doctor.diagnose(
        sign(key, access_claims(client_id=OTHER_CLIENT)), runtime(), None, now=NOW, invocation=invocation()
    )
    line = doctor.failures_line(findings)
    assert line == f"runtime.client (403): client_id '{OTHER_CLIENT}' is not in allowedClients ['{CLIENT}']"
    assert "\n" not in line
