"""rollout_core.control: request builders, authorizer logic, error mapping and status classification."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ParamValidationError, ReadTimeoutError
from rollout_core import control
from rollout_core.errors import (
    AgentCoreBusy,
    AgentCoreThrottled,
    AmbiguousResourceName,
    AuthorizerConflict,
    GatewayCreateFailed,
    GatewayDeleteFailed,
    GatewayTargetFailed,
    ResourceWaitTimeout,
    RolloutError,
    RuntimeUpdateFailed,
)
from unit_support import (
    CLIENT_ID,
    DISCOVERY_URL,
    GATEWAY_ROLE,
    REPO_ROOT,
    RUNTIME_ROLE,
    SCOPE,
    SHIPPING_ARN,
    SHIPPING_SCHEMA,
    WARRANTY_ARN,
    client_error,
)

OTHER_DISCOVERY = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other9999/.well-known/openid-configuration"
SECURE = {
    "customJWTAuthorizer": {"discoveryUrl": DISCOVERY_URL, "allowedClients": [CLIENT_ID], "allowedScopes": [SCOPE]}
}

# What GetAgentRuntime returns for a fully configured runtime: settings plus read-only fields.
RUNTIME_SETTINGS: dict[str, Any] = {
    "agentRuntimeArtifact": {
        "containerConfiguration": {"containerUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/cs:v1"}
    },
    "roleArn": RUNTIME_ROLE,
    "networkConfiguration": {
        "networkMode": "VPC",
        "networkModeConfig": {"securityGroups": ["sg-0123456789abcdef0"], "subnets": ["subnet-0123456789abcdef0"]},
    },
    "protocolConfiguration": {"serverProtocol": "MCP"},
    "lifecycleConfiguration": {"idleRuntimeSessionTimeout": 600, "maxLifetime": 3600},
    "environmentVariables": {"LOG_LEVEL": "DEBUG", "AGENTCORE_GATEWAY_MY_GATEWAY_URL": "https://old/mcp"},
    "description": "Customer support agent",
    "requestHeaderConfiguration": {"requestHeaderAllowlist": ["X-Tenant", "authorization"]},
    "metadataConfiguration": {"requireMMDSV2": True},
}
READ_ONLY: dict[str, Any] = {
    "agentRuntimeArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/CustomerSupport-abcdefghij",
    "agentRuntimeName": "CustomerSupport",
    "agentRuntimeVersion": "3",
    "createdAt": "2025-01-01T00:00:00Z",
    "lastUpdatedAt": "2025-01-02T00:00:00Z",
    "status": "READY",
    "failureReason": "",
    "workloadIdentityDetails": {"workloadIdentityArn": "arn:aws:bedrock-agentcore:::workload-identity/x"},
    "ResponseMetadata": {"HTTPStatusCode": 200},
}


def get_runtime_like(**overrides: Any) -> dict[str, Any]:
    return {
        "agentRuntimeId": "CustomerSupport-abcdefghij",
        **copy.deepcopy(RUNTIME_SETTINGS),
        **copy.deepcopy(READ_ONLY),
        **overrides,
    }


# --- runtime_update_request -------------------------------------------------------------------------------------


def test_update_request_keeps_every_existing_setting_and_drops_read_only_fields() -> None:
    runtime = get_runtime_like(authorizerConfiguration=copy.deepcopy(SECURE))
    request = control.runtime_update_request(
        runtime, environment={**RUNTIME_SETTINGS["environmentVariables"], "X": "1"}
    )
    expected = {
        "agentRuntimeId": "CustomerSupport-abcdefghij",
        **RUNTIME_SETTINGS,
        "environmentVariables": {**RUNTIME_SETTINGS["environmentVariables"], "X": "1"},
    }
    assert request == expected  # identical authorizer not re-sent; no status/ARN/name/timestamps


def test_update_request_sends_a_new_authorizer_and_allowlist() -> None:
    runtime = get_runtime_like()
    request = control.runtime_update_request(runtime, authorizer=SECURE, allowlist=["X-Tenant", "Authorization"])
    assert request["authorizerConfiguration"] == SECURE
    assert request["requestHeaderConfiguration"] == {"requestHeaderAllowlist": ["X-Tenant", "Authorization"]}
    for field, value in RUNTIME_SETTINGS.items():
        if field != "requestHeaderConfiguration":
            assert request[field] == value, field


def test_update_request_sends_an_authorizer_only_to_a_runtime_without_one() -> None:
    runtime = get_runtime_like(authorizerConfiguration=copy.deepcopy(SECURE))
    assert "authorizerConfiguration" not in control.runtime_update_request(runtime, authorizer=copy.deepcopy(SECURE))
    assert "authorizerConfiguration" not in control.runtime_update_request(runtime)
    changed = control.jwt_authorizer(DISCOVERY_URL, "another-client", [SCOPE], SECURE)
    with pytest.raises(AuthorizerConflict, match="Authorizer already exists"):
        control.runtime_update_request(runtime, authorizer=changed)
    unsecured = get_runtime_like()
    assert control.runtime_update_request(unsecured, authorizer=SECURE)["authorizerConfiguration"] == SECURE


def test_describe_authorizer_names_what_it_checks() -> None:
    claims = [{"inboundTokenClaimName": "dept", "inboundTokenClaimValueType": "STRING"}]
    jwt = {**SECURE["customJWTAuthorizer"], "allowedAudience": ["api"], "customClaims": claims}
    assert control.describe_authorizer({"customJWTAuthorizer": jwt}) == (
        f"discoveryUrl {DISCOVERY_URL}, allowedClients ['{CLIENT_ID}'], allowedAudience ['api'], "
        f"allowedScopes ['{SCOPE}'], 1 customClaims rule(s)"
    )
    assert control.describe_authorizer(None) == "none"


def test_update_request_replaces_the_artifact_when_asked() -> None:
    artifact = {"containerConfiguration": {"containerUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/cs:v2"}}
    assert control.runtime_update_request(get_runtime_like(), artifact=artifact)["agentRuntimeArtifact"] == artifact


def test_update_request_carries_every_model_field_the_runtime_reports() -> None:
    """Any field UpdateAgentRuntime accepts and GetAgentRuntime returns (future ones too) is sent back."""
    fields = control.runtime_update_fields()
    assert {"agentRuntimeArtifact", "roleArn", "networkConfiguration", "environmentVariables"} <= fields
    assert {"agentRuntimeId", "clientToken", "status", "agentRuntimeArn"}.isdisjoint(fields)
    runtime = {"agentRuntimeId": "rt-abcdefghij", **{field: {"sentinel": field} for field in fields}}
    request = control.runtime_update_request(runtime)
    assert set(request) == (fields - {"authorizerConfiguration"}) | {"agentRuntimeId"}
    assert all(request[field] == {"sentinel": field} for field in fields - {"authorizerConfiguration"})


def test_update_request_is_a_deep_copy() -> None:
    runtime = get_runtime_like()
    request = control.runtime_update_request(runtime)
    request["environmentVariables"]["LOG_LEVEL"] = "CHANGED"
    request["networkConfiguration"]["networkModeConfig"]["subnets"].append("subnet-x")
    assert runtime["environmentVariables"]["LOG_LEVEL"] == "DEBUG"
    assert runtime["networkConfiguration"] == RUNTIME_SETTINGS["networkConfiguration"]


def test_update_request_omits_empty_description() -> None:
    """moto (and possibly AWS) report a runtime without description as "": botocore rejects "" (min length 1)."""
    request = control.runtime_update_request(get_runtime_like(description=""))
    assert "description" not in request


# --- header allowlist -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([], ["Authorization"]),
        (["X-Tenant"], ["X-Tenant", "Authorization"]),
        (["authorization"], ["authorization"]),
        (["X-Tenant", "AUTHORIZATION"], ["X-Tenant", "AUTHORIZATION"]),
        ([f"X-H{i}" for i in range(19)], [*[f"X-H{i}" for i in range(19)], "Authorization"]),
        ([*[f"X-H{i}" for i in range(19)], "Authorization"], [*[f"X-H{i}" for i in range(19)], "Authorization"]),
    ],
)
def test_with_authorization_header(before: list[str], after: list[str]) -> None:
    original = list(before)
    assert control.with_authorization_header(before) == after
    assert before == original  # input not mutated


def test_full_allowlist_cannot_take_authorization() -> None:
    with pytest.raises(RuntimeUpdateFailed, match=r"already has 20 entries \(AgentCore allows 20\)"):
        control.with_authorization_header([f"X-H{i}" for i in range(20)])


def test_header_allowlist_reads_the_runtime() -> None:
    assert control.header_allowlist({"requestHeaderConfiguration": {"requestHeaderAllowlist": ["A"]}}) == ["A"]
    assert control.header_allowlist({}) == []
    assert control.header_allowlist({"requestHeaderConfiguration": None}) == []


# --- authorizers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "satisfied"),
    [
        pytest.param(SECURE, True, id="exact"),
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "allowedClients": ["other", CLIENT_ID]}},
            True,
            id="among-other-clients",
        ),
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "allowedAudience": []}}, True, id="empty-aud"
        ),
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "allowedAudience": [CLIENT_ID]}},
            False,
            id="audience-rejects-m2m-tokens",
        ),
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "discoveryUrl": OTHER_DISCOVERY}},
            False,
            id="other-pool",
        ),
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "allowedClients": ["other"]}},
            False,
            id="client-missing",
        ),
        pytest.param(
            {"customJWTAuthorizer": {"discoveryUrl": DISCOVERY_URL, "allowedClients": [CLIENT_ID]}},
            False,
            id="scopes-not-enforced",
        ),
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "allowedScopes": [SCOPE, "admin/all"]}},
            False,
            id="extra-scope-allowed",
        ),
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "allowedScopes": ["other/scope"]}},
            False,
            id="different-scope",
        ),
        pytest.param(
            {"customJWTAuthorizer": {"discoveryUrl": DISCOVERY_URL, "allowedScopes": ["a/b"]}}, False, id="no-clients"
        ),
        pytest.param(None, False, id="none"),
        pytest.param({}, False, id="empty"),
    ],
)
def test_authorizer_satisfied(actual: dict[str, Any] | None, satisfied: bool) -> None:
    assert control.authorizer_satisfied(actual, DISCOVERY_URL, CLIENT_ID, [SCOPE]) is satisfied


def test_jwt_authorizer_for_cognito_m2m() -> None:
    assert control.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE]) == SECURE
    assert "allowedAudience" not in control.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE])["customJWTAuthorizer"]


def test_jwt_authorizer_keeps_other_clients_and_claim_rules_on_the_same_discovery_url() -> None:
    claims = [{"inboundTokenClaimName": "tenant", "inboundTokenClaimValueType": "STRING"}]
    existing = {
        "customJWTAuthorizer": {
            "discoveryUrl": DISCOVERY_URL,
            "allowedClients": ["zeta", "alpha", CLIENT_ID],
            "allowedScopes": ["old/scope"],
            "customClaims": claims,
        }
    }
    result = control.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE], existing)
    assert result["customJWTAuthorizer"]["allowedClients"] == sorted({"zeta", "alpha", CLIENT_ID})
    assert result["customJWTAuthorizer"]["allowedScopes"] == [SCOPE]  # the SSM scope list, exactly
    assert result["customJWTAuthorizer"]["customClaims"] == claims
    assert control.authorizer_satisfied(result, DISCOVERY_URL, CLIENT_ID, [SCOPE])


def test_jwt_authorizer_drops_clients_of_another_discovery_url() -> None:
    existing = {"customJWTAuthorizer": {"discoveryUrl": OTHER_DISCOVERY, "allowedClients": ["stranger"]}}
    assert control.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE], existing) == SECURE


# --- gateway ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com", "/mcp"),
        ("https://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/", "/mcp"),
        ("https://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp", "/mcp"),
        ("https://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp/", "/mcp"),
    ],
)
def test_normalize_gateway_url(url: str, expected: str) -> None:
    assert control.normalize_gateway_url(url) == "https://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp"
    assert control.normalize_gateway_url(control.normalize_gateway_url(url)).endswith(expected)


GET_GATEWAY: dict[str, Any] = {
    "gatewayId": "my-gateway-abcdefghij",
    "gatewayArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/my-gateway-abcdefghij",
    "gatewayUrl": "https://my-gateway-abcdefghij.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp",
    "name": "my-gateway",
    "status": "READY",
    "statusReasons": [],
    "createdAt": "2025-01-01T00:00:00Z",
    "updatedAt": "2025-01-01T00:00:00Z",
    "roleArn": GATEWAY_ROLE,
    "protocolType": "MCP",
    "protocolConfiguration": {"mcp": {"supportedVersions": ["2025-03-26"], "searchType": "SEMANTIC"}},
    "description": "Customer support tools",
    "authorizerType": "NONE",
    "exceptionLevel": "DEBUG",
    "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    "workloadIdentityDetails": {"workloadIdentityArn": "arn:x"},
    "ResponseMetadata": {"HTTPStatusCode": 200},
}


def test_gateway_create_request_clones_settings_and_sets_custom_jwt() -> None:
    request = control.gateway_create_request(GET_GATEWAY, "my-gateway-secure", SECURE)
    assert request == {
        "name": "my-gateway-secure",
        "roleArn": GATEWAY_ROLE,
        "protocolType": "MCP",
        "protocolConfiguration": GET_GATEWAY["protocolConfiguration"],
        "description": "Customer support tools",
        "exceptionLevel": "DEBUG",
        "kmsKeyArn": GET_GATEWAY["kmsKeyArn"],
        "authorizerType": "CUSTOM_JWT",
        "authorizerConfiguration": SECURE,
    }
    assert request["protocolConfiguration"] is not GET_GATEWAY["protocolConfiguration"]


def test_gateway_create_request_defaults_protocol_and_skips_empty_description() -> None:
    template = {"gatewayId": "g", "name": "g", "roleArn": GATEWAY_ROLE, "description": "", "authorizerType": "NONE"}
    request = control.gateway_create_request(template, "g2", SECURE)
    assert request == {
        "name": "g2",
        "roleArn": GATEWAY_ROLE,
        "protocolType": "MCP",
        "authorizerType": "CUSTOM_JWT",
        "authorizerConfiguration": SECURE,
    }


def test_gateway_clone_fields_exclude_identity_and_auth() -> None:
    fields = control.gateway_clone_fields()
    assert {"roleArn", "protocolType", "protocolConfiguration", "description"} <= fields
    assert {"name", "authorizerType", "authorizerConfiguration", "clientToken", "tags", "gatewayId"}.isdisjoint(fields)


def test_gateway_update_request_sends_everything_back_with_the_new_authorizer() -> None:
    current = {**GET_GATEWAY, "authorizerType": "CUSTOM_JWT", "authorizerConfiguration": SECURE}
    new_auth = control.jwt_authorizer(OTHER_DISCOVERY, CLIENT_ID, [SCOPE])
    request = control.gateway_update_request(current, new_auth)
    assert request["gatewayIdentifier"] == "my-gateway-abcdefghij"
    assert request["authorizerConfiguration"] == new_auth
    for field in ("name", "roleArn", "protocolType", "authorizerType", "protocolConfiguration", "description"):
        assert request[field] == current[field]
    assert {"status", "gatewayUrl", "gatewayArn", "createdAt", "ResponseMetadata"}.isdisjoint(request)


def test_settings_create_gateway_cannot_take_are_derived_from_the_model() -> None:
    # UpdateGateway can set these, CreateGateway cannot; no call sets webAclArn (a WAFv2 association).
    assert control.gateway_post_create_fields() == {"customTransformConfiguration", "wafConfiguration"}
    assert control.gateway_uncarried_fields() == {"webAclArn"}


def test_gateway_carry_plan_names_what_no_call_can_carry_without_values() -> None:
    template = {
        **GET_GATEWAY,
        "wafConfiguration": {"failureMode": "FAIL_CLOSE"},
        "customTransformConfiguration": {"lambda": {"arn": "arn:aws:lambda:us-east-1:123456789012:function:t"}},
        "webAclArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/tools/1",
    }
    tags = {"team": "support", "aws:cloudformation:stack-name": "tutorial-stack"}
    carry = control.gateway_carry_plan(template, tags)
    assert carry == {
        "afterCreate": {
            "update": {
                "customTransformConfiguration": template["customTransformConfiguration"],
                "wafConfiguration": {"failureMode": "FAIL_CLOSE"},
            },
            "tags": {"team": "support"},  # AWS's own aws: tags cannot be set by anyone else
        },
        "notCarried": ["tags:aws:*", "webAclArn"],
    }
    assert "tutorial-stack" not in json.dumps(carry["notCarried"])
    assert carry["afterCreate"]["update"]["wafConfiguration"] is not template["wafConfiguration"]
    assert control.gateway_carry_plan(GET_GATEWAY, {}) == {"afterCreate": None, "notCarried": []}


def test_gateway_update_request_takes_carried_settings() -> None:
    current = {**GET_GATEWAY, "authorizerType": "CUSTOM_JWT", "authorizerConfiguration": SECURE}
    waf = {"wafConfiguration": {"failureMode": "FAIL_OPEN"}}
    request = control.gateway_update_request(current, SECURE, waf)
    assert request["wafConfiguration"] == {"failureMode": "FAIL_OPEN"}
    assert request["kmsKeyArn"] == GET_GATEWAY["kmsKeyArn"]  # every other setting sent back (a full replace)
    assert request["authorizerConfiguration"] == SECURE


# --- targets ----------------------------------------------------------------------------------------------------


def test_warranty_target_definition_uses_packaged_schema_and_gateway_role() -> None:
    packaged = json.loads(
        (REPO_ROOT / "layers/rollout_core/rollout_core/warranty_schema.json").read_text(encoding="utf-8")
    )
    definition = control.warranty_target_definition("WarrantyCheck", WARRANTY_ARN, "Warranty tool")
    assert definition == {
        "name": "WarrantyCheck",
        "description": "Warranty tool",
        "targetConfiguration": {
            "mcp": {"lambda": {"lambdaArn": WARRANTY_ARN, "toolSchema": {"inlinePayload": packaged}}}
        },
        "credentialProviderConfigurations": [{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    }
    assert [tool["name"] for tool in packaged] == ["check_warranty"]
    assert "description" not in control.warranty_target_definition("WarrantyCheck", WARRANTY_ARN)
    assert control.target_lambda_arn(definition) == WARRANTY_ARN


GET_TARGET: dict[str, Any] = {
    "gatewayArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/g",
    "targetId": "ABCDEFGHIJ",
    "name": "ShippingEstimate",
    "status": "READY",
    "statusReasons": [],
    "createdAt": "2025-01-01T00:00:00Z",
    "updatedAt": "2025-01-01T00:00:00Z",
    "description": "",
    "targetConfiguration": {
        "mcp": {"lambda": {"lambdaArn": SHIPPING_ARN, "toolSchema": {"inlinePayload": SHIPPING_SCHEMA}}}
    },
    "credentialProviderConfigurations": [{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    "metadataConfiguration": {},
    "ResponseMetadata": {},
}


def test_target_definition_keeps_only_recreatable_fields() -> None:
    assert control.target_definition(GET_TARGET) == {
        "name": "ShippingEstimate",
        "targetConfiguration": GET_TARGET["targetConfiguration"],
        "credentialProviderConfigurations": GET_TARGET["credentialProviderConfigurations"],
    }
    assert "gatewayIdentifier" not in control.target_clone_fields()


def test_targets_equivalent_compares_configuration_and_credentials_only() -> None:
    definition = control.target_definition(GET_TARGET)
    assert control.targets_equivalent(GET_TARGET, {**definition, "description": "different"})
    drifted = copy.deepcopy(definition)
    drifted["targetConfiguration"]["mcp"]["lambda"]["lambdaArn"] = WARRANTY_ARN
    assert not control.targets_equivalent(GET_TARGET, drifted)
    assert not control.targets_equivalent(GET_TARGET, {**definition, "credentialProviderConfigurations": []})


def test_target_lambda_arn_of_non_lambda_target_is_none() -> None:
    assert control.target_lambda_arn({"targetConfiguration": {"mcp": {"openApiSchema": {}}}}) is None
    assert control.target_lambda_arn({}) is None


# --- control_plane_errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", AgentCoreThrottled),
        ("InternalServerException", AgentCoreThrottled),
        ("ServiceUnavailableException", AgentCoreThrottled),
        ("TooManyRequests", AgentCoreThrottled),
        ("ConflictException", AgentCoreBusy),
        ("ValidationException", GatewayCreateFailed),
        ("AccessDeniedException", GatewayCreateFailed),
        ("ResourceNotFoundException", GatewayCreateFailed),
        ("ServiceQuotaExceededException", GatewayCreateFailed),
    ],
)
def test_control_plane_errors_maps_client_errors(code: str, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught, control.control_plane_errors(GatewayCreateFailed, "CreateGateway gw"):
        raise client_error(code, "the service said no")
    assert type(caught.value) is expected
    assert str(caught.value) == f"CreateGateway gw: {code}: the service said no"
    assert caught.value.__suppress_context__  # raised `from None`: no botocore traceback in the Lambda error


@pytest.mark.parametrize("failure", [RuntimeUpdateFailed, GatewayTargetFailed, GatewayDeleteFailed])
def test_control_plane_errors_uses_the_given_failure_class(failure: type[RolloutError]) -> None:
    with pytest.raises(failure, match="op: ValidationException"), control.control_plane_errors(failure, "op"):
        raise client_error("ValidationException")


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://bedrock-agentcore-control.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://bedrock-agentcore-control.us-east-1.amazonaws.com"),
    ],
)
def test_connection_problems_are_transient(exc: Exception) -> None:
    with (
        pytest.raises(AgentCoreThrottled, match=type(exc).__name__),
        control.control_plane_errors(RuntimeUpdateFailed, "GetAgentRuntime rt"),
    ):
        raise exc


def test_client_side_validation_is_not_transient_and_hides_values() -> None:
    exc = ParamValidationError(report="Invalid type for parameter environmentVariables.TOKEN, value: s3cr3t-value")
    with pytest.raises(RuntimeUpdateFailed) as caught, control.control_plane_errors(RuntimeUpdateFailed, "Update rt"):
        raise exc
    assert "parameter validation" in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)


def test_control_plane_errors_passes_success_and_other_exceptions_through() -> None:
    with control.control_plane_errors(RuntimeUpdateFailed, "op"):
        value = 42
    assert value == 42
    with pytest.raises(KeyError), control.control_plane_errors(RuntimeUpdateFailed, "op"):
        raise KeyError("not botocore")


# --- settle and failures ----------------------------------------------------------------------------------------


def _never() -> RolloutError:
    raise AssertionError("failure factory must not be called")


def test_settle_ready_is_done() -> None:
    assert control.settle("READY", control.RUNTIME_PENDING, _never, 0, 1, "runtime rt") is True


@pytest.mark.parametrize("status", sorted(control.RUNTIME_PENDING))
def test_settle_pending_polls_again_within_budget(status: str) -> None:
    assert control.settle(status, control.RUNTIME_PENDING, _never, 3, 5, "runtime rt") is False


def test_settle_pending_at_budget_times_out() -> None:
    with pytest.raises(ResourceWaitTimeout, match=r"runtime rt still UPDATING after 5 polls \(maxPolls=5\)"):
        control.settle("UPDATING", control.RUNTIME_PENDING, _never, 4, 5, "runtime rt")
    with pytest.raises(ResourceWaitTimeout, match="after 1 polls"):
        control.settle("CREATING", control.GATEWAY_PENDING, _never, 0, 1, "gateway g")


def test_settle_failed_status_raises_the_failure_with_reasons() -> None:
    record = {"agentRuntimeName": "CustomerSupport", "status": "UPDATE_FAILED", "failureReason": "image pull failed"}
    with pytest.raises(RuntimeUpdateFailed, match="runtime CustomerSupport is UPDATE_FAILED: image pull failed"):
        control.settle("UPDATE_FAILED", control.RUNTIME_PENDING, lambda: control.runtime_failure(record), 0, 5, "rt")


def test_settle_unknown_status_without_failure_times_out() -> None:
    with pytest.raises(ResourceWaitTimeout, match="gateway g is in unexpected status WEIRD"):
        control.settle("WEIRD", control.GATEWAY_PENDING, None, 0, 5, "gateway g")


def _endpoint(status: str, live: str | None, target: str | None, **extra: Any) -> dict[str, Any]:
    record = {"status": status, "liveVersion": live, "targetVersion": target, **extra}
    return {k: v for k, v in record.items() if v is not None}


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(_endpoint("READY", "1", "1"), id="not-moved-yet"),
        pytest.param(_endpoint("UPDATING", "1", "2"), id="moving"),
        pytest.param(_endpoint("UPDATING", "2", "2"), id="live-but-not-ready"),
        pytest.param(_endpoint("CREATING", None, "1"), id="no-live-version"),
    ],
)
def test_version_live_polls_again_until_default_serves_the_version(endpoint: dict[str, Any]) -> None:
    assert control.version_live(endpoint, "2", 0, 5, "runtime rt") is False


def test_version_live_when_default_serves_it() -> None:
    assert control.version_live(_endpoint("READY", "2", "2"), "2", 4, 5, "runtime rt") is True


def test_version_live_failed_endpoint_is_a_runtime_update_failure_with_the_reason() -> None:
    failed = _endpoint("UPDATE_FAILED", "1", "2", failureReason="health check failed")
    with pytest.raises(RuntimeUpdateFailed) as error:
        control.version_live(failed, "2", 0, 5, "runtime rt")
    assert str(error.value) == (
        "runtime rt: DEFAULT endpoint is UPDATE_FAILED (live version 1, target 2); version 2 did not go live: "
        "health check failed"
    )


@pytest.mark.parametrize(
    "endpoint", [_endpoint("UPDATING", "2", "3"), _endpoint("READY", "3", "3")], ids=["moving-on", "moved-on"]
)
def test_version_live_superseded_version_fails_instead_of_waiting(endpoint: dict[str, Any]) -> None:
    with pytest.raises(RuntimeUpdateFailed, match="moved past version 2, which this rollout created"):
        control.version_live(endpoint, "2", 0, 5, "runtime rt")


def test_version_live_times_out_on_the_poll_budget() -> None:
    with pytest.raises(ResourceWaitTimeout, match=r"version 2 still not live after 5 polls \(maxPolls=5\)"):
        control.version_live(_endpoint("UPDATING", "1", "2"), "2", 4, 5, "runtime rt")


def test_failure_messages() -> None:
    gateway = control.gateway_failure({"name": "gw", "status": "FAILED", "statusReasons": ["role invalid", "kms"]})
    assert isinstance(gateway, GatewayCreateFailed)
    assert str(gateway) == "gateway gw is FAILED: role invalid; kms"
    assert str(control.runtime_failure({"agentRuntimeId": "rt-1", "status": "CREATE_FAILED"})) == (
        "runtime rt-1 is CREATE_FAILED: no reason given by the service"
    )
    pending = control.target_failure({"name": "T", "status": "CREATE_PENDING_AUTH", "statusReasons": []})
    assert isinstance(pending, GatewayTargetFailed)
    assert "OAuth consent" in str(pending)
    deleted = control.gateway_delete_failure({"name": "gw", "status": "READY"})
    assert isinstance(deleted, GatewayDeleteFailed)
    assert "asked to delete but is READY" in str(deleted)


# --- lookups (pagination, ambiguity) ----------------------------------------------------------------------------


class PagedClient:
    """Returns list pages keyed by nextToken, recording every call."""

    def __init__(self, key: str, pages: list[list[dict[str, Any]]]) -> None:
        self.key, self.pages = key, pages
        self.calls: list[dict[str, Any]] = []

    def _list(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        index = int(kwargs.get("nextToken", "0"))
        page: dict[str, Any] = {self.key: self.pages[index]}
        if index + 1 < len(self.pages):
            page["nextToken"] = str(index + 1)
        return page

    list_agent_runtimes = _list
    list_gateways = _list


def test_find_runtime_follows_pages() -> None:
    pages = [
        [{"agentRuntimeName": "A", "agentRuntimeId": "A-1"}],
        [{"agentRuntimeName": "CustomerSupport", "agentRuntimeId": "CustomerSupport-1"}],
    ]
    fake = PagedClient("agentRuntimes", pages)
    assert control.find_runtime(fake, "CustomerSupport") == pages[1][0]
    assert fake.calls == [{}, {"nextToken": "1"}]
    assert control.find_runtime(PagedClient("agentRuntimes", pages), "Missing") is None


def test_find_gateway_rejects_ambiguous_names_across_pages() -> None:
    pages = [[{"name": "my-gateway", "gatewayId": "g-1"}], [{"name": "my-gateway", "gatewayId": "g-2"}]]
    with pytest.raises(AmbiguousResourceName, match=r"'my-gateway' matches 2 gateways \(g-1, g-2\)"):
        control.find_gateway(PagedClient("items", pages), "my-gateway")


def test_lookups_map_throttling() -> None:
    class Throttled:
        def list_gateways(self, **kwargs: Any) -> dict[str, Any]:
            raise client_error("ThrottlingException", "slow down", "ListGateways")

    with pytest.raises(AgentCoreThrottled, match="ListGateways: ThrottlingException"):
        control.find_gateway(Throttled(), "my-gateway")
