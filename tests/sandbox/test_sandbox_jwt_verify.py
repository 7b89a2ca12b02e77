"""CUSTOM_JWT authorizer decisions against tokens from the loopback Cognito (real HTTP discovery + JWKS)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sandbox.cognito import CognitoServer
from sandbox.jwt_verify import (
    MAX_TOKEN_CHARS,
    UNEXPECTED_FAILURE_REASON,
    JwtVerifier,
    ambiguous_authorization,
    verify_bearer,
)
from tests.sandbox.helpers import SCOPE, Pool, assert_not_leaked, create_client, fetch_token, jwt_authorizer

METADATA_URL = "http://127.0.0.1:9/.well-known/oauth-protected-resource/runtimes/x/invocations"


class CountingFetch:
    """Real HTTP fetches, counted per URL, to observe what the verifier caches."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.calls: list[str] = []

    def __call__(self, url: str) -> Any:
        self.calls.append(url)
        response = self.http.get(url)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def fetches(http: httpx.Client) -> CountingFetch:
    return CountingFetch(http)


@pytest.fixture
def verifier(fetches: CountingFetch) -> JwtVerifier:
    return JwtVerifier(fetch=fetches)


def test_no_authorizer_is_open(verifier: JwtVerifier) -> None:
    decision = verifier.verify(None, None)

    assert decision.allowed
    assert decision.status == 200
    assert decision.client_id is None


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "token-without-scheme"])
def test_missing_or_non_bearer_header_is_401_with_challenge(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, fetches: CountingFetch, header: str | None
) -> None:
    decision = verifier.verify(header, jwt_authorizer(cognito, pool.pool_id), METADATA_URL)

    assert decision.status == 401
    assert decision.www_authenticate == f'Bearer resource_metadata="{METADATA_URL}"'
    assert fetches.calls == []  # nothing to verify, nothing fetched


def test_sigv4_on_a_jwt_resource_is_a_method_mismatch(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool
) -> None:
    header = "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/bedrock-agentcore/aws4_request, Signature=abc"

    decision = verifier.verify(header, jwt_authorizer(cognito, pool.pool_id))

    assert decision.status == 403
    assert "Authorization method mismatch" in decision.reason


def test_valid_token_is_accepted_with_identity(
    verifier: JwtVerifier, http: httpx.Client, cognito: CognitoServer, pool: Pool
) -> None:
    token = fetch_token(http, cognito, pool)

    decision = verifier.verify(
        f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    )

    assert decision.allowed, decision.reason
    assert decision.client_id == pool.client_id
    assert decision.claims["scope"] == SCOPE
    assert decision.www_authenticate is None


def test_module_level_verify_bearer(http: httpx.Client, cognito: CognitoServer, pool: Pool) -> None:
    token = fetch_token(http, cognito, pool)
    config = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])

    assert verify_bearer(f"bearer {token}", config).status == 200  # scheme is case-insensitive
    assert verify_bearer(None, config, METADATA_URL).status == 401


REFUSALS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    # name: (mint_token kwargs, authorizer extras, expected reason fragment)
    "expired": ({"lifetime": -120}, {}, "expired"),
    "wrong issuer": ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, {}, "issuer"),
    "foreign key": ({"foreign_key": True}, {}, "signature"),
    "unknown kid": ({"kid": "not-published"}, {}, "not in the issuer's JWKS"),
    "id token": ({"token_use": "id"}, {}, "token_use"),
    "no exp": ({"exp": None}, {}, "'exp'"),
    "not yet valid": ({"nbf": 4102444800}, {}, "not yet valid"),
    "client not allowed": ({}, {"allowedClients": ["someone-else"]}, "allowedClients"),
    "no aud for allowedAudience": ({}, {"allowedAudience": ["my-api"]}, "allowedAudience"),
    "scope not allowed": ({}, {"allowedScopes": ["customersupport/admin"]}, "allowedScopes"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_invalid_tokens_are_403_without_leaking_the_token(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, case: str
) -> None:
    mint_args, extras, fragment = REFUSALS[case]
    token = cognito.mint_token(pool.client_id, **mint_args)

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id, **extras), METADATA_URL)

    assert decision.status == 403
    assert fragment in decision.reason
    assert token not in decision.reason
    assert token.split(".")[2] not in decision.reason
    assert decision.claims == {}


