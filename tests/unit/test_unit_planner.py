"""rollout_core.planner against plain moto: what the rollout would change, from the tutorial's state onwards."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from rollout_core import agentcore, desired
from rollout_core.errors import (
    AgentCoreBusy,
    AmbiguousResourceName,
    AuthorizerConflict,
    GatewayNotFound,
    InvalidConfiguration,
    RuntimeUpdateFailed,
)
from rollout_core.planner import build_plan, check_code_bucket, plan_environment, plan_runtime
from rollout_core.state import AgentArtifact, CognitoConfig, Config, GatewayPlan

from tests.unit.helpers import (
    CLIENT_ID,
    DEFAULT_ENV,
    DISCOVERY_URL,
    POOL_ID,
    RUNTIME_HEADERS,
    SCOPE,
    SHIPPING_ARN,
    SHIPPING_SCHEMA,
    TOKEN_URL,
    WARRANTY_ARN,
    Seeded,
    as_agentcore,
    create_gateway_with_targets,
    present,
    put_ssm,
    run_load_config,
    seed_tutorial,
)

SECURE = desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE])
COGNITO: CognitoConfig = {
    "discoveryUrl": DISCOVERY_URL,
    "clientId": CLIENT_ID,
    "poolId": POOL_ID,
    "tokenUrl": TOKEN_URL,
    "scopes": [SCOPE],
}


def targets_by_name(definitions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in definitions}


def test_tutorial_state_plans_a_new_gateway_carrying_every_target(
    client: Any, seeded: Seeded, config: Config, schema: list[dict[str, Any]]
) -> None:
    plan = build_plan(client, config)
    gateway = plan["gateway"]

    assert plan["changed"] is True
    assert gateway["create"] is True
    assert gateway["deleteFirst"] is None
    assert gateway["existing"] is None
    assert gateway["updateAuthorizer"] is False
    create_request, before = present(gateway["createRequest"]), present(gateway["before"])
    assert create_request["name"] == "my-gateway-secure"
    assert create_request["authorizerType"] == "CUSTOM_JWT"
    assert create_request["authorizerConfiguration"] == SECURE
    assert create_request["description"] == "Customer support tools (tutorial)"
    assert create_request["protocolConfiguration"]["mcp"]["searchType"] == "SEMANTIC"
    assert before["id"] == seeded.old_gateway_id
    assert before["authorizerType"] == "NONE"
    assert present(before["url"]).endswith("/mcp")  # moto's gatewayUrl lacks /mcp; the plan normalises it
    assert gateway["deleteOld"] == {"id": seeded.old_gateway_id, "name": "my-gateway"}
    assert gateway["targetNamesBefore"] == ["ShippingEstimate", "WarrantyCheck"]
    # The tutorial's gateway has nothing CreateGateway cannot take.
    assert (gateway["afterCreate"], gateway["notCarried"]) == (None, [])

    to_create = targets_by_name(gateway["targetsToCreate"])
    assert sorted(to_create) == ["ShippingEstimate", "WarrantyCheck"]
    assert gateway["targetsToUpdate"] == []
    # WarrantyCheck is rebuilt from SSM (Lambda ARN + packaged schema), keeping the old description.
    assert to_create["WarrantyCheck"] == desired.warranty_target_definition(
        "WarrantyCheck", WARRANTY_ARN, "WarrantyCheck tool (tutorial)"
    )
    assert to_create["WarrantyCheck"]["targetConfiguration"]["mcp"]["lambda"]["toolSchema"]["inlinePayload"] == schema
    # Any other target is carried verbatim.
    shipping = client.get_gateway_target(
        gatewayIdentifier=seeded.old_gateway_id, targetId=seeded.target_ids["ShippingEstimate"]
    )
    assert to_create["ShippingEstimate"] == desired.target_definition(dict(shipping))
    assert to_create["ShippingEstimate"]["targetConfiguration"]["mcp"]["lambda"] == {
        "lambdaArn": SHIPPING_ARN,
        "toolSchema": {"inlinePayload": SHIPPING_SCHEMA},
    }

    assert plan["runtime"]["updateRequired"] is True
    assert plan["runtime"]["id"] == seeded.runtime_id
    assert plan["runtime"]["authorizerBefore"] is None
    assert plan["runtime"]["authorizerAfter"] == SECURE
    assert plan["runtime"]["allowlistAfter"] == [*RUNTIME_HEADERS["requestHeaderAllowlist"], "Authorization"]
    assert plan["environment"] == {
        "name": "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL",
        "before": None,
        "update": True,
        "urlUpdate": True,
        "gatewayNameVar": {"name": "AGENTCORE_GATEWAY_NAME", "before": None, "after": "my-gateway-secure"},
        "artifactUpdate": False,
        "repair": False,
    }
    assert plan["actions"] == [
        "secure runtime CustomerSupport: CUSTOM_JWT authorizer + Authorization allowlist",
        "create gateway my-gateway-secure with CUSTOM_JWT authorizer",
        "create target ShippingEstimate",
        "create target WarrantyCheck",
        "delete old gateway my-gateway and its targets",
        "set runtime env AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL to the new gateway URL",
        "set runtime env AGENTCORE_GATEWAY_NAME to my-gateway-secure",
    ]


class WithWaf:
    """The moto client, with GetGateway answering the settings plain moto does not store (as AWS would)."""

    def __init__(self, inner: Any, extra: dict[str, Any]) -> None:
        self.inner, self.extra = inner, extra

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name != "get_gateway":
            return method
        return lambda **kwargs: {**method(**kwargs), **self.extra}


def test_settings_create_gateway_cannot_take_are_planned_after_create(
    client: Any, seeded: Seeded, config: Config
) -> None:
    old_arn = client.get_gateway(gatewayIdentifier=seeded.old_gateway_id)["gatewayArn"]
    client.tag_resource(resourceArn=old_arn, tags={"team": "support", "aws:cloudformation:stack-name": "tutorial"})
    extra = {
        "wafConfiguration": {"failureMode": "FAIL_CLOSE"},
        "webAclArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/tools/1",
    }
    plan = build_plan(as_agentcore(WithWaf(client, extra)), config)
    gateway = plan["gateway"]
    assert gateway["afterCreate"] == {
        "update": {"wafConfiguration": {"failureMode": "FAIL_CLOSE"}},
        "tags": {"team": "support"},
    }
    assert gateway["notCarried"] == ["tags:aws:*", "webAclArn"]
    assert "wafConfiguration" not in present(gateway["createRequest"])  # CreateGateway would refuse it
    assert "carry wafConfiguration, tags over to gateway my-gateway-secure once it is READY" in plan["actions"]


def test_plan_makes_no_mutating_calls(client: Any, seeded: Seeded, config: Config, backend: Any) -> None:
    before = (
        len(backend.gateways),
        len(backend.gateway_targets),
        backend.agent_runtimes[seeded.runtime_id].agent_runtime_version,
    )
    build_plan(client, config)
    after = (
        len(backend.gateways),
        len(backend.gateway_targets),
        backend.agent_runtimes[seeded.runtime_id].agent_runtime_version,
    )
    assert after == before


def test_same_name_deletes_the_open_gateway_first(client: Any, seeded: Seeded) -> None:
    config = run_load_config(client, env={**DEFAULT_ENV, "ROLLOUT_GATEWAY_NAME": "my-gateway"})
    assert config["settings"]["gatewayUrlEnvVar"] == "AGENTCORE_GATEWAY_MY_GATEWAY_URL"
    plan = build_plan(client, config)
    gateway = plan["gateway"]
    assert gateway["deleteFirst"] == {
        "id": seeded.old_gateway_id,
        "name": "my-gateway",
        "why": "authorizer type cannot change",
    }
    assert gateway["create"] is True
    assert gateway["deleteOld"] is None
    assert present(gateway["createRequest"])["name"] == "my-gateway"
    assert present(gateway["createRequest"])["authorizerType"] == "CUSTOM_JWT"
    assert sorted(t["name"] for t in gateway["targetsToCreate"]) == ["ShippingEstimate", "WarrantyCheck"]
    assert "delete gateway my-gateway (authorizer type cannot change)" in plan["actions"]
    # The runtime still points at the open gateway's URL: it must be repointed at the recreated one.
    assert plan["environment"]["name"] == "AGENTCORE_GATEWAY_MY_GATEWAY_URL"
    assert plan["environment"]["update"] is True


def secure_everything(client: Any, backend: Any, seeded: Seeded, delete_old: bool = True) -> dict[str, Any]:
    """The end state of a successful rollout, built directly (no rollout code involved); `delete_old=False`: all but
    the contract."""
    gateway = create_gateway_with_targets(client, "my-gateway-secure", SECURE)
    for name, definition in (
        ("WarrantyCheck", desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN, "WarrantyCheck tool")),
        ("ShippingEstimate", None),
    ):
        if definition is None:
            old = client.get_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=seeded.target_ids[name])
            definition = desired.target_definition(dict(old))
        client.create_gateway_target(gatewayIdentifier=gateway["gatewayId"], **definition)
    if delete_old:
        client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    runtime = agentcore.get_runtime(client, seeded.runtime_id)
    env = {
        **runtime["environmentVariables"],
        "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL": desired.normalize_gateway_url(gateway["gatewayUrl"]),
        "AGENTCORE_GATEWAY_NAME": "my-gateway-secure",
    }
    client.update_agent_runtime(
        **desired.runtime_update_request(
            runtime,
            authorizer=SECURE,
            allowlist=desired.with_authorization_header(desired.header_allowlist(runtime)),
            environment=env,
        )
    )
    backend.agent_runtimes[seeded.runtime_id].status = "READY"
    endpoint = backend.agent_runtime_endpoints[(seeded.runtime_id, "DEFAULT")]
    endpoint.live_version = endpoint.target_version = backend.agent_runtimes[seeded.runtime_id].agent_runtime_version
    return gateway


def test_secured_state_plans_nothing(client: Any, backend: Any, seeded: Seeded) -> None:
    gateway = secure_everything(client, backend, seeded)
    config = run_load_config(client)
    assert config["oldGateway"] is None
    assert present(config["newGateway"])["id"] == gateway["gatewayId"]
    plan = build_plan(client, config)
    assert plan["changed"] is False
    assert plan["actions"] == []
    assert plan["runtime"]["updateRequired"] is False
    assert plan["gateway"]["create"] is False
    assert plan["gateway"]["updateAuthorizer"] is False
    assert plan["gateway"]["targetsToCreate"] == []
    assert plan["gateway"]["targetsToUpdate"] == []
    assert plan["gateway"]["deleteOld"] is None
    assert (plan["gateway"]["afterCreate"], plan["gateway"]["notCarried"]) == (None, [])
    assert plan["environment"]["update"] is False


def test_a_failed_new_gateway_is_replaced_not_reused(client: Any, backend: Any, seeded: Seeded) -> None:
    gateway = secure_everything(client, backend, seeded)
    backend.gateways[gateway["gatewayId"]].status = "FAILED"
    plan = build_plan(client, run_load_config(client))
    assert plan["gateway"]["deleteFirst"] == {
        "id": gateway["gatewayId"],
        "name": "my-gateway-secure",
        "why": "it is FAILED",
    }
    assert plan["gateway"]["create"] is True
    assert "delete gateway my-gateway-secure (it is FAILED)" in plan["actions"]
    assert plan["environment"]["urlUpdate"] is True  # the replacement has another URL


@pytest.mark.parametrize("status", ["FAILED", "UPDATE_UNSUCCESSFUL", "SYNCHRONIZE_UNSUCCESSFUL", "DELETING"])
def test_a_failed_target_is_deleted_and_created_again(client: Any, backend: Any, seeded: Seeded, status: str) -> None:
    gateway = secure_everything(client, backend, seeded)
    shipping = next(
        t
        for t in client.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]
        if t["name"] == "ShippingEstimate"
    )
    backend.gateway_targets[(gateway["gatewayId"], shipping["targetId"])].status = status
    plan = build_plan(client, run_load_config(client))
    assert plan["gateway"]["targetsToReplace"] == [
        {"name": "ShippingEstimate", "targetId": shipping["targetId"], "status": status}
    ]
    assert [t["name"] for t in plan["gateway"]["targetsToCreate"]] == ["ShippingEstimate"]
    assert plan["gateway"]["targetsToUpdate"] == []
    assert plan["actions"] == [f"delete target ShippingEstimate ({status})", "create target ShippingEstimate"]


def test_a_target_still_creating_is_left_to_the_poll(client: Any, backend: Any, seeded: Seeded) -> None:
    gateway = secure_everything(client, backend, seeded)
    for summary in client.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]:
        backend.gateway_targets[(gateway["gatewayId"], summary["targetId"])].status = "CREATING"
    plan = build_plan(client, run_load_config(client))
    assert plan["gateway"]["targetsToReplace"] == []
    assert plan["changed"] is False


def test_a_runtime_left_update_failed_is_repaired(client: Any, backend: Any, seeded: Seeded) -> None:
    secure_everything(client, backend, seeded)
    backend.agent_runtimes[seeded.runtime_id].status = "UPDATE_FAILED"
    plan = build_plan(client, run_load_config(client))
    assert plan["changed"] is True
    assert plan["environment"]["update"] is True
    assert plan["environment"]["repair"] is True
    assert plan["runtime"]["repair"] == "runtime CustomerSupport is UPDATE_FAILED (no reason given by the service)"


def test_a_runtime_whose_default_endpoint_lags_is_repaired(client: Any, backend: Any, seeded: Seeded) -> None:
    secure_everything(client, backend, seeded)
    backend.agent_runtime_endpoints[(seeded.runtime_id, "DEFAULT")].live_version = "1"
    plan = build_plan(client, run_load_config(client))
    assert plan["runtime"]["repair"] == "runtime CustomerSupport: DEFAULT serves version 1, not the latest version 2"
    assert plan["environment"]["update"] is True


@pytest.mark.parametrize(
    ("status", "error"),
    [("UPDATING", AgentCoreBusy), ("CREATE_FAILED", RuntimeUpdateFailed), ("DELETING", RuntimeUpdateFailed)],
)
def test_a_runtime_that_no_update_can_repair_or_that_is_busy_stops_the_plan(
    client: Any, backend: Any, seeded: Seeded, status: str, error: type[Exception]
) -> None:
    config = run_load_config(client)
    backend.agent_runtimes[seeded.runtime_id].status = status
    with pytest.raises(error, match=f"runtime CustomerSupport is {status}"):
        build_plan(client, config)


def test_drifted_warranty_lambda_is_updated_in_place(client: Any, backend: Any, seeded: Seeded) -> None:
    gateway = secure_everything(client, backend, seeded)
    moved = WARRANTY_ARN + "V2"
    put_ssm({"warranty_check_lambda_arn": moved})
    plan = build_plan(client, run_load_config(client))
    assert plan["actions"] == ["update target WarrantyCheck"]
    (update,) = plan["gateway"]["targetsToUpdate"]
    warranty_id = next(
        t["targetId"]
        for t in client.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]
        if t["name"] == "WarrantyCheck"
    )
    assert update["targetId"] == warranty_id
    assert desired.target_lambda_arn(update) == moved
    assert plan["gateway"]["targetsToCreate"] == []


def test_without_the_old_gateway_the_new_one_is_the_source(client: Any, backend: Any, seeded: Seeded) -> None:
    gateway = secure_everything(client, backend, seeded)
    for summary in client.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]:
        if summary["name"] == "ShippingEstimate":
            client.delete_gateway_target(gatewayIdentifier=gateway["gatewayId"], targetId=summary["targetId"])
    plan = build_plan(client, run_load_config(client))
    # Without the old gateway the new one is the source: the lost target cannot be known, only WarrantyCheck.
    assert plan["gateway"]["targetNamesBefore"] == ["WarrantyCheck"]
    assert plan["changed"] is False


def test_an_old_gateway_left_deleting_by_a_contract_takes_its_targets_from_the_new_gateway(
    client: Any, backend: Any, seeded: Seeded
) -> None:
    secure_everything(client, backend, seeded, delete_old=False)
    # An earlier run's contract deleted the old targets; the old gateway's own deletion is still under way.
    for target_id in seeded.target_ids.values():
        client.delete_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=target_id)
    backend.gateways[seeded.old_gateway_id].status = "DELETING"
    plan = build_plan(client, run_load_config(client))
    gateway = plan["gateway"]
    # Nothing lost and nothing rewritten: every target is known (and verified later) from the new gateway.
    assert gateway["targetNamesBefore"] == ["ShippingEstimate", "WarrantyCheck"]
    assert (gateway["targetsToCreate"], gateway["targetsToUpdate"], gateway["targetsToReplace"]) == ([], [], [])
    assert gateway["deleteOld"] == {"id": seeded.old_gateway_id, "name": "my-gateway"}
    assert plan["actions"] == ["delete old gateway my-gateway and its targets"]


def test_an_old_gateway_gone_since_load_config_is_not_a_failure(client: Any, backend: Any, seeded: Seeded) -> None:
    secure_everything(client, backend, seeded, delete_old=False)
    config = run_load_config(client)
    assert present(config["oldGateway"])["id"] == seeded.old_gateway_id
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)  # its (asynchronous) deletion ends meanwhile
    plan = build_plan(client, config)
    assert plan["gateway"]["deleteOld"] is None
    assert plan["gateway"]["targetNamesBefore"] == ["ShippingEstimate", "WarrantyCheck"]
    assert plan["changed"] is False


def test_new_gateway_with_other_pool_gets_its_authorizer_updated(client: Any, backend: Any, seeded: Seeded) -> None:
    other = desired.jwt_authorizer(
        DISCOVERY_URL.replace("us-east-1_AbCdEf123", "us-east-1_Old0000"), CLIENT_ID, [SCOPE]
    )
    create_gateway_with_targets(client, "my-gateway-secure", other)
    plan = build_plan(client, run_load_config(client))
    assert plan["gateway"]["create"] is False
    assert plan["gateway"]["updateAuthorizer"] is True
    assert plan["gateway"]["authorizerAfter"] == SECURE
    assert "update JWT authorizer of gateway my-gateway-secure" in plan["actions"]
    # Targets come from the old gateway (still there) and all are missing on the new one.
    assert sorted(t["name"] for t in plan["gateway"]["targetsToCreate"]) == ["ShippingEstimate", "WarrantyCheck"]


def test_neither_gateway_is_gateway_not_found(client: Any, seeded: Seeded) -> None:
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    config = run_load_config(client)
    assert config["oldGateway"] is None
    assert config["newGateway"] is None
    with pytest.raises(GatewayNotFound, match="neither gateway 'my-gateway' nor 'my-gateway-secure' exists"):
        build_plan(client, config)


def test_ambiguous_gateway_name(client: Any, seeded: Seeded) -> None:
    duplicate = create_gateway_with_targets(client, "my-gateway")
    with pytest.raises(AmbiguousResourceName) as caught:
        run_load_config(client)
    assert "'my-gateway' matches 2 gateways" in str(caught.value)
    assert seeded.old_gateway_id in str(caught.value)
    assert duplicate["gatewayId"] in str(caught.value)


def test_ambiguous_runtime_name(client: Any, ssm_parameters: Any) -> None:
    first = seed_tutorial(client)
    second = seed_tutorial(client)
    with pytest.raises(AmbiguousResourceName) as caught:
        run_load_config(client)
    assert "runtime name 'CustomerSupport' matches 2 runtimes" in str(caught.value)
    assert first.runtime_id in str(caught.value)
    assert second.runtime_id in str(caught.value)


# --- pure helpers -----------------------------------------------------------------------------------------------


def test_plan_runtime_keeps_a_satisfying_authorizer_but_adds_the_header() -> None:
    runtime = {
        "agentRuntimeId": "rt",
        "agentRuntimeArn": "arn:rt",
        "agentRuntimeName": "CustomerSupport",
        "authorizerConfiguration": copy.deepcopy(SECURE),
    }
    plan = plan_runtime(runtime, COGNITO)
    assert plan["updateRequired"] is True
    assert plan["authorizerAfter"] == SECURE
    assert plan["allowlistBefore"] == []
    assert plan["allowlistAfter"] == ["Authorization"]


def _runtime_with(authorizer: dict[str, Any]) -> dict[str, Any]:
    return {
        "agentRuntimeId": "rt",
        "agentRuntimeArn": "arn:rt",
        "agentRuntimeName": "CustomerSupport",
        "authorizerConfiguration": authorizer,
        "requestHeaderConfiguration": {"requestHeaderAllowlist": ["Authorization"]},
    }


@pytest.mark.parametrize(
    ("current", "shown"),
    [
        pytest.param(
            {"customJWTAuthorizer": {**SECURE["customJWTAuthorizer"], "allowedAudience": ["api"]}},
            "allowedAudience ['api']",
            id="audience-check",
        ),
        pytest.param(
            desired.jwt_authorizer(DISCOVERY_URL, "another-client", [SCOPE]),
            "allowedClients ['another-client']",
            id="other-client",
        ),
        pytest.param(
            desired.jwt_authorizer(DISCOVERY_URL.replace("AbCdEf123", "Other9999"), CLIENT_ID, [SCOPE]),
            "us-east-1_Other9999",
            id="other-pool",
        ),
    ],
)
def test_plan_runtime_refuses_to_replace_a_different_authorizer(current: dict[str, Any], shown: str) -> None:
    """AgentCore refuses any authorizer sent to a runtime that has one: a different one stops the plan."""
    with pytest.raises(AuthorizerConflict) as conflict:
        plan_runtime(_runtime_with(current), COGNITO)
    message = str(conflict.value)
    assert "runtime CustomerSupport already has a JWT authorizer that differs from the desired one" in message
    assert shown in message.split("desired [")[0]  # in the "current" part
    assert f"desired [discoveryUrl {DISCOVERY_URL}, allowedClients ['{CLIENT_ID}'], allowedScopes ['{SCOPE}']]" in (
        message
    )
    assert "remove the runtime's authorizer" in message


def test_plan_runtime_adds_the_authorizer_to_a_runtime_without_one() -> None:
    runtime = {"agentRuntimeId": "rt", "agentRuntimeArn": "arn:rt", "authorizerConfiguration": None}
    plan = plan_runtime(runtime, COGNITO)
    assert (plan["updateRequired"], plan["authorizerBefore"], plan["authorizerAfter"]) == (True, None, SECURE)


def environment_input(existing: dict[str, Any] | None, delete_first: dict[str, Any] | None = None) -> GatewayPlan:
    """What plan_environment reads of a gateway plan: the gateway kept (`existing`), whether it is deleted first."""
    return cast(GatewayPlan, {"existing": existing, "deleteFirst": delete_first})


def test_plan_environment_after_delete_first_always_updates() -> None:
    runtime = {"environmentVariables": {"URL": "https://gw/mcp", "AGENTCORE_GATEWAY_NAME": "gw"}}
    existing = {"url": "https://gw/mcp"}
    assert plan_environment(runtime, environment_input(existing), "URL", "gw", None)["update"] is False
    deleted_first = environment_input(existing, {"id": "gw"})
    assert plan_environment(runtime, deleted_first, "URL", "gw", None)["update"] is True
    assert plan_environment(runtime, environment_input(None), "URL", "gw", None) == {
        "name": "URL",
        "before": "https://gw/mcp",
        "update": True,
        "urlUpdate": True,
        "gatewayNameVar": {"name": "AGENTCORE_GATEWAY_NAME", "before": "gw", "after": "gw"},
        "artifactUpdate": False,
        "repair": False,
    }


def test_plan_environment_sets_the_gateway_name_the_agent_reads() -> None:
    runtime = {"environmentVariables": {"URL": "https://gw/mcp"}}  # pointed by an earlier version of the rollout
    plan = plan_environment(runtime, environment_input({"url": "https://gw/mcp"}), "URL", "gw", None)
    assert (plan["update"], plan["urlUpdate"]) == (True, False)
    assert plan["gatewayNameVar"] == {"name": "AGENTCORE_GATEWAY_NAME", "before": None, "after": "gw"}


def test_plan_environment_detects_a_new_agent_artifact() -> None:
    current = {
        "codeConfiguration": {
            "code": {"s3": {"bucket": "b", "prefix": "v1.zip"}},
            "runtime": "PYTHON_3_13",
            "entryPoint": ["main.py"],
        }
    }
    env = {"URL": "https://gw/mcp", "AGENTCORE_GATEWAY_NAME": "gw"}
    runtime = {"environmentVariables": env, "agentRuntimeArtifact": current}
    gateway = environment_input({"url": "https://gw/mcp"})
    package: AgentArtifact = {
        "s3Bucket": "b",
        "s3Key": "v1.zip",
        "runtime": "PYTHON_3_13",
        "entryPoint": ["main.py"],
        "sha256": "0" * 64,
    }
    same = plan_environment(runtime, gateway, "URL", "gw", package)
    assert (same["update"], same["artifactUpdate"]) == (False, False)
    moved: AgentArtifact = {**package, "s3Key": "v2.zip"}
    new = plan_environment(runtime, gateway, "URL", "gw", moved)
    assert (new["update"], new["artifactUpdate"]) == (True, True)
    # The same object on another runtime version or entry point is not the package as built: switch it.
    for changed in ({"runtime": "PYTHON_3_11"}, {"entryPoint": ["opentelemetry-instrument", "main.py"]}):
        runtime["agentRuntimeArtifact"] = {"codeConfiguration": {**current["codeConfiguration"], **changed}}
        assert plan_environment(runtime, gateway, "URL", "gw", package)["artifactUpdate"] is True
    # A pinned version is part of the object.
    runtime["agentRuntimeArtifact"] = current
    pinned: AgentArtifact = {**package, "versionId": "v-2"}
    assert plan_environment(runtime, gateway, "URL", "gw", pinned)["artifactUpdate"] is True


@pytest.mark.parametrize(
    "scopes", [None, [], ["other/scope"], [SCOPE, "admin/all"]], ids=["missing", "empty", "other", "extra"]
)
def test_plan_runtime_treats_a_missing_or_different_scope_list_as_a_conflict(scopes: list[str] | None) -> None:
    jwt = {k: v for k, v in SECURE["customJWTAuthorizer"].items() if k != "allowedScopes"}
    if scopes is not None:
        jwt["allowedScopes"] = scopes
    with pytest.raises(AuthorizerConflict, match=rf"desired \[.*allowedScopes \['{SCOPE}'\]\]"):
        plan_runtime(_runtime_with({"customJWTAuthorizer": jwt}), COGNITO)


def test_a_codezip_runtime_outside_the_deployed_artifact_bucket_is_refused_before_any_change() -> None:
    runtime = {
        "agentRuntimeName": "CustomerSupport",
        "agentRuntimeArtifact": {"codeConfiguration": {"code": {"s3": {"bucket": "agent-code", "prefix": "a.zip"}}}},
    }
    check_code_bucket(runtime, "agent-code")
    check_code_bucket({"agentRuntimeArtifact": {"containerConfiguration": {"containerUri": "x"}}}, "")
    with pytest.raises(InvalidConfiguration, match="deploy with ArtifactBucket=agent-code"):
        check_code_bucket(runtime, "")
    with pytest.raises(InvalidConfiguration, match="may only read other-bucket"):
        check_code_bucket(runtime, "other-bucket")
