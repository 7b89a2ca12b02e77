"""rollout_core.desired: request builders, authorizer logic, target definitions."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from rollout_core import desired
from rollout_core.errors import (
    AuthorizerConflict,
    RuntimeUpdateFailed,
)

from tests.unit.helpers import (
    CLIENT_ID,
    DISCOVERY_URL,
    GATEWAY_ROLE,
    REPO_ROOT,
    RUNTIME_ROLE,
    SCOPE,
    SHIPPING_ARN,
    SHIPPING_SCHEMA,
    WARRANTY_ARN,
    present,
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
    request = desired.runtime_update_request(
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
    request = desired.runtime_update_request(runtime, authorizer=SECURE, allowlist=["X-Tenant", "Authorization"])
    assert request["authorizerConfiguration"] == SECURE
    assert request["requestHeaderConfiguration"] == {"requestHeaderAllowlist": ["X-Tenant", "Authorization"]}
    for field, value in RUNTIME_SETTINGS.items():
        if field != "requestHeaderConfiguration":
            assert request[field] == value, field


def test_update_request_sends_an_authorizer_only_to_a_runtime_without_one() -> None:
    runtime = get_runtime_like(authorizerConfiguration=copy.deepcopy(SECURE))
    assert "authorizerConfiguration" not in desired.runtime_update_request(runtime, authorizer=copy.deepcopy(SECURE))
    assert "authorizerConfiguration" not in desired.runtime_update_request(runtime)
    changed = desired.jwt_authorizer(DISCOVERY_URL, "another-client", [SCOPE], SECURE)
    with pytest.raises(AuthorizerConflict, match="Authorizer already exists"):
        desired.runtime_update_request(runtime, authorizer=changed)
    unsecured = get_runtime_like()
    assert desired.runtime_update_request(unsecured, authorizer=SECURE)["authorizerConfiguration"] == SECURE


def test_restore_request_gives_the_backed_up_configuration_with_gateway_urls_moved() -> None:
    backed_up = get_runtime_like(
        agentRuntimeId="an-old-id-is-not-sent",
        description="before the switch",
        environmentVariables={"GW_URL": "https://old.example/mcp/", "EMPTY": "", "OTHER": "x"},
    )
    current = get_runtime_like(authorizerConfiguration=copy.deepcopy(SECURE), description="after the switch")
    request = desired.runtime_restore_request(
        current, backed_up, {"https://old.example/mcp": "https://new.example/mcp"}
    )
    assert request == {
        **desired.runtime_update_request({**backed_up, "agentRuntimeId": current["agentRuntimeId"]}),
        "environmentVariables": {"GW_URL": "https://new.example/mcp", "EMPTY": "", "OTHER": "x"},
    }
    assert "authorizerConfiguration" not in request  # the one the switch added stays: AgentCore refuses any other


def test_restore_request_puts_back_an_authorizer_that_is_gone_since_the_backup() -> None:
    backed_up = get_runtime_like(authorizerConfiguration=copy.deepcopy(SECURE))
    request = desired.runtime_restore_request(get_runtime_like(), backed_up)
    assert request["authorizerConfiguration"] == SECURE
    assert request["environmentVariables"] == RUNTIME_SETTINGS["environmentVariables"]  # no URL map: unchanged


def test_describe_authorizer_names_what_it_checks() -> None:
    claims = [{"inboundTokenClaimName": "dept", "inboundTokenClaimValueType": "STRING"}]
    jwt = {**SECURE["customJWTAuthorizer"], "allowedAudience": ["api"], "customClaims": claims}
    assert desired.describe_authorizer({"customJWTAuthorizer": jwt}) == (
        f"discoveryUrl {DISCOVERY_URL}, allowedClients ['{CLIENT_ID}'], allowedAudience ['api'], "
        f"allowedScopes ['{SCOPE}'], 1 customClaims rule(s)"
    )
    assert desired.describe_authorizer(None) == "none"


def test_update_request_replaces_the_artifact_when_asked() -> None:
    artifact = {"containerConfiguration": {"containerUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/cs:v2"}}
    assert desired.runtime_update_request(get_runtime_like(), artifact=artifact)["agentRuntimeArtifact"] == artifact


def test_update_request_carries_every_model_field_the_runtime_reports() -> None:
    """Any field UpdateAgentRuntime accepts and GetAgentRuntime returns (future ones too) is sent back."""
    fields = desired.runtime_update_fields()
    assert {"agentRuntimeArtifact", "roleArn", "networkConfiguration", "environmentVariables"} <= fields
    assert {"agentRuntimeId", "clientToken", "status", "agentRuntimeArn"}.isdisjoint(fields)
    runtime = {"agentRuntimeId": "rt-abcdefghij", **{field: {"sentinel": field} for field in fields}}
    request = desired.runtime_update_request(runtime)
    assert set(request) == (fields - {"authorizerConfiguration"}) | {"agentRuntimeId"}
    assert all(request[field] == {"sentinel": field} for field in fields - {"authorizerConfiguration"})


def test_update_request_is_a_deep_copy() -> None:
    runtime = get_runtime_like()
    request = desired.runtime_update_request(runtime)
    request["environmentVariables"]["LOG_LEVEL"] = "CHANGED"
    request["networkConfiguration"]["networkModeConfig"]["subnets"].append("subnet-x")
    assert runtime["environmentVariables"]["LOG_LEVEL"] == "DEBUG"
    assert runtime["networkConfiguration"] == RUNTIME_SETTINGS["networkConfiguration"]


def test_update_request_omits_empty_description() -> None:
    """moto (and possibly AWS) report a runtime without description as "": botocore rejects "" (min length 1)."""
    request = desired.runtime_update_request(get_runtime_like(description=""))
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
    assert desired.with_authorization_header(before) == after
    assert before == original  # input not mutated


def test_full_allowlist_cannot_take_authorization() -> None:
    with pytest.raises(RuntimeUpdateFailed, match=r"already has 20 entries \(AgentCore allows 20\)"):
        desired.with_authorization_header([f"X-H{i}" for i in range(20)])


def test_header_allowlist_reads_the_runtime() -> None:
    assert desired.header_allowlist({"requestHeaderConfiguration": {"requestHeaderAllowlist": ["A"]}}) == ["A"]
    assert desired.header_allowlist({}) == []
    assert desired.header_allowlist({"requestHeaderConfiguration": None}) == []


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
    assert desired.authorizer_satisfied(actual, DISCOVERY_URL, CLIENT_ID, [SCOPE]) is satisfied


def test_jwt_authorizer_for_cognito_m2m() -> None:
    assert desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE]) == SECURE
    assert "allowedAudience" not in desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE])["customJWTAuthorizer"]


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
    result = desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE], existing)
    assert result["customJWTAuthorizer"]["allowedClients"] == sorted({"zeta", "alpha", CLIENT_ID})
    assert result["customJWTAuthorizer"]["allowedScopes"] == [SCOPE]  # the SSM scope list, exactly
    assert result["customJWTAuthorizer"]["customClaims"] == claims
    assert desired.authorizer_satisfied(result, DISCOVERY_URL, CLIENT_ID, [SCOPE])


def test_jwt_authorizer_drops_clients_of_another_discovery_url() -> None:
    existing = {"customJWTAuthorizer": {"discoveryUrl": OTHER_DISCOVERY, "allowedClients": ["stranger"]}}
    assert desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE], existing) == SECURE


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
    assert desired.normalize_gateway_url(url) == "https://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp"
    assert desired.normalize_gateway_url(desired.normalize_gateway_url(url)).endswith(expected)


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
    request = desired.gateway_create_request(GET_GATEWAY, "my-gateway-secure", SECURE)
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
    request = desired.gateway_create_request(template, "g2", SECURE)
    assert request == {
        "name": "g2",
        "roleArn": GATEWAY_ROLE,
        "protocolType": "MCP",
        "authorizerType": "CUSTOM_JWT",
        "authorizerConfiguration": SECURE,
    }


def test_gateway_clone_fields_exclude_identity_and_auth() -> None:
    fields = desired.gateway_clone_fields()
    assert {"roleArn", "protocolType", "protocolConfiguration", "description"} <= fields
    assert {"name", "authorizerType", "authorizerConfiguration", "clientToken", "tags", "gatewayId"}.isdisjoint(fields)


def test_gateway_update_request_sends_everything_back_with_the_new_authorizer() -> None:
    current = {**GET_GATEWAY, "authorizerType": "CUSTOM_JWT", "authorizerConfiguration": SECURE}
    new_auth = desired.jwt_authorizer(OTHER_DISCOVERY, CLIENT_ID, [SCOPE])
    request = desired.gateway_update_request(current, new_auth)
    assert request["gatewayIdentifier"] == "my-gateway-abcdefghij"
    assert request["authorizerConfiguration"] == new_auth
    for field in ("name", "roleArn", "protocolType", "authorizerType", "protocolConfiguration", "description"):
        assert request[field] == current[field]
    assert {"status", "gatewayUrl", "gatewayArn", "createdAt", "ResponseMetadata"}.isdisjoint(request)


def test_settings_create_gateway_cannot_take_are_derived_from_the_model() -> None:
    # UpdateGateway can set these, CreateGateway cannot; no call sets webAclArn (a WAFv2 association).
    assert desired.gateway_post_create_fields() == {"customTransformConfiguration", "wafConfiguration"}
    assert desired.gateway_uncarried_fields() == {"webAclArn"}


def test_gateway_carry_plan_names_what_no_call_can_carry_without_values() -> None:
    template = {
        **GET_GATEWAY,
        "wafConfiguration": {"failureMode": "FAIL_CLOSE"},
        "customTransformConfiguration": {"lambda": {"arn": "arn:aws:lambda:us-east-1:123456789012:function:t"}},
        "webAclArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/tools/1",
    }
    tags = {"team": "support", "aws:cloudformation:stack-name": "tutorial-stack"}
    carry = desired.gateway_carry_plan(template, tags)
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
    assert present(carry["afterCreate"])["update"]["wafConfiguration"] is not template["wafConfiguration"]
    assert desired.gateway_carry_plan(GET_GATEWAY, {}) == {"afterCreate": None, "notCarried": []}


def test_gateway_update_request_takes_carried_settings() -> None:
    current = {**GET_GATEWAY, "authorizerType": "CUSTOM_JWT", "authorizerConfiguration": SECURE}
    waf = {"wafConfiguration": {"failureMode": "FAIL_OPEN"}}
    request = desired.gateway_update_request(current, SECURE, waf)
    assert request["wafConfiguration"] == {"failureMode": "FAIL_OPEN"}
    assert request["kmsKeyArn"] == GET_GATEWAY["kmsKeyArn"]  # every other setting sent back (a full replace)
    assert request["authorizerConfiguration"] == SECURE


# --- targets ----------------------------------------------------------------------------------------------------


def test_warranty_target_definition_uses_packaged_schema_and_gateway_role() -> None:
    packaged = json.loads(
        (REPO_ROOT / "layers/rollout_core/rollout_core/warranty_schema.json").read_text(encoding="utf-8")
    )
    definition = desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN, "Warranty tool")
    assert definition == {
        "name": "WarrantyCheck",
        "description": "Warranty tool",
        "targetConfiguration": {
            "mcp": {"lambda": {"lambdaArn": WARRANTY_ARN, "toolSchema": {"inlinePayload": packaged}}}
        },
        "credentialProviderConfigurations": [{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    }
    assert [tool["name"] for tool in packaged] == ["check_warranty"]
    assert "description" not in desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN)
    assert desired.target_lambda_arn(definition) == WARRANTY_ARN


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
    assert desired.target_definition(GET_TARGET) == {
        "name": "ShippingEstimate",
        "targetConfiguration": GET_TARGET["targetConfiguration"],
        "credentialProviderConfigurations": GET_TARGET["credentialProviderConfigurations"],
    }
    assert "gatewayIdentifier" not in desired.target_clone_fields()


def test_targets_equivalent_compares_configuration_and_credentials_only() -> None:
    definition = desired.target_definition(GET_TARGET)
    assert desired.targets_equivalent(GET_TARGET, {**definition, "description": "different"})
    drifted = copy.deepcopy(definition)
    drifted["targetConfiguration"]["mcp"]["lambda"]["lambdaArn"] = WARRANTY_ARN
    assert not desired.targets_equivalent(GET_TARGET, drifted)
    assert not desired.targets_equivalent(GET_TARGET, {**definition, "credentialProviderConfigurations": []})


def test_target_lambda_arn_of_non_lambda_target_is_none() -> None:
    assert desired.target_lambda_arn({"targetConfiguration": {"mcp": {"openApiSchema": {}}}}) is None
    assert desired.target_lambda_arn({}) is None