def test_allowed_audience_and_scopes_accept_matching_tokens(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool
) -> None:
    token = cognito.mint_token(pool.client_id, aud=["my-api", "other"])
    config = jwt_authorizer(cognito, pool.pool_id, allowedAudience=["my-api"], allowedScopes=[SCOPE, "x/y"])

    assert verifier.verify(f"Bearer {token}", config).allowed


@pytest.mark.parametrize(
    ("claims", "rule", "allowed"),
    [
        ({"tenant": "acme"}, ("STRING", "EQUALS", {"matchValueString": "acme"}), True),
        ({"tenant": "evil"}, ("STRING", "EQUALS", {"matchValueString": "acme"}), False),
        ({"groups": ["a", "b"]}, ("STRING_ARRAY", "CONTAINS", {"matchValueString": "b"}), True),
        ({"groups": ["a"]}, ("STRING_ARRAY", "CONTAINS", {"matchValueString": "b"}), False),
        ({"groups": ["a", "c"]}, ("STRING_ARRAY", "CONTAINS_ANY", {"matchValueStringList": ["c", "d"]}), True),
        ({}, ("STRING_ARRAY", "CONTAINS_ANY", {"matchValueStringList": ["c", "d"]}), False),
    ],
)
def test_custom_claims(
    verifier: JwtVerifier,
    cognito: CognitoServer,
    pool: Pool,
    claims: dict[str, Any],
    rule: tuple[str, str, dict[str, Any]],
    allowed: bool,
) -> None:
    value_type, operator, match = rule
    name = next(iter(claims), "groups")
    config = jwt_authorizer(
        cognito,
        pool.pool_id,
        customClaims=[
            {
                "inboundTokenClaimName": name,
                "inboundTokenClaimValueType": value_type,
                "authorizingClaimMatchValue": {"claimMatchValue": match, "claimMatchOperator": operator},
            }
        ],
    )
    token = cognito.mint_token(pool.client_id, **claims)

    assert verifier.verify(f"Bearer {token}", config).allowed is allowed


def test_algorithm_confusion_and_garbage_are_refused(verifier: JwtVerifier, cognito: CognitoServer, pool: Pool) -> None:
    config = jwt_authorizer(cognito, pool.pool_id)
    claims = jwt.decode(cognito.mint_token(pool.client_id), options={"verify_signature": False})
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": cognito.kid})
    hmac_signed = jwt.encode(
        claims, "a-shared-secret-of-sufficient-length!", algorithm="HS256", headers={"kid": cognito.kid}
    )

    for token in (unsigned, hmac_signed, "not.a.jwt", "abc"):
        decision = verifier.verify(f"Bearer {token}", config)
        assert decision.status == 403, token


def test_discovery_is_cached_but_the_authorizer_config_is_not(
    verifier: JwtVerifier, fetches: CountingFetch, cognito: CognitoServer, pool: Pool, cognito_idp: Any
) -> None:
    token = cognito.mint_token(pool.client_id)
    open_to_client = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    closed_to_client = jwt_authorizer(cognito, pool.pool_id, allowedClients=["someone-else"])

    assert verifier.verify(f"Bearer {token}", open_to_client).allowed
    assert verifier.verify(f"Bearer {token}", closed_to_client).status == 403
    assert verifier.verify(f"Bearer {token}", open_to_client).allowed

    assert fetches.calls == [cognito.discovery_url(pool.pool_id), cognito.jwks_url(pool.pool_id)]


