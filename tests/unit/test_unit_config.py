"""rollout_core.config: SSM parameter validation and execution-input parsing (pure functions, no AWS)."""

from __future__ import annotations

from typing import Any

import pytest
from rollout_core.config import (
    INPUT_FIELDS,
    SSM_PARAMETERS,
    gateway_url_env_var_for,
    parse_execution_input,
    validate_cognito_parameters,
)
from rollout_core.errors import InvalidConfiguration, InvalidExecutionInput
from unit_support import CLIENT_ID, DISCOVERY_URL, POOL_ID, PREFIX, SCOPE, SSM_VALUES, TOKEN_URL, WARRANTY_ARN

DEFAULTS: dict[str, Any] = {
    "parameterPrefix": PREFIX,
    "runtimeName": "CustomerSupport",
    "oldGatewayName": "my-gateway",
    "gatewayName": "my-gateway-secure",
    "targetName": "WarrantyCheck",
    "dryRun": False,
    "pollSeconds": 10,
    "maxPolls": 60,
}


def ssm(**overrides: str) -> dict[str, str]:
    return {**SSM_VALUES, **overrides}


# --- SSM parameters ---------------------------------------------------------------------------------------------


def test_valid_parameters_give_cognito_settings_and_warranty_arn() -> None:
    cognito, arn = validate_cognito_parameters(ssm(), PREFIX)
    assert cognito.to_dict() == {
        "discoveryUrl": DISCOVERY_URL,
        "clientId": CLIENT_ID,
        "poolId": POOL_ID,
        "tokenUrl": TOKEN_URL,
        "scope": SCOPE,
    }
    assert arn == WARRANTY_ARN


def test_values_are_stripped_and_scopes_normalised() -> None:
    cognito, arn = validate_cognito_parameters(
        ssm(client_id=f"  {CLIENT_ID}\n", cognito_auth_scope="  customersupport/invoke   customersupport/read "),
        PREFIX,
    )
    assert cognito.clientId == CLIENT_ID
    assert cognito.scope == "customersupport/invoke customersupport/read"
    assert arn == WARRANTY_ARN


