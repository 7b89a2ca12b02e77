"""The loopback Cognito: client_credentials tokens from moto's records, discovery and JWKS."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import httpx
import jwt
import pytest

from sandbox.cognito import CognitoServer
from tests.sandbox.helpers import SCOPE, Pool, create_client, fetch_token


def _verify_with_published_keys(http: httpx.Client, cognito: CognitoServer, pool_id: str, token: str) -> dict[str, Any]:
    discovery = http.get(cognito.discovery_url(pool_id)).json()
    jwks = http.get(discovery["jwks_uri"]).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k).key for k in jwks["keys"] if k["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], issuer=discovery["issuer"])
    return claims


def test_client_secret_basic_issues_cognito_m2m_access_token(
    http: httpx.Client, cognito: CognitoServer, pool: Pool
) -> None:
    before = int(time.time())
    response = http.post(
        cognito.token_url,
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(pool.client_id, pool.client_secret),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    token = body["access_token"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": cognito.kid}
    claims = _verify_with_published_keys(http, cognito, pool.pool_id, token)
    assert claims["sub"] == claims["client_id"] == pool.client_id
    assert claims["token_use"] == "access"
    assert claims["scope"] == SCOPE
    assert claims["iss"] == cognito.issuer(pool.pool_id) == f"{cognito.base_url}/{pool.pool_id}"
    assert claims["version"] == 2
    assert claims["exp"] - claims["iat"] == 3600
    assert before <= claims["iat"] <= int(time.time())
    assert claims["auth_time"] == claims["iat"]
    assert len(claims["jti"]) == 36
    assert "aud" not in claims
    assert cognito.issued_tokens[-1] == token


def test_client_secret_post_and_default_scope(http: httpx.Client, cognito: CognitoServer, pool: Pool) -> None:
    response = http.post(
        cognito.token_url,
        data={"grant_type": "client_credentials", "client_id": pool.client_id, "client_secret": pool.client_secret},
    )

    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == pool.client_id
    assert claims["scope"] == SCOPE  # no scope asked: every scope the client is allowed


@pytest.mark.parametrize(
    ("form", "auth", "error"),
    [
        ({"grant_type": "client_credentials"}, ("CLIENT", "not-the-secret"), "invalid_client"),
        ({"grant_type": "client_credentials"}, ("no-such-client", "whatever"), "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "CLIENT"}, None, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, "invalid_client"),
        ({"grant_type": "password", "username": "u", "password": "p"}, ("CLIENT", "SECRET"), "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "customersupport/admin"}, ("CLIENT", "SECRET"), "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "other/invoke"}, ("CLIENT", "SECRET"), "invalid_scope"),
    ],
)
def test_token_request_errors(
    http: httpx.Client,
    cognito: CognitoServer,
    pool: Pool,
    form: dict[str, str],
    auth: tuple[str, str] | None,
    error: str,
) -> None:
    issued_before = len(cognito.issued_tokens)
    real = {"CLIENT": pool.client_id, "SECRET": pool.client_secret}
    form = {k: real.get(v, v) for k, v in form.items()}
    basic = (real.get(auth[0], auth[0]), real.get(auth[1], auth[1])) if auth else None

    response = http.post(cognito.token_url, data=form, auth=basic)  # type: ignore[arg-type]

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert len(cognito.issued_tokens) == issued_before


def test_client_without_client_credentials_flow_is_unauthorized(
    http: httpx.Client, cognito: CognitoServer, pool: Pool, cognito_idp: Any
) -> None:
    client_id, secret = create_client(
        cognito_idp, pool.pool_id, name="web", AllowedOAuthFlows=["code"], CallbackURLs=["https://example.com/cb"]
    )

    response = http.post(cognito.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))

    assert response.status_code == 400
    assert response.json() == {"error": "unauthorized_client"}


def test_client_changes_apply_to_the_next_request(
    http: httpx.Client, cognito: CognitoServer, pool: Pool, cognito_idp: Any
) -> None:
    """The server reads moto's record per request: no stale copy of the client's settings."""
    client_id, secret = create_client(cognito_idp, pool.pool_id, name="changing")
    own = Pool(pool.pool_id, client_id, secret)
    assert fetch_token(http, cognito, own)
    cognito_idp.update_user_pool_client(
        UserPoolId=pool.pool_id,
        ClientId=client_id,
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=[SCOPE],
        AllowedOAuthFlowsUserPoolClient=True,
        CallbackURLs=["https://example.com/cb"],
    )

    response = http.post(cognito.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))

    assert response.json() == {"error": "unauthorized_client"}


def test_client_token_validity_sets_lifetime(
    http: httpx.Client, cognito: CognitoServer, pool: Pool, cognito_idp: Any
) -> None:
    client_id, secret = create_client(
        cognito_idp, pool.pool_id, name="short", AccessTokenValidity=5, TokenValidityUnits={"AccessToken": "minutes"}
    )

    body = http.post(cognito.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)).json()

    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == 300
    assert claims["exp"] - claims["iat"] == 300


def test_pool_without_domain_has_no_token_endpoint(
    http: httpx.Client, cognito: CognitoServer, cognito_idp: Any
) -> None:
    pool_id = cognito_idp.create_user_pool(PoolName="NoDomain")["UserPool"]["Id"]
    client_id, secret = create_client(cognito_idp, pool_id, AllowedOAuthScopes=["openid"])

    response = http.post(cognito.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))

    assert response.status_code == 404


def test_form_encoding_is_required(http: httpx.Client, cognito: CognitoServer, pool: Pool) -> None:
    response = http.post(
        cognito.token_url,
        json={"grant_type": "client_credentials"},
        auth=(pool.client_id, pool.client_secret),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_discovery_and_jwks(http: httpx.Client, cognito: CognitoServer, pool: Pool) -> None:
    discovery = http.get(cognito.discovery_url(pool.pool_id))
    assert discovery.status_code == 200
    document = discovery.json()
    assert document["issuer"] == cognito.issuer(pool.pool_id)
    assert document["jwks_uri"] == f"{cognito.base_url}/{pool.pool_id}/.well-known/jwks.json"
    assert document["token_endpoint"] == cognito.token_url
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}

    jwks = http.get(document["jwks_uri"]).json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert (key["kid"], key["alg"], key["use"], key["kty"]) == (cognito.kid, "RS256", "sig", "RSA")
    assert {"n", "e"} <= set(key)
    assert "d" not in key  # public half only


@pytest.mark.parametrize("document", ["openid-configuration", "jwks.json"])
def test_unknown_pool_is_404(http: httpx.Client, cognito: CognitoServer, document: str) -> None:
    response = http.get(f"{cognito.base_url}/us-east-1_nope/.well-known/{document}")

    assert response.status_code == 404


def test_secrets_and_tokens_stay_out_of_logs(
    http: httpx.Client, cognito: CognitoServer, pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sandbox")
    token = fetch_token(http, cognito, pool)
    http.post(cognito.token_url, data={"grant_type": "client_credentials"}, auth=(pool.client_id, "wrong-secret"))
    http.post(
        cognito.token_url,
        data={"grant_type": "client_credentials", "client_id": pool.client_id, "client_secret": "wrong-secret-2"},
    )

    assert pool.client_id in caplog.text  # the identity is logged ...
    for secret in (token, pool.client_secret, "wrong-secret", base64.b64encode(pool.client_secret.encode()).decode()):
        assert secret not in caplog.text  # ... never a credential


def test_mint_token_helpers(http: httpx.Client, cognito: CognitoServer, pool: Pool) -> None:
    expired = cognito.mint_token(pool.client_id, lifetime=-60)
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify_with_published_keys(http, cognito, pool.pool_id, expired)

    overridden = cognito.mint_token(pool.client_id, iss="https://elsewhere.example", token_use=None, aud="x")
    claims = jwt.decode(overridden, options={"verify_signature": False})
    assert claims["iss"] == "https://elsewhere.example"
    assert "token_use" not in claims
    assert claims["aud"] == "x"
    assert claims["scope"] == SCOPE

    forged = cognito.mint_token(pool.client_id, foreign_key=True)
    assert jwt.get_unverified_header(forged)["kid"] == cognito.kid
    with pytest.raises(jwt.InvalidSignatureError):
        _verify_with_published_keys(http, cognito, pool.pool_id, forged)

    assert cognito.issued_tokens[-3:] == [expired, overridden, forged]