def test_unknown_kid_refetches_jwks_once(
    verifier: JwtVerifier, fetches: CountingFetch, cognito: CognitoServer, pool: Pool
) -> None:
    config = jwt_authorizer(cognito, pool.pool_id)
    assert verifier.verify(f"Bearer {cognito.mint_token(pool.client_id)}", config).allowed

    decision = verifier.verify(f"Bearer {cognito.mint_token(pool.client_id, kid='rotated')}", config)

    assert decision.status == 403
    assert fetches.calls.count(cognito.jwks_url(pool.pool_id)) == 2


def test_unreachable_discovery_is_refused(verifier: JwtVerifier, cognito: CognitoServer, pool: Pool) -> None:
    token = cognito.mint_token(pool.client_id)

    unknown_pool = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, "us-east-1_missing"))
    nothing_listening = verifier.verify(
        f"Bearer {token}",
        {"customJWTAuthorizer": {"discoveryUrl": "http://127.0.0.1:9/p/.well-known/openid-configuration"}},
    )

    assert unknown_pool.status == nothing_listening.status == 403
    assert "could not load" in unknown_pool.reason


def test_token_from_another_pool_is_refused(
    verifier: JwtVerifier, http: httpx.Client, cognito: CognitoServer, pool: Pool, cognito_idp: Any
) -> None:
    other_pool = cognito_idp.create_user_pool(PoolName="Other")["UserPool"]["Id"]
    cognito_idp.create_user_pool_domain(Domain="other-pool", UserPoolId=other_pool)
    cognito_idp.create_resource_server(
        UserPoolId=other_pool,
        Identifier="customersupport",
        Name="x",
        Scopes=[{"ScopeName": "invoke", "ScopeDescription": "d"}],
    )
    client_id, secret = create_client(cognito_idp, other_pool)
    token = fetch_token(http, cognito, Pool(other_pool, client_id, secret))

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id))

    assert decision.status == 403
    assert "issuer" in decision.reason


# -- hardening: every malformed or unsupported token is a 403, never an exception ------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(cognito: CognitoServer, pool: Pool, **changes: Any) -> dict[str, Any]:
    """The claims of a genuine access token, changed (None removes a claim)."""
    claims: dict[str, Any] = jwt.decode(cognito.mint_token(pool.client_id), options={"verify_signature": False})
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _with_raw_header(token: str, header: bytes) -> str:
    _, payload, signature = token.split(".")
    return f"{_b64url(header)}.{payload}.{signature}"


def _public_pem(cognito: CognitoServer) -> bytes:
    public_key = RSAAlgorithm.from_jwk(json.dumps(cognito.jwks()["keys"][0]))
    assert isinstance(public_key, rsa.RSAPublicKey)
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    signing_input = (
        f"{_b64url(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{_b64url(json.dumps(claims).encode())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def test_public_sign_makes_tokens_the_verifier_accepts(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool
) -> None:
    config = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id], allowedScopes=[SCOPE])
    claims = _claims(cognito, pool)

    genuine = cognito.sign(claims)
    forged = cognito.sign_with_foreign_key(claims)

    assert verifier.verify(f"Bearer {genuine}", config).allowed
    assert jwt.get_unverified_header(forged) == {"alg": "RS256", "kid": cognito.kid}
    assert verifier.verify(f"Bearer {forged}", config).reason == "invalid token signature"
    assert {genuine, forged} <= set(cognito.issued_tokens)  # leak scans see them too