@pytest.mark.parametrize("name", sorted(SSM_PARAMETERS))
@pytest.mark.parametrize("value", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_missing_parameter_names_path_and_expectation(name: str, value: str | None) -> None:
    values = ssm()
    if value is None:
        del values[name]
    else:
        values[name] = value
    with pytest.raises(InvalidConfiguration) as caught:
        validate_cognito_parameters(values, PREFIX)
    message = str(caught.value)
    assert f"{PREFIX}/{name}" in message
    assert SSM_PARAMETERS[name] in message
    others = [other for other in SSM_PARAMETERS if other != name]
    assert not any(f"{PREFIX}/{other} " in message for other in others)  # only the missing one is listed


def test_every_missing_parameter_is_listed_at_once() -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        validate_cognito_parameters({}, PREFIX)
    for name in SSM_PARAMETERS:
        assert f"{PREFIX}/{name}" in str(caught.value)


OTHER_POOL = "us-east-1_Other9999"

MALFORMED = [
    pytest.param(
        "cognito_discovery_url",
        DISCOVERY_URL.replace("https://", "http://"),
        "https URL ending in /.well-known/openid-configuration",
        id="discovery-http-non-loopback",
    ),
    pytest.param(
        "cognito_discovery_url",
        DISCOVERY_URL.replace("openid-configuration", "jwks.json"),
        "/.well-known/openid-configuration",
        id="discovery-wrong-suffix",
    ),
    pytest.param("cognito_discovery_url", DISCOVERY_URL + "?x=1", "/.well-known/openid-configuration", id="query"),
    pytest.param("cognito_discovery_url", DISCOVERY_URL + "#frag", "/.well-known/openid-configuration", id="fragment"),
    pytest.param("cognito_discovery_url", "ftp://example.com/.well-known/openid-configuration", "https", id="ftp"),
    pytest.param("cognito_discovery_url", "https:///.well-known/openid-configuration", "https", id="no-host"),
    pytest.param("cognito_discovery_url", "https://[::1/.well-known/openid-configuration", "https", id="bad-ipv6"),
    pytest.param(
        "cognito_discovery_url",
        DISCOVERY_URL.replace(POOL_ID, OTHER_POOL),
        f"discovery URL of pool {POOL_ID}",
        id="discovery-for-another-pool",
    ),
    pytest.param(
        "cognito_discovery_url",
        f"https://cognito-idp.us-east-1.amazonaws.com/extra/{POOL_ID}/.well-known/openid-configuration",
        f"/{POOL_ID}/.well-known/openid-configuration",
        id="discovery-extra-path",
    ),
    pytest.param("client_id", "bad-client!", "a Cognito app client id", id="client-id-chars"),
    pytest.param("client_id", "x" * 129, "1-128 chars", id="client-id-too-long"),
    pytest.param("pool_id", "useast1AbCdEf123", "a Cognito user pool id", id="pool-id-no-underscore"),
    pytest.param("pool_id", "us-east-1_Ab/Cd", "a Cognito user pool id", id="pool-id-slash"),
    pytest.param(
        "warranty_check_lambda_arn",
        "arn:aws:lambda:us-east-1:1234:function:CustomerSupportWarrantyCheck",
        "a Lambda function ARN",
        id="lambda-arn-short-account",
    ),
    pytest.param("warranty_check_lambda_arn", "CustomerSupportWarrantyCheck", "a Lambda function ARN", id="bare-name"),
    pytest.param(
        "warranty_check_lambda_arn",
        "arn:aws:s3:us-east-1:123456789012:function:X",
        "a Lambda function ARN",
        id="not-lambda-service",
    ),
    pytest.param(
        "cognito_token_url",
        TOKEN_URL.replace("/oauth2/token", "/oauth2/authorize"),
        "an https URL ending in /oauth2/token",
        id="token-url-wrong-path",
    ),
    pytest.param("cognito_token_url", TOKEN_URL.replace("https", "http"), "/oauth2/token", id="token-url-http"),
    pytest.param("cognito_token_url", TOKEN_URL + "?grant_type=x", "/oauth2/token", id="token-url-query"),
    pytest.param("cognito_auth_scope", 'customersupport/"invoke"', "OAuth scopes", id="scope-quote"),
    pytest.param("cognito_auth_scope", "customersupport\\invoke", "OAuth scopes", id="scope-backslash"),
    pytest.param("cognito_auth_scope", "customersupport/invoke é", "OAuth scopes", id="scope-non-ascii"),
]


@pytest.mark.parametrize(("name", "value", "expected"), MALFORMED)
def test_malformed_parameter_names_path_value_and_expectation(name: str, value: str, expected: str) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        validate_cognito_parameters(ssm(**{name: value}), PREFIX)
    message = str(caught.value)
    assert f"SSM parameter {PREFIX}/{name} must be" in message
    assert expected in message
    assert repr(value)[:100] in message  # the offending value is shown (none of these are secrets)


def test_long_values_are_truncated_in_messages() -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        validate_cognito_parameters(ssm(client_id="!" * 400), PREFIX)
    assert "..." in str(caught.value)
    assert "!" * 200 not in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1:9000", "localhost:9000", "[::1]:9000", "127.0.0.2"])
def test_loopback_http_is_accepted(host: str) -> None:
    discovery = f"http://{host}/{POOL_ID}/.well-known/openid-configuration"
    token = f"http://{host}/oauth2/token"
    cognito, _ = validate_cognito_parameters(ssm(cognito_discovery_url=discovery, cognito_token_url=token), PREFIX)
    assert cognito.discoveryUrl == discovery
    assert cognito.tokenUrl == token


@pytest.mark.parametrize("host", ["10.0.0.1", "localhost.example.com", "0.0.0.0"])
def test_non_loopback_http_is_rejected(host: str) -> None:
    with pytest.raises(InvalidConfiguration, match="cognito_token_url"):
        validate_cognito_parameters(ssm(cognito_token_url=f"http://{host}/oauth2/token"), PREFIX)


@pytest.mark.parametrize(
    "arn",
    [
        f"{WARRANTY_ARN}:$LATEST",
        f"{WARRANTY_ARN}:live",
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:Warranty_Check-2",
    ],
)
def test_qualified_and_partition_lambda_arns_are_accepted(arn: str) -> None:
    assert validate_cognito_parameters(ssm(warranty_check_lambda_arn=arn), PREFIX)[1] == arn


# --- execution input --------------------------------------------------------------------------------------------


def test_empty_and_none_input_take_the_defaults() -> None:
    raw: dict[str, Any] | None
    for raw in ({}, None):
        settings = parse_execution_input(raw, DEFAULTS)
        assert settings.to_dict() == {
            **DEFAULTS,
            "gatewayUrlEnvVar": "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL",
            "agentArtifact": None,
        }


def test_input_overrides_defaults() -> None:
    settings = parse_execution_input({"dryRun": True, "pollSeconds": 0, "maxPolls": 1}, DEFAULTS)
    assert (settings.dryRun, settings.pollSeconds, settings.maxPolls) == (True, 0, 1)
    assert settings.runtimeName == "CustomerSupport"


def test_unknown_key_is_named_and_allowed_keys_listed() -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({"gatewayname": "x", "dryRun": True}, DEFAULTS)
    message = str(caught.value)
    assert "unknown key(s) gatewayname" in message
    for key in INPUT_FIELDS:
        assert key in message
    assert "trigger" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param("pollSeconds", True, "got bool True", id="bool-where-int"),
        pytest.param("maxPolls", False, "got bool False", id="false-where-int"),
        pytest.param("pollSeconds", "5", "got str '5'", id="str-where-int"),
        pytest.param("maxPolls", 2.5, "got float 2.5", id="float-where-int"),
        pytest.param("dryRun", 1, "got int 1", id="int-where-bool"),
        pytest.param("dryRun", "true", "got str 'true'", id="str-where-bool"),
        pytest.param("gatewayName", 7, "got int 7", id="int-where-str"),
        pytest.param("runtimeName", None, "got NoneType None", id="null-where-str"),
    ],
)
def test_wrong_types_are_rejected(key: str, value: Any, expected: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({key: value}, DEFAULTS)
    assert f"execution input '{key}' must be {INPUT_FIELDS[key].description}" in str(caught.value)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("pollSeconds", -1), ("pollSeconds", 301), ("maxPolls", 0), ("maxPolls", 1001)],
)
def test_out_of_range_numbers_are_rejected(key: str, value: int) -> None:
    with pytest.raises(InvalidExecutionInput, match=rf"'{key}' must be .*; got {value}$"):
        parse_execution_input({key: value}, DEFAULTS)


