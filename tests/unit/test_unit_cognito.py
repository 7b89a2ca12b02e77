"""rollout_core.cognito: the Cognito endpoints are derived from the deployed pool; SSM may only repeat them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rollout_core.cognito import (
    SSM_PARAMETERS,
    expected_discovery_url,
    expected_token_urls,
    recheck_endpoints,
    user_pool_reader,
    validate_cognito_parameters,
)
from rollout_core.errors import CognitoThrottled, InvalidConfiguration
from rollout_core.settings import deployment_from_environment

from tests.unit.helpers import (
    ACCOUNT,
    CLIENT_ID,
    DEFAULT_ENV,
    DISCOVERY_URL,
    POOL_ID,
    PREFIX,
    REGION,
    SCOPE,
    SSM_VALUES,
    TOKEN_URL,
    WARRANTY_ARN,
    client_error,
)

DEPLOYMENT = deployment_from_environment(DEFAULT_ENV)
SANDBOX = "http://127.0.0.1:8765"
SANDBOX_DEPLOYMENT = replace(DEPLOYMENT, sandboxCognitoEndpoint=SANDBOX)
POOL = {"Id": POOL_ID, "Domain": "customersupport"}
OTHER_POOL = "us-east-1_Other9999"


class PoolReader:
    """DescribeUserPool stand-in that records which pools were read."""

    def __init__(self, pool: Mapping[str, Any] = POOL) -> None:
        self.pool = pool
        self.read: list[str] = []

    def __call__(self, pool_id: str) -> Mapping[str, Any]:
        self.read.append(pool_id)
        return self.pool


def validate(values: Mapping[str, str], deployment: Any = DEPLOYMENT, reader: Any = None) -> Any:
    return validate_cognito_parameters(values, PREFIX, deployment, REGION, ACCOUNT, reader or PoolReader())


def ssm(**overrides: str) -> dict[str, str]:
    return {**SSM_VALUES, **overrides}


def test_valid_parameters_give_cognito_settings_and_warranty_arn() -> None:
    reader = PoolReader()
    cognito, arn = validate(ssm(cognito_auth_scope=f" {SCOPE}  x/y {SCOPE}"), reader=reader)
    assert cognito.to_dict() == {
        "discoveryUrl": DISCOVERY_URL,
        "clientId": CLIENT_ID,
        "poolId": POOL_ID,
        "tokenUrl": TOKEN_URL,
        "scopes": sorted({SCOPE, "x/y"}),
    }
    assert cognito.scope == f"{SCOPE} x/y"
    assert arn == WARRANTY_ARN
    assert reader.read == [POOL_ID]  # only the deployed pool is ever described


def test_endpoints_are_derived_from_pool_and_region() -> None:
    assert expected_discovery_url(POOL_ID, REGION, "") == DISCOVERY_URL
    assert expected_token_urls(POOL, REGION, "") == [TOKEN_URL]
    assert expected_token_urls({"Id": POOL_ID, "CustomDomain": "auth.example.com"}, REGION, "") == [
        "https://auth.example.com/oauth2/token"
    ]
    assert expected_token_urls({"Id": POOL_ID}, REGION, "") == []


@pytest.mark.parametrize("name", sorted(SSM_PARAMETERS))
def test_missing_parameter_is_named(name: str) -> None:
    values = ssm()
    del values[name]
    with pytest.raises(InvalidConfiguration) as caught:
        validate(values)
    assert f"{PREFIX}/{name}" in str(caught.value)


HIJACKS = [
    pytest.param(
        "cognito_token_url", "https://collector.example.net/oauth2/token", TOKEN_URL, id="token-url-outside-server"
    ),
    pytest.param(
        "cognito_token_url",
        "https://other-domain.auth.us-east-1.amazoncognito.com/oauth2/token",
        TOKEN_URL,
        id="token-url-other-pool-domain",
    ),
    pytest.param("cognito_token_url", TOKEN_URL.replace("https", "http"), TOKEN_URL, id="token-url-http"),
    pytest.param("cognito_token_url", "http://127.0.0.1:9/oauth2/token", TOKEN_URL, id="token-url-loopback"),
    pytest.param(
        "cognito_discovery_url",
        "https://issuer.example.net/.well-known/openid-configuration",
        DISCOVERY_URL,
        id="discovery-outside-issuer",
    ),
    pytest.param(
        "cognito_discovery_url",
        DISCOVERY_URL.replace(POOL_ID, OTHER_POOL),
        DISCOVERY_URL,
        id="discovery-other-pool",
    ),
    pytest.param(
        "cognito_discovery_url",
        DISCOVERY_URL.replace("us-east-1.amazonaws.com", "us-west-2.amazonaws.com"),
        DISCOVERY_URL,
        id="discovery-other-region",
    ),
    pytest.param(
        "cognito_discovery_url",
        f"http://127.0.0.1:9/{POOL_ID}/.well-known/openid-configuration",
        DISCOVERY_URL,
        id="discovery-loopback-outside-sandbox-mode",
    ),
    pytest.param("pool_id", OTHER_POOL, repr(POOL_ID), id="pool-id-other-pool"),
    pytest.param(
        "warranty_check_lambda_arn",
        "arn:aws:lambda:us-east-1:999999999999:function:Collector",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:",
        id="lambda-other-account",
    ),
    pytest.param(
        "warranty_check_lambda_arn",
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:Warranty",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:",
        id="lambda-other-region",
    ),
    pytest.param("client_id", "bad-client!", "a Cognito app client id", id="client-id-chars"),
    pytest.param("cognito_auth_scope", 'customersupport/"invoke"', "OAuth scopes", id="scope-quote"),
    pytest.param("cognito_auth_scope", " ".join(f"s/{i}" for i in range(21)), "OAuth scopes", id="too-many-scopes"),
]


@pytest.mark.parametrize(("name", "value", "expected"), HIJACKS)
def test_values_that_are_not_the_derived_ones_are_refused_naming_parameter_and_expected_value(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        validate(ssm(**{name: value}))
    message = str(caught.value)
    assert f"SSM parameter {PREFIX}/{name} must be" in message
    assert expected in message
    assert repr(value)[:100] in message


def test_a_hijacked_pool_id_is_refused_before_any_pool_is_read() -> None:
    reader = PoolReader()
    with pytest.raises(InvalidConfiguration):
        validate(
            ssm(pool_id=OTHER_POOL, cognito_discovery_url=DISCOVERY_URL.replace(POOL_ID, OTHER_POOL)), reader=reader
        )
    assert reader.read == []


def test_pool_without_domain_has_no_token_endpoint() -> None:
    with pytest.raises(InvalidConfiguration, match="has no domain"):
        validate(ssm(), reader=PoolReader({"Id": POOL_ID}))


def test_custom_domain_token_endpoint_is_accepted() -> None:
    reader = PoolReader({"Id": POOL_ID, "Domain": "customersupport", "CustomDomain": "auth.example.com"})
    cognito, _ = validate(ssm(cognito_token_url="https://auth.example.com/oauth2/token"), reader=reader)
    assert cognito.tokenUrl == "https://auth.example.com/oauth2/token"


def test_sandbox_mode_derives_both_endpoints_from_its_one_loopback_base() -> None:
    values = ssm(
        cognito_discovery_url=f"{SANDBOX}/{POOL_ID}/.well-known/openid-configuration",
        cognito_token_url=f"{SANDBOX}/oauth2/token",
    )
    cognito, _ = validate(values, deployment=SANDBOX_DEPLOYMENT)
    assert cognito.discoveryUrl.startswith(SANDBOX)
    for name, value in (
        ("cognito_token_url", "http://127.0.0.1:9999/oauth2/token"),  # another loopback server
        ("cognito_discovery_url", f"http://127.0.0.1:9999/{POOL_ID}/.well-known/openid-configuration"),
        ("cognito_token_url", TOKEN_URL),  # real Cognito is not this sandbox's pool
    ):
        with pytest.raises(InvalidConfiguration, match=re.escape(f"{PREFIX}/{name}")):
            validate({**values, name: value}, deployment=SANDBOX_DEPLOYMENT)


def test_recheck_refuses_state_that_points_elsewhere() -> None:
    good = {"poolId": POOL_ID, "discoveryUrl": DISCOVERY_URL, "tokenUrl": TOKEN_URL, "clientId": CLIENT_ID}
    recheck_endpoints(good, DEPLOYMENT, REGION, PoolReader())
    for key, value in (
        ("poolId", OTHER_POOL),
        ("tokenUrl", "https://collector.example.net/oauth2/token"),
        ("discoveryUrl", "https://issuer.example.net/.well-known/openid-configuration"),
    ):
        with pytest.raises(InvalidConfiguration):
            recheck_endpoints({**good, key: value}, DEPLOYMENT, REGION, PoolReader())


class FakeCognitoIdp:
    def __init__(self, error: ClientError | None = None) -> None:
        self.error = error

    def describe_user_pool(self, UserPoolId: str) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return {"UserPool": {"Id": UserPoolId, "Domain": "customersupport"}}


def test_user_pool_reader_names_failures() -> None:
    assert user_pool_reader(FakeCognitoIdp())(POOL_ID)["Domain"] == "customersupport"  # type: ignore[arg-type]
    with pytest.raises(CognitoThrottled):
        user_pool_reader(FakeCognitoIdp(client_error("TooManyRequestsException")))(POOL_ID)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfiguration, match="AccessDeniedException"):
        user_pool_reader(FakeCognitoIdp(client_error("AccessDeniedException")))(POOL_ID)  # type: ignore[arg-type]