HEADER_REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    # name: (header changes for a token signed by the pool's real key, expected reason fragment)
    "crit": ({"crit": ["urn:example:ext"], "urn:example:ext": True}, "'crit'"),
    "crit naming a registered member": ({"crit": ["exp"]}, "'crit'"),
    "crit not a list": ({"crit": "exp"}, "'crit'"),
    "b64 false": ({"b64": False, "crit": ["b64"]}, "'crit'"),
    "jku": ({"jku": "http://127.0.0.1:9/attacker/jwks.json"}, "jku is never followed"),
    "x5u": ({"x5u": "http://127.0.0.1:9/attacker/cert.pem"}, "x5u is never followed"),
    "embedded jwk": ({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}, "embedded jwk"),
    "x5c": ({"x5c": ["MIIB"]}, "x5c"),
    "jwe enc": ({"enc": "A256GCM"}, "JWE"),
    "zip": ({"zip": "DEF"}, "compressed"),
    "kid missing": ({"kid": None}, "no key id"),
    "kid a number": ({"kid": 123}, "not a usable string"),
    "kid a list": ({"kid": ["a"]}, "not a usable string"),
    "kid an object": ({"kid": {"$ne": ""}}, "not a usable string"),
    "kid empty": ({"kid": ""}, "not a usable string"),
    "kid huge": ({"kid": "k" * 5000}, "not a usable string"),
    "typ not a string": ({"typ": 1}, "typ"),
    "alg none": ({"alg": "none"}, "unsupported token algorithm"),
    "alg None": ({"alg": "None"}, "unsupported token algorithm"),
    "alg missing": ({"alg": None}, "unsupported token algorithm"),
    "alg lower-case rs256": ({"alg": "rs256"}, "unsupported token algorithm"),
    "alg HS256": ({"alg": "HS256"}, "unsupported token algorithm"),
    "alg ES256": ({"alg": "ES256"}, "unsupported token algorithm"),
    "alg PS256": ({"alg": "PS256"}, "unsupported token algorithm"),
    "alg a list": ({"alg": ["RS256"]}, "unsupported token algorithm"),
}


@pytest.mark.parametrize("case", list(HEADER_REFUSALS))
def test_header_rules_refuse_even_genuinely_signed_tokens(
    verifier: JwtVerifier, fetches: CountingFetch, cognito: CognitoServer, pool: Pool, case: str
) -> None:
    changes, fragment = HEADER_REFUSALS[case]
    token = cognito.sign(_claims(cognito, pool), changes)

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id))

    assert decision.status == 403
    assert fragment in decision.reason
    assert_not_leaked(token, decision.reason)
    assert fetches.calls == []  # refused on the header alone: nothing fetched, jku/x5u never followed


def test_jku_and_embedded_jwk_of_an_attacker_key_are_refused_and_never_fetched(
    verifier: JwtVerifier, fetches: CountingFetch, cognito: CognitoServer, pool: Pool
) -> None:
    attacker_jwks_url = f"{cognito.base_url}/attacker/.well-known/jwks.json"
    claims = _claims(cognito, pool)
    tokens = [
        cognito.sign_with_foreign_key(claims, {"jku": attacker_jwks_url}),
        cognito.sign_with_foreign_key(claims, {"jwk": cognito.foreign_jwk()}),
        cognito.sign_with_foreign_key(claims, {"x5u": attacker_jwks_url}),
    ]

    decisions = [verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id)) for token in tokens]

    assert [d.status for d in decisions] == [403, 403, 403]
    assert attacker_jwks_url not in fetches.calls


RAW_HEADER_REFUSALS: dict[str, bytes] = {
    "JSON array": b'["RS256"]',
    "JSON string": b'"RS256"',
    "JSON null": b"null",
    "not JSON": b"alg=RS256",
    "not UTF-8": b'{"alg":"RS256","kid":"\xff"}',
    "duplicate alg member": b'{"alg":"none","alg":"RS256","kid":"k"}',
    "deeply nested": b'{"alg":"RS256","kid":"k","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    "empty object": b"{}",
}


@pytest.mark.parametrize("case", list(RAW_HEADER_REFUSALS))
def test_malformed_headers_are_403(verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, case: str) -> None:
    token = _with_raw_header(cognito.mint_token(pool.client_id), RAW_HEADER_REFUSALS[case])

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id))

    assert decision.status == 403
    assert_not_leaked(token, decision.reason)


