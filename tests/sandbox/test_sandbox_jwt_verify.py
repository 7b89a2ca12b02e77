"""CUSTOM_JWT authorizer decisions against tokens from the loopback Cognito (real HTTP discovery + JWKS)."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from sandbox_helpers import SCOPE, Pool, create_client, fetch_token, jwt_authorizer

from sandbox.cognito import CognitoServer
from sandbox.jwt_verify import JwtVerifier, verify_bearer

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