@pytest.mark.parametrize(("key", "value"), [("pollSeconds", 0), ("pollSeconds", 300), ("maxPolls", 1000)])
def test_range_bounds_are_inclusive(key: str, value: int) -> None:
    assert getattr(parse_execution_input({key: value}, DEFAULTS), key) == value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gatewayName", "my_gateway"),
        ("gatewayName", "my--gateway"),
        ("gatewayName", "-gateway"),
        ("gatewayName", ""),
        ("oldGatewayName", "old gateway"),
        ("targetName", "Warranty_Check"),
        ("runtimeName", "1CustomerSupport"),
        ("runtimeName", "Customer-Support"),
        ("parameterPrefix", "app/customersupport"),
        ("parameterPrefix", "/app//agentcore"),
        ("gatewayUrlEnvVar", "1_URL"),
        ("gatewayUrlEnvVar", "GATEWAY-URL"),
    ],
)
def test_malformed_names_are_rejected(key: str, value: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({key: value}, DEFAULTS)
    assert f"execution input '{key}'" in str(caught.value)
    assert repr(value) in str(caught.value)


def test_gateway_url_env_var_is_derived_from_overridden_gateway_name() -> None:
    settings = parse_execution_input({"gatewayName": "my-gw-2"}, DEFAULTS)
    assert settings.gatewayName == "my-gw-2"
    assert settings.gatewayUrlEnvVar == "AGENTCORE_GATEWAY_MY_GW_2_URL"


def test_explicit_gateway_url_env_var_wins() -> None:
    settings = parse_execution_input({"gatewayName": "my-gw-2", "gatewayUrlEnvVar": "GATEWAY_URL"}, DEFAULTS)
    assert settings.gatewayUrlEnvVar == "GATEWAY_URL"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("my-gateway-secure", "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"),
        ("my-gateway", "AGENTCORE_GATEWAY_MY_GATEWAY_URL"),
        ("Gw1", "AGENTCORE_GATEWAY_GW1_URL"),
    ],
)
def test_gateway_url_env_var_convention(name: str, expected: str) -> None:
    assert gateway_url_env_var_for(name) == expected


def test_trigger_is_accepted_and_not_a_setting() -> None:
    trigger = {"source": "aws.ssm", "detail": {"name": f"{PREFIX}/client_id", "operation": "Update"}}
    settings = parse_execution_input({"trigger": trigger, "dryRun": True}, DEFAULTS)
    assert settings.dryRun is True
    assert "trigger" not in settings.to_dict()


@pytest.mark.parametrize("raw", [[], ["dryRun"], "dryRun", 5, True])
def test_non_object_input_is_rejected(raw: Any) -> None:
    with pytest.raises(InvalidExecutionInput, match=f"must be a JSON object; got {type(raw).__name__}"):
        parse_execution_input(raw, DEFAULTS)


def test_missing_value_without_default_is_named() -> None:
    defaults = {k: v for k, v in DEFAULTS.items() if k != "runtimeName"}
    with pytest.raises(InvalidExecutionInput, match="no value for 'runtimeName'"):
        parse_execution_input({}, defaults)
    assert parse_execution_input({"runtimeName": "Other"}, defaults).runtimeName == "Other"


def test_defaults_are_validated_too() -> None:
    with pytest.raises(InvalidExecutionInput, match="'maxPolls'"):
        parse_execution_input({}, {**DEFAULTS, "maxPolls": 5000})