@pytest.mark.parametrize(
    "case", ["two segments", "four segments", "empty signature", "padded", "unicode", "bad base64", "dots only"]
)
def test_tokens_that_are_not_compact_jws_are_403(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, case: str
) -> None:
    genuine = cognito.mint_token(pool.client_id)
    header, payload, signature = genuine.split(".")
    token = {
        "two segments": f"{header}.{payload}",
        "four segments": f"{genuine}.{signature}",
        "empty signature": f"{header}.{payload}.",
        "padded": f"{header}==.{payload}.{signature}",
        "unicode": f"{header}.{payload}é.{signature}",
        "bad base64": f"{header[:-1]}!.{payload}.{signature}",
        "dots only": "..",
    }[case]

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id))

    assert decision.status == 403
    assert "malformed token" in decision.reason


@pytest.mark.parametrize("payload", [["a", "list"], "a string", None, 42])
def test_payloads_that_are_not_json_objects_are_403_even_when_genuinely_signed(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, payload: Any
) -> None:
    token = cognito.sign(payload)

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id))

    assert (decision.status, decision.reason) == (403, "invalid token (DecodeError)")


def test_hs256_with_the_public_key_as_secret_is_refused(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool
) -> None:
    """The classic HS/RS confusion: an HMAC over the token keyed with the issuer's (public) RSA key PEM."""
    claims = _claims(cognito, pool)
    confused = _hs256(claims, _public_pem(cognito), cognito.kid)

    decision = verifier.verify(f"Bearer {confused}", jwt_authorizer(cognito, pool.pool_id))

    assert decision.status == 403
    assert "unsupported token algorithm 'HS256'" in decision.reason


def test_oversized_token_is_403_before_parsing(verifier: JwtVerifier, cognito: CognitoServer, pool: Pool) -> None:
    token = cognito.sign(_claims(cognito, pool, padding="x" * 13_000))
    assert len(token) > MAX_TOKEN_CHARS

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id))

    assert (decision.status, decision.reason) == (403, "token too large")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer {token} junk",
        "Bearer {token} {token}",
        "Bearer {token},{token}",
        "Bearer {token}, Bearer {token}",
        "Bearer {token}, Basic dXNlcjpwYXNz",
        "Basic dXNlcjpwYXNz, Bearer {token}",
    ],
)
def test_junk_after_the_token_and_joined_credentials_are_403(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, header: str
) -> None:
    token = cognito.mint_token(pool.client_id)

    decision = verifier.verify(header.format(token=token), jwt_authorizer(cognito, pool.pool_id))

    assert decision.status == 403
    assert_not_leaked(token, decision.reason)


def test_ambiguous_authorization_helper() -> None:
    sigv4 = "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/bedrock-agentcore/aws4_request, Signature=abc"

    assert ambiguous_authorization([]) is None
    assert ambiguous_authorization(["Bearer a.b.c"]) is None
    assert ambiguous_authorization([sigv4]) is None  # SigV4's own comma-separated parameters are one credential
    for values in (["Bearer a.b.c", "Bearer d.e.f"], ["Bearer a.b.c", "Bearer a.b.c"], ["", "Bearer a.b.c"]):
        refusal = ambiguous_authorization(values)
        assert refusal is not None
        assert refusal.status == 403
        assert "2 Authorization headers" in refusal.reason
    joined = ambiguous_authorization(["Bearer a.b.c, Bearer d.e.f"])
    assert joined is not None
    assert (joined.status, joined.reason) == (403, "Authorization header joins more than one credential")
    assert "a.b.c" not in joined.reason


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [
        (None, False),
        ("", False),
        ("   ", False),
        ("customersupport/admin", False),
        ("customersupport/admin other/scope", False),
        (["customersupport/invoke"], False),  # not the space-separated string Cognito issues
        (SCOPE, True),
        (f"customersupport/admin {SCOPE}", True),  # any one allowed scope suffices
    ],
)
def test_allowed_scopes_need_one_of_them_in_the_scope_claim(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, scope: Any, allowed: bool
) -> None:
    token = cognito.sign(_claims(cognito, pool, scope=scope))
    config = jwt_authorizer(cognito, pool.pool_id, allowedScopes=[SCOPE, "x/y"])

    decision = verifier.verify(f"Bearer {token}", config)

    assert decision.status == (200 if allowed else 403)
    if not allowed:
        assert decision.reason == "token carries none of allowedScopes"


@pytest.mark.parametrize(
    ("claims", "extras"),
    [
        # An object's keys are no audience (set() of a dict would have matched).
        pytest.param({"aud": {"my-api": 1}}, {"allowedAudience": ["my-api"]}, id="aud an object"),
        pytest.param({"aud": [["my-api"]]}, {"allowedAudience": ["my-api"]}, id="aud a nested list"),
        pytest.param({"aud": ["my-api", 3]}, {"allowedAudience": ["my-api"]}, id="aud with a number"),
        pytest.param({"client_id": ["someone"]}, {"allowedClients": ["someone"]}, id="client_id a list"),
        pytest.param({"client_id": None}, {"allowedClients": ["someone"]}, id="client_id missing"),
        pytest.param(
            {"groups": [["admins"], "admins"]},
            {
                "customClaims": [
                    {
                        "inboundTokenClaimName": "groups",
                        "inboundTokenClaimValueType": "STRING_ARRAY",
                        "authorizingClaimMatchValue": {
                            "claimMatchValue": {"matchValueStringList": ["admins"]},
                            "claimMatchOperator": "CONTAINS_ANY",
                        },
                    }
                ]
            },
            id="custom claim array with a list in it",
        ),
    ],
)
def test_claims_of_the_wrong_type_are_refused_not_crashed_on(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool, claims: dict[str, Any], extras: dict[str, Any]
) -> None:
    token = cognito.sign(_claims(cognito, pool, **claims))

    decision = verifier.verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id, **extras))

    assert decision.status == 403
    assert decision.reason != UNEXPECTED_FAILURE_REASON  # a rule refused it, not the safety net


def test_values_from_the_token_are_not_echoed_unless_plain(
    verifier: JwtVerifier, cognito: CognitoServer, pool: Pool
) -> None:
    config = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    injected_kid = "k\nINFO forged log line"
    long_client = "c" * 500

    by_kid = verifier.verify(f"Bearer {cognito.sign(_claims(cognito, pool), {'kid': injected_kid})}", config)
    by_alg = verifier.verify(f"Bearer {cognito.sign(_claims(cognito, pool), {'alg': 'x' * 300})}", config)
    by_client = verifier.verify(f"Bearer {cognito.sign(_claims(cognito, pool, client_id=long_client))}", config)

    assert (by_kid.status, by_alg.status, by_client.status) == (403, 403, 403)
    assert "\n" not in by_kid.reason
    assert "forged" not in by_kid.reason
    assert "x" * 300 not in by_alg.reason
    assert long_client not in by_client.reason
    assert "<str not shown>" in by_client.reason


def test_unexpected_failure_is_a_safe_403_logged_by_type_only(
    cognito: CognitoServer, pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_fetch(url: str) -> Any:
        raise RuntimeError("boom with details that must not be logged")

    token = cognito.mint_token(pool.client_id)

    decision = JwtVerifier(fetch=broken_fetch).verify(f"Bearer {token}", jwt_authorizer(cognito, pool.pool_id))

    assert (decision.status, decision.reason) == (403, UNEXPECTED_FAILURE_REASON)
    assert "RuntimeError" in caplog.text
    assert "boom" not in caplog.text
    assert_not_leaked(token, caplog.text)
