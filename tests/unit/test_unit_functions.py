"""The step functions' domain code (and each handler's wiring) against plain moto."""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import pytest
from rollout_core import agentcore, desired, planner
from rollout_core.errors import (
    AgentCoreBusy,
    AuthorizerConflict,
    GatewayCreateFailed,
    GatewayDeleteFailed,
    GatewayTargetFailed,
    InvalidConfiguration,
    InvalidExecutionInput,
    ResourceWaitTimeout,
    RolloutVerificationFailed,
    RuntimeNotFound,
    RuntimeUpdateFailed,
)
from rollout_core.planner import build_plan
from rollout_core.state import Config
from unit_support import (
    ACCOUNT,
    CLIENT_ID,
    DEFAULT_ENV,
    DISCOVERY_URL,
    PREFIX,
    RUNTIME_ARTIFACT,
    RUNTIME_DESCRIPTION,
    RUNTIME_ENV,
    RUNTIME_HEADERS,
    RUNTIME_LIFECYCLE,
    RUNTIME_NETWORK,
    RUNTIME_PROTOCOL,
    RUNTIME_ROLE,
    SCOPE,
    SSM_VALUES,
    WARRANTY_ARN,
    FakeCognitoIdp,
    FakeLambdaContext,
    Seeded,
    client_error,
    create_gateway_with_targets,
    load_function,
    present,
    run_load_config,
)

SECURE = desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE])
NEW_ENV_VAR = "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"
NEW_GATEWAY = "my-gateway-secure"
NEW_URL = "https://my-gateway-secure-0123456789.gateway.bedrock-agentcore.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def fn(powertools_env: None) -> dict[str, Any]:
    steps = (
        "load_config",
        "plan",
        "secure_runtime",
        "provision_gateway",
        "provision_targets",
        "delete_gateway",
        "check_status",
        "switch_runtime",
        "backup",
        "report",
    )
    return {step: load_function(step) for step in steps}


def make_ready(backend: Any, runtime_id: str) -> None:
    """moto leaves an updated runtime UPDATING forever; AWS settles it to READY, then DEFAULT serves the version."""
    runtime = backend.agent_runtimes[runtime_id]
    runtime.status = "READY"
    default_endpoint(backend, runtime_id).update(agent_runtime_version=runtime.agent_runtime_version, description=None)
    make_live(backend, runtime_id)


def default_endpoint(backend: Any, runtime_id: str) -> Any:
    return backend.agent_runtime_endpoints[(runtime_id, "DEFAULT")]


def make_live(backend: Any, runtime_id: str) -> None:
    endpoint = default_endpoint(backend, runtime_id)
    endpoint.status, endpoint.live_version = "READY", endpoint.target_version


def runtime_record(client: Any, runtime_id: str) -> dict[str, Any]:
    return agentcore.get_runtime(client, runtime_id)


def target_names(client: Any, gateway_id: str) -> list[str]:
    return sorted(t["name"] for t in client.list_gateway_targets(gatewayIdentifier=gateway_id)["items"])


def rollout(fn: dict[str, Any], client: Any, backend: Any, config: Config) -> dict[str, Any]:
    """Every mutating step in the state machine's order (expand, switch, contract), moto's UPDATING settled by hand."""
    plan = build_plan(client, config)
    gateway = fn["provision_gateway"].provision_gateway(client, plan["gateway"], "execution-1")
    if gateway["settingsPending"]:
        gateway = fn["provision_gateway"].carry_settings(client, gateway, plan["gateway"])
    fn["provision_targets"].provision_targets(client, gateway["id"], plan["gateway"])
    settings = config["settings"]
    fn["switch_runtime"].switch_runtime(
        client,
        config["runtime"]["id"],
        config["cognito"],
        settings["gatewayUrlEnvVar"],
        gateway["url"],
        settings["gatewayName"],
    )
    make_ready(backend, config["runtime"]["id"])
    if plan["gateway"]["deleteOld"]:
        fn["delete_gateway"].delete_targets(client, plan["gateway"]["deleteOld"])
        fn["delete_gateway"].delete_gateway(client, plan["gateway"]["deleteOld"])
    return {"config": config, "plan": plan, "gateway": gateway, "smoke": {"passed": True}}


def record_updates(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every UpdateAgentRuntime request the client sends (still sent to moto)."""
    sent: list[dict[str, Any]] = []
    real = client.update_agent_runtime

    def recorded(**kwargs: Any) -> Any:
        sent.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(client, "update_agent_runtime", recorded)
    return sent


def switch(fn: dict[str, Any], client: Any, runtime_id: str, url: str = "", **kwargs: Any) -> dict[str, Any]:
    """The switch with the unit tests' Cognito settings, pointing at `url` (NEW_URL by default)."""
    cognito = {"discoveryUrl": DISCOVERY_URL, "clientId": CLIENT_ID, "scopes": [SCOPE]}
    result: dict[str, Any] = fn["switch_runtime"].switch_runtime(
        client, runtime_id, cognito, NEW_ENV_VAR, url or NEW_URL, NEW_GATEWAY, **kwargs
    )
    return result


# --- load_config ------------------------------------------------------------------------------------------------


def test_load_config_refuses_a_gateway_name_create_gateway_would_refuse(fn: dict[str, Any], aws: None) -> None:
    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"{name} called before the configuration was validated")

    with pytest.raises(InvalidConfiguration) as caught:
        run_load_config(fn["load_config"], NoCalls(), env={**DEFAULT_ENV, "ROLLOUT_GATEWAY_NAME": "my_gateway_secure"})
    message = str(caught.value)
    for expected in ("ROLLOUT_GATEWAY_NAME", "GatewayName", "'my_gateway_secure'", "([0-9a-zA-Z][-]?){1,48}"):
        assert expected in message


def test_load_config_resolves_everything(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    cognito_idp = FakeCognitoIdp()
    config = run_load_config(fn["load_config"], client, {"dryRun": True}, cognito_idp=cognito_idp)
    assert config["settings"]["dryRun"] is True
    assert config["settings"]["pollSeconds"] == 0
    assert config["settings"]["maxPolls"] == 5
    assert config["settings"]["gatewayUrlEnvVar"] == NEW_ENV_VAR
    assert config["cognito"] == {
        "discoveryUrl": DISCOVERY_URL,
        "clientId": CLIENT_ID,
        "poolId": SSM_VALUES["pool_id"],
        "tokenUrl": SSM_VALUES["cognito_token_url"],
        "scopes": [SSM_VALUES["cognito_auth_scope"]],
    }
    assert cognito_idp.described == [SSM_VALUES["pool_id"]]
    assert config["warrantyLambdaArn"] == WARRANTY_ARN
    assert config["runtime"] == {"id": seeded.runtime_id, "arn": seeded.runtime_arn, "name": "CustomerSupport"}
    assert config["oldGateway"] == {"id": seeded.old_gateway_id, "name": "my-gateway", "status": "READY"}
    assert config["newGateway"] is None
    assert "trigger" not in config


def test_load_config_echoes_the_validated_trigger(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    trigger = {"source": "aws.ssm", "parameter": f"{PREFIX}/client_id", "operation": "Update"}
    assert run_load_config(fn["load_config"], client, {"trigger": trigger})["trigger"] == trigger


def test_load_config_runtime_not_found_names_the_runtime(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    env = {**DEFAULT_ENV, "ROLLOUT_RUNTIME_NAME": "OtherAgent"}
    with pytest.raises(RuntimeNotFound, match="no agent runtime named 'OtherAgent'"):
        run_load_config(fn["load_config"], client, {}, env=env)


def test_load_config_refuses_another_teams_runtime_before_reading_anything(
    fn: dict[str, Any], client: Any, seeded: Seeded
) -> None:
    cognito_idp = FakeCognitoIdp()
    with pytest.raises(InvalidExecutionInput, match="'runtimeName'"):
        run_load_config(fn["load_config"], client, {"runtimeName": "OtherAgent"}, cognito_idp=cognito_idp)
    assert cognito_idp.described == []


def test_load_config_missing_ssm_parameter(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    import boto3

    boto3.client("ssm").delete_parameter(Name=f"{PREFIX}/cognito_token_url")
    with pytest.raises(InvalidConfiguration, match=f"missing SSM parameter\\(s\\): {PREFIX}/cognito_token_url"):
        run_load_config(fn["load_config"], client)


def test_load_config_reads_only_the_known_parameters(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    import boto3

    boto3.client("ssm").put_parameter(Name=f"{PREFIX}/unrelated_secret", Value="s3cr3t-value", Type="SecureString")
    config = run_load_config(fn["load_config"], client)
    assert "s3cr3t-value" not in str(config)


def test_load_config_ssm_access_denied(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    class DeniedSsm:
        def get_parameters(self, **_: Any) -> Any:
            raise client_error("AccessDeniedException", "not allowed", "GetParameters")

    with pytest.raises(InvalidConfiguration, match=f"cannot read SSM parameters under {PREFIX}: AccessDeniedException"):
        fn["load_config"].load_config(
            {},
            DEFAULT_ENV,
            client,
            region="us-east-1",
            account_id=ACCOUNT,
            ssm=DeniedSsm(),
            cognito_idp=FakeCognitoIdp(),
        )


def test_load_config_handler(
    fn: dict[str, Any], seeded: Seeded, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DEFAULT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(fn["load_config"].boto3, "client", _clients_with_fake_cognito(fn["load_config"].boto3.client))
    config = fn["load_config"].lambda_handler({"input": {"gatewayName": "my-gateway-secure"}}, context)
    assert config["runtime"]["id"] == seeded.runtime_id
    assert config["settings"]["gatewayUrlEnvVar"] == NEW_ENV_VAR


def _clients_with_fake_cognito(real: Any) -> Any:
    def client(service: str, **kwargs: Any) -> Any:
        return FakeCognitoIdp() if service == "cognito-idp" else real(service, **kwargs)

    return client


# --- plan handler -----------------------------------------------------------------------------------------------


def test_plan_handler(fn: dict[str, Any], config: Config, context: FakeLambdaContext) -> None:
    plan = fn["plan"].lambda_handler({"config": config}, context)
    assert plan["changed"] is True
    assert plan["gateway"]["create"] is True


# --- secure_runtime ---------------------------------------------------------------------------------------------


def test_secure_runtime_noop_when_not_required(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    version = backend.agent_runtimes[seeded.runtime_id].agent_runtime_version
    result = fn["secure_runtime"].secure_runtime(client, {"id": seeded.runtime_id, "updateRequired": False})
    assert result == {"kind": "runtime", "id": seeded.runtime_id, "changed": False, "ready": True, "attempt": 0}
    assert backend.agent_runtimes[seeded.runtime_id].agent_runtime_version == version


def test_secure_runtime_full_replace_keeps_every_setting(
    fn: dict[str, Any], client: Any, seeded: Seeded, config: Config
) -> None:
    plan = build_plan(client, config)
    result = fn["secure_runtime"].secure_runtime(client, plan["runtime"])
    assert result["changed"] is True
    assert result["ready"] is False
    assert result["status"] == "UPDATING"
    assert result["version"] == "2"  # from the UpdateAgentRuntime response: the version to wait for on DEFAULT

    after = runtime_record(client, seeded.runtime_id)
    assert after["authorizerConfiguration"] == SECURE
    assert after["requestHeaderConfiguration"] == {
        "requestHeaderAllowlist": [*RUNTIME_HEADERS["requestHeaderAllowlist"], "Authorization"]
    }
    assert after["environmentVariables"] == RUNTIME_ENV
    assert after["description"] == RUNTIME_DESCRIPTION
    assert after["protocolConfiguration"] == RUNTIME_PROTOCOL
    assert after["lifecycleConfiguration"] == RUNTIME_LIFECYCLE
    assert after["networkConfiguration"] == RUNTIME_NETWORK
    assert after["agentRuntimeArtifact"] == RUNTIME_ARTIFACT
    assert after["roleArn"] == RUNTIME_ROLE


def test_secure_runtime_without_description(fn: dict[str, Any], client: Any) -> None:
    """A runtime created without a description (moto reports "") can still be secured."""
    runtime = client.create_agent_runtime(
        agentRuntimeName="Bare",
        agentRuntimeArtifact=copy.deepcopy(RUNTIME_ARTIFACT),
        roleArn=RUNTIME_ROLE,
        networkConfiguration=copy.deepcopy(RUNTIME_NETWORK),
    )
    record = runtime_record(client, runtime["agentRuntimeId"])
    plan = {
        "id": runtime["agentRuntimeId"],
        "updateRequired": True,
        "authorizerAfter": SECURE,
        "allowlistAfter": ["Authorization"],
    }
    assert record["description"] == ""
    assert fn["secure_runtime"].secure_runtime(client, plan)["changed"] is True
    assert runtime_record(client, runtime["agentRuntimeId"])["authorizerConfiguration"] == SECURE


def test_secure_runtime_never_sends_an_authorizer_to_a_runtime_that_has_one(
    fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan was made, then someone put another authorizer on the runtime: refused before any request."""
    backend.agent_runtimes[seeded.runtime_id].authorizer_configuration = desired.jwt_authorizer(
        DISCOVERY_URL, "another-client", [SCOPE]
    )
    monkeypatch.setattr(client, "update_agent_runtime", lambda **kwargs: pytest.fail("an update was sent"))
    plan = {"id": seeded.runtime_id, "updateRequired": True, "authorizerAfter": SECURE, "allowlistAfter": []}
    with pytest.raises(AuthorizerConflict, match="allowedClients \\['another-client'\\]"):
        fn["secure_runtime"].secure_runtime(client, plan)


def test_secure_runtime_maps_conflicts(fn: dict[str, Any], seeded: Seeded, client: Any) -> None:
    class Busy:
        def get_agent_runtime(self, **kwargs: Any) -> Any:
            return client.get_agent_runtime(**kwargs)

        def update_agent_runtime(self, **kwargs: Any) -> Any:
            raise client_error("ConflictException", "runtime is UPDATING")

    plan = {"id": seeded.runtime_id, "updateRequired": True, "authorizerAfter": SECURE, "allowlistAfter": []}
    with pytest.raises(
        AgentCoreBusy, match=f"UpdateAgentRuntime {seeded.runtime_id} \\(re-assert\\): ConflictException"
    ):
        fn["secure_runtime"].secure_runtime(Busy(), plan)


def test_secure_runtime_reassert_reads_the_runtime_fresh(
    fn: dict[str, Any], client: Any, config: Config, context: FakeLambdaContext, backend: Any
) -> None:
    event = {"runtimeId": config["runtime"]["id"], "cognito": config["cognito"]}
    # Unsecured runtime: the re-assert secures it.
    assert fn["secure_runtime"].lambda_handler(event, context)["changed"] is True
    assert runtime_record(client, config["runtime"]["id"])["authorizerConfiguration"] == SECURE
    # Secured runtime: nothing to do, no update sent.
    backend.agent_runtimes[config["runtime"]["id"]].status = "READY"
    assert fn["secure_runtime"].lambda_handler(event, context)["changed"] is False


# --- provision_gateway ------------------------------------------------------------------------------------------


def test_provision_gateway_creates_once(fn: dict[str, Any], client: Any, config: Config, backend: Any) -> None:
    plan = build_plan(client, config)
    first = fn["provision_gateway"].provision_gateway(client, plan["gateway"], "execution-1")
    second = fn["provision_gateway"].provision_gateway(client, plan["gateway"], "execution-1")
    assert first["id"] == second["id"]
    assert [g.name for g in backend.gateways.values()].count("my-gateway-secure") == 1
    assert first["kind"] == "gateway"
    assert first["changed"] is True
    assert first["ready"] is False  # the state machine polls it
    assert first["url"].endswith("/mcp")
    created = agentcore.get_gateway(client, first["id"])
    assert created["authorizerType"] == "CUSTOM_JWT"
    assert created["authorizerConfiguration"] == SECURE
    assert created["roleArn"] == present(plan["gateway"]["createRequest"])["roleArn"]


class WithoutCreateUrl:
    """The moto client, answering CreateGateway/UpdateGateway without gatewayUrl (optional in the model, as AWS)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gets: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name == "get_gateway":

            def recorded(**kwargs: Any) -> Any:
                self.gets.append(kwargs["gatewayIdentifier"])
                return method(**kwargs)

            return recorded
        if name not in ("create_gateway", "update_gateway"):
            return method

        def without_url(**kwargs: Any) -> Any:
            return {k: v for k, v in method(**kwargs).items() if k != "gatewayUrl"}

        return without_url


def test_provision_gateway_reads_the_url_from_get_gateway(fn: dict[str, Any], client: Any, config: Config) -> None:
    plan = build_plan(client, config)
    answers = WithoutCreateUrl(client)
    created = fn["provision_gateway"].provision_gateway(answers, plan["gateway"], "execution-1")
    assert answers.gets == [created["id"]]
    assert created["url"] == desired.normalize_gateway_url(
        client.get_gateway(gatewayIdentifier=created["id"])["gatewayUrl"]
    )
    assert created["status"] == "CREATING"  # the create answer's status, not a later read's
    assert created["ready"] is False


def test_client_token_is_deterministic_and_valid(fn: dict[str, Any]) -> None:
    token = fn["provision_gateway"].client_token("arn:exec:1", "my-gateway-secure")
    assert token == fn["provision_gateway"].client_token("arn:exec:1", "my-gateway-secure")
    assert token != fn["provision_gateway"].client_token("arn:exec:2", "my-gateway-secure")
    assert 33 <= len(token) <= 256
    assert token.isalnum()


def test_provision_gateway_existing_jwt_gateway(
    fn: dict[str, Any], client: Any, seeded: Seeded, fn_load_config: Any
) -> None:
    other = desired.jwt_authorizer(DISCOVERY_URL.replace("AbCdEf123", "Old0000"), CLIENT_ID, [SCOPE])
    existing = create_gateway_with_targets(client, "my-gateway-secure", other)
    plan = build_plan(client, run_load_config(fn_load_config, client))
    result = fn["provision_gateway"].provision_gateway(WithoutCreateUrl(client), plan["gateway"], "execution-1")
    assert result["id"] == existing["gatewayId"]
    assert result["url"] == desired.normalize_gateway_url(existing["gatewayUrl"])
    assert result["changed"] is True
    assert agentcore.get_gateway(client, existing["gatewayId"])["authorizerConfiguration"] == SECURE
    # Already correct: nothing to do.
    no_change = {**plan["gateway"], "updateAuthorizer": False}
    unchanged = fn["provision_gateway"].provision_gateway(client, no_change, "execution-2")
    assert unchanged["changed"] is False


def test_provision_gateway_refused(fn: dict[str, Any]) -> None:
    class Refusing:
        def list_gateways(self, **kwargs: Any) -> Any:
            return {"items": []}

        def create_gateway(self, **kwargs: Any) -> Any:
            raise client_error("ValidationException", "roleArn is invalid", "CreateGateway")

    plan = {"create": True, "createRequest": {"name": "my-gateway-secure"}}
    with pytest.raises(GatewayCreateFailed, match="CreateGateway my-gateway-secure: ValidationException"):
        fn["provision_gateway"].provision_gateway(Refusing(), plan, "execution-1")


def test_provision_gateway_handler(fn: dict[str, Any], client: Any, config: Config, context: FakeLambdaContext) -> None:
    plan = build_plan(client, config)
    result = fn["provision_gateway"].lambda_handler({"plan": plan, "executionArn": "arn:exec"}, context)
    assert agentcore.get_gateway(client, result["id"])["name"] == "my-gateway-secure"
    assert result["settingsPending"] is False  # the tutorial's gateway has nothing CreateGateway cannot take
    carried = fn["provision_gateway"].lambda_handler({"plan": plan, "gateway": result, "step": "carry"}, context)
    assert (carried["id"], carried["changed"]) == (result["id"], False)
    with pytest.raises(InvalidExecutionInput, match="provision_gateway got step 'create'"):
        fn["provision_gateway"].lambda_handler({"plan": plan, "step": "create"}, context)


class Carrying:
    """The moto client, recording TagResource/UpdateGateway requests; GetGateway also answers `shown` (settings plain
    moto does not store, as AWS would once UpdateGateway has set them)."""

    def __init__(self, inner: Any, shown: dict[str, Any] | None = None) -> None:
        self.inner, self.shown = inner, shown or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name == "get_gateway":
            return lambda **kwargs: {**method(**kwargs), **self.shown}
        if name not in ("tag_resource", "update_gateway"):
            return method

        def recorded(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return method(**kwargs)

        return recorded


def test_carry_settings_tags_and_updates_the_new_gateway_once(
    fn: dict[str, Any], client: Any, config: Config, backend: Any
) -> None:
    plan = build_plan(client, config)
    waf = {"wafConfiguration": {"failureMode": "FAIL_CLOSE"}}
    gateway_plan = {**plan["gateway"], "afterCreate": {"update": waf, "tags": {"team": "support"}}}
    created = fn["provision_gateway"].provision_gateway(client, gateway_plan, "execution-1")
    assert created["settingsPending"] is True  # the state machine runs step "carry" once it is READY
    backend.gateways[created["id"]].status = "READY"

    aws = Carrying(client)
    carried = fn["provision_gateway"].carry_settings(aws, created, gateway_plan)
    (tag, tags), (update, request) = aws.calls
    arn = client.get_gateway(gatewayIdentifier=created["id"])["gatewayArn"]
    assert (tag, tags) == ("tag_resource", {"resourceArn": arn, "tags": {"team": "support"}})
    assert update == "update_gateway"
    assert request["wafConfiguration"] == {"failureMode": "FAIL_CLOSE"}
    assert request["authorizerType"] == "CUSTOM_JWT"
    assert request["authorizerConfiguration"] == SECURE  # sent back unchanged: a full replace
    assert request["roleArn"] == present(plan["gateway"]["createRequest"])["roleArn"]
    assert (carried["changed"], carried["ready"], carried["settingsPending"]) == (True, False, False)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "support"}

    # A retry finds the settings in place: no second UpdateGateway (tags are idempotent).
    backend.gateways[created["id"]].status = "READY"
    again = Carrying(client, shown=waf)
    retried = fn["provision_gateway"].carry_settings(again, created, gateway_plan)
    assert [name for name, _ in again.calls] == ["tag_resource"]
    assert (retried["changed"], retried["ready"]) == (False, True)


# --- provision_targets ------------------------------------------------------------------------------------------


def test_provision_targets_skips_existing_names(fn: dict[str, Any], client: Any, config: Config, backend: Any) -> None:
    plan = build_plan(client, config)
    gateway = fn["provision_gateway"].provision_gateway(client, plan["gateway"], "execution-1")
    first = fn["provision_targets"].provision_targets(client, gateway["id"], plan["gateway"])
    assert first["created"] == ["ShippingEstimate", "WarrantyCheck"]
    assert first["changed"] is True
    assert first["ready"] is False
    second = fn["provision_targets"].provision_targets(client, gateway["id"], plan["gateway"])
    assert second["created"] == []
    assert second["changed"] is False
    assert second["ready"] is True
    assert target_names(client, gateway["id"]) == ["ShippingEstimate", "WarrantyCheck"]
    warranty = next(t for t in agentcore.list_targets(client, gateway["id"]) if t["name"] == "WarrantyCheck")
    assert desired.target_lambda_arn(warranty) == WARRANTY_ARN


def test_provision_targets_never_takes_a_failed_target_for_done(
    fn: dict[str, Any], client: Any, config: Config, backend: Any
) -> None:
    plan = build_plan(client, config)
    gateway = fn["provision_gateway"].provision_gateway(client, plan["gateway"], "execution-1")
    fn["provision_targets"].provision_targets(client, gateway["id"], plan["gateway"])
    for target in backend.gateway_targets.values():
        if target.gateway_id == gateway["id"] and target.name == "ShippingEstimate":
            target.status = "FAILED"
    # Nothing to ask (the names exist), yet not ready: CheckTargets reads the FAILED target and fails by name.
    again = fn["provision_targets"].provision_targets(client, gateway["id"], plan["gateway"])
    assert (again["changed"], again["ready"]) == (False, False)
    with pytest.raises(GatewayTargetFailed, match="gateway target ShippingEstimate is FAILED"):
        fn["check_status"].check(client, again, 5)


def test_provision_targets_updates_drifted(fn: dict[str, Any], client: Any, config: Config) -> None:
    plan = build_plan(client, config)
    gateway = fn["provision_gateway"].provision_gateway(client, plan["gateway"], "execution-1")
    fn["provision_targets"].provision_targets(client, gateway["id"], plan["gateway"])
    warranty = next(t for t in agentcore.list_targets(client, gateway["id"]) if t["name"] == "WarrantyCheck")
    fixed = desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN + "V2")
    result = fn["provision_targets"].provision_targets(
        client, gateway["id"], {"targetsToCreate": [], "targetsToUpdate": [{**fixed, "targetId": warranty["targetId"]}]}
    )
    assert result["updated"] == ["WarrantyCheck"]
    after = client.get_gateway_target(gatewayIdentifier=gateway["id"], targetId=warranty["targetId"])
    assert desired.target_lambda_arn(after) == WARRANTY_ARN + "V2"


def test_provision_targets_refused(fn: dict[str, Any]) -> None:
    class Refusing:
        def list_gateway_targets(self, **kwargs: Any) -> Any:
            return {"items": []}

        def create_gateway_target(self, **kwargs: Any) -> Any:
            raise client_error("ValidationException", "bad schema", "CreateGatewayTarget")

    plan = {"targetsToCreate": [{"name": "WarrantyCheck"}], "targetsToUpdate": []}
    with pytest.raises(GatewayTargetFailed, match="CreateGatewayTarget WarrantyCheck: ValidationException: bad schema"):
        fn["provision_targets"].provision_targets(Refusing(), "gw", plan)


def test_provision_targets_handler(fn: dict[str, Any], client: Any, config: Config, context: FakeLambdaContext) -> None:
    plan = build_plan(client, config)
    gateway = fn["provision_gateway"].provision_gateway(client, plan["gateway"], "execution-1")
    result = fn["provision_targets"].lambda_handler({"gateway": gateway, "plan": plan}, context)
    assert sorted(result["created"]) == target_names(client, gateway["id"])


# --- delete_gateway ---------------------------------------------------------------------------------------------


class RecordingClient:
    """Forwards to the moto client, recording the mutating calls in order."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not name.startswith("delete_"):
            return method

        def recorded(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs.get("targetId", kwargs.get("gatewayIdentifier"))))
            return method(**kwargs)

        return recorded


def test_delete_gateway_deletes_targets_then_gateway(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    recording = RecordingClient(client)
    gateway = {"id": seeded.old_gateway_id, "name": "my-gateway"}
    targets = fn["delete_gateway"].delete_targets(recording, gateway)
    assert recording.calls == [
        ("delete_gateway_target", seeded.target_ids["WarrantyCheck"]),
        ("delete_gateway_target", seeded.target_ids["ShippingEstimate"]),
    ]
    assert targets["kind"] == "targetsDeleted"
    assert (targets["changed"], targets["ready"]) == (True, False)  # the state machine polls until none is left
    assert targets["targetsDeleted"] == ["ShippingEstimate", "WarrantyCheck"]

    deleted = fn["delete_gateway"].delete_gateway(recording, gateway)
    assert recording.calls[-1] == ("delete_gateway", seeded.old_gateway_id)
    assert (deleted["kind"], deleted["changed"], deleted["ready"]) == ("gatewayDeleted", True, False)
    assert agentcore.get_gateway_or_none(client, seeded.old_gateway_id) is None


class DeletingTargets(RecordingClient):
    """AWS's asynchronous target deletion: targets listed with a status; DeleteGatewayTarget refuses DELETING ones."""

    def __init__(self, inner: Any, statuses: dict[str, str]) -> None:
        super().__init__(inner)
        self.statuses = statuses  # target id -> status

    def __getattr__(self, name: str) -> Any:
        if name == "get_gateway_target":

            def get(**kwargs: Any) -> Any:
                return {**self.inner.get_gateway_target(**kwargs), "status": self.statuses[kwargs["targetId"]]}

            return get
        if name == "delete_gateway_target":

            def delete(**kwargs: Any) -> Any:
                self.calls.append((name, kwargs["targetId"]))
                if self.statuses[kwargs["targetId"]] == "DELETING":
                    raise client_error("ConflictException", "already being deleted", "DeleteGatewayTarget")
                self.statuses[kwargs["targetId"]] = "DELETING"
                return {"status": "DELETING"}

            return delete
        return super().__getattr__(name)


def test_delete_targets_never_asks_again_for_a_deleting_target(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    warranty, shipping = seeded.target_ids["WarrantyCheck"], seeded.target_ids["ShippingEstimate"]
    aws = DeletingTargets(client, {warranty: "DELETING", shipping: "FAILED"})
    result = fn["delete_gateway"].delete_targets(aws, {"id": seeded.old_gateway_id, "name": "my-gateway"})
    assert aws.calls == [("delete_gateway_target", shipping)]  # a FAILED target is asked again, DELETING never
    assert result["targetsDeleted"] == ["ShippingEstimate"]
    assert result["ready"] is False
    # A retried step (every target DELETING) asks for nothing.
    again = fn["delete_gateway"].delete_targets(aws, {"id": seeded.old_gateway_id, "name": "my-gateway"})
    assert aws.calls == [("delete_gateway_target", shipping)]
    assert (again["changed"], again["ready"], again["status"]) == (
        False,
        False,
        "WarrantyCheck=DELETING, ShippingEstimate=DELETING",
    )


def test_delete_targets_of_a_gateway_without_targets_is_ready(fn: dict[str, Any], client: Any, aws: None) -> None:
    gateway = create_gateway_with_targets(client, "empty")
    result = fn["delete_gateway"].delete_targets(client, {"id": gateway["gatewayId"], "name": "empty"})
    assert (result["changed"], result["ready"], result["status"]) == (False, True, "no targets")


def test_delete_targets_by_name_deletes_only_those(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    """The plan replaces a FAILED target: only it is deleted, and only it is polled until gone."""
    recording = RecordingClient(client)
    gateway = {"id": seeded.old_gateway_id, "name": "my-gateway"}
    result = fn["delete_gateway"].delete_targets(recording, gateway, ["ShippingEstimate"])
    assert result["targetsDeleted"] == ["ShippingEstimate"]
    assert result["names"] == ["ShippingEstimate"]
    assert recording.calls == [("delete_gateway_target", seeded.target_ids["ShippingEstimate"])]
    assert target_names(client, seeded.old_gateway_id) == ["WarrantyCheck"]  # plain moto deletes at once
    assert fn["check_status"].check(client, result, 5)["ready"] is True  # WarrantyCheck (READY) is not waited for


def test_delete_gateway_noop_when_gone(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    for target_id in seeded.target_ids.values():
        client.delete_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=target_id)
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    recording = RecordingClient(client)
    for step in ("delete_targets", "delete_gateway"):
        result = getattr(fn["delete_gateway"], step)(recording, {"id": seeded.old_gateway_id, "name": "my-gateway"})
        assert (result["changed"], result["ready"]) == (False, True)
    assert recording.calls == []


def test_delete_gateway_never_asks_again_while_deleting(
    fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any
) -> None:
    backend.gateways[seeded.old_gateway_id].status = "DELETING"
    recording = RecordingClient(client)
    result = fn["delete_gateway"].delete_gateway(recording, {"id": seeded.old_gateway_id, "name": "my-gateway"})
    assert recording.calls == []
    assert (result["changed"], result["ready"], result["status"]) == (False, False, "DELETING")


def test_delete_gateway_refused(fn: dict[str, Any], client: Any, seeded: Seeded) -> None:
    class Refusing(RecordingClient):
        def __getattr__(self, name: str) -> Any:
            if name == "delete_gateway":

                def refuse(**kwargs: Any) -> Any:
                    raise client_error("ValidationException", "gateway has targets", "DeleteGateway")

                return refuse
            return super().__getattr__(name)

    with pytest.raises(GatewayDeleteFailed, match="DeleteGateway my-gateway: ValidationException: gateway has targets"):
        fn["delete_gateway"].delete_gateway(Refusing(client), {"id": seeded.old_gateway_id, "name": "my-gateway"})


def test_delete_gateway_handler(fn: dict[str, Any], client: Any, seeded: Seeded, context: FakeLambdaContext) -> None:
    gateway = {"id": seeded.old_gateway_id, "name": "my-gateway"}
    targets = fn["delete_gateway"].lambda_handler({"gateway": gateway, "step": "targets"}, context)
    assert targets["kind"] == "targetsDeleted"
    deleted = fn["delete_gateway"].lambda_handler({"gateway": gateway, "step": "gateway"}, context)
    assert deleted["kind"] == "gatewayDeleted"
    assert agentcore.find_gateway(client, "my-gateway") is None
    with pytest.raises(InvalidExecutionInput, match="delete_gateway got step None; expected one of"):
        fn["delete_gateway"].lambda_handler({"gateway": gateway}, context)


# --- check_status -----------------------------------------------------------------------------------------------


def check(fn: dict[str, Any], client: Any, kind: str, resource_id: str, attempt: int = 0, max_polls: int = 5) -> Any:
    return fn["check_status"].check(client, {"kind": kind, "id": resource_id, "attempt": attempt}, max_polls)


def test_check_runtime(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    ready = check(fn, client, "runtime", seeded.runtime_id, attempt=2)
    assert ready == {"kind": "runtime", "id": seeded.runtime_id, "status": "READY", "ready": True, "attempt": 3}
    backend.agent_runtimes[seeded.runtime_id].status = "UPDATING"
    assert check(fn, client, "runtime", seeded.runtime_id)["ready"] is False
    with pytest.raises(ResourceWaitTimeout, match="still UPDATING after 5 polls"):
        check(fn, client, "runtime", seeded.runtime_id, attempt=4)
    backend.agent_runtimes[seeded.runtime_id].status = "UPDATE_FAILED"
    with pytest.raises(RuntimeUpdateFailed, match="runtime CustomerSupport is UPDATE_FAILED"):
        check(fn, client, "runtime", seeded.runtime_id)


def check_live(fn: dict[str, Any], client: Any, runtime_id: str, version: Any, attempt: int = 0) -> Any:
    resource = {"kind": "runtimeLive", "id": runtime_id, "version": version, "attempt": attempt}
    return fn["check_status"].check(client, resource, 5)


def test_check_runtime_live_waits_for_default_to_serve_the_version(
    fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any
) -> None:
    update = switch(fn, client, seeded.runtime_id)
    backend.agent_runtimes[seeded.runtime_id].status = "READY"  # READY, but DEFAULT still serves version 1
    waiting = check_live(fn, client, seeded.runtime_id, update["version"])
    default_endpoint(backend, seeded.runtime_id).update(agent_runtime_version=update["version"], description=None)
    moving = check_live(fn, client, seeded.runtime_id, update["version"], attempt=1)
    make_live(backend, seeded.runtime_id)
    live = check_live(fn, client, seeded.runtime_id, update["version"], attempt=2)

    assert [(r["ready"], r["attempt"]) for r in (waiting, moving, live)] == [(False, 1), (False, 2), (True, 3)]
    assert moving["status"] == "UPDATING (live version 1, waiting for 2)"
    assert live == {
        "kind": "runtimeLive",
        "id": seeded.runtime_id,
        "version": "2",
        "status": "READY (live version 2, waiting for 2)",
        "ready": True,
        "attempt": 3,
    }


def test_check_runtime_live_failures(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    endpoint = default_endpoint(backend, seeded.runtime_id)
    endpoint.update(agent_runtime_version="2", description=None)
    with pytest.raises(ResourceWaitTimeout, match="version 2 still not live after 5 polls"):
        check_live(fn, client, seeded.runtime_id, "2", attempt=4)
    endpoint.status = "UPDATE_FAILED"
    with pytest.raises(RuntimeUpdateFailed, match="DEFAULT endpoint is UPDATE_FAILED"):
        check_live(fn, client, seeded.runtime_id, "2")
    with pytest.raises(InvalidExecutionInput, match="runtimeLive needs the runtime version; got None"):
        check_live(fn, client, seeded.runtime_id, None)


def test_check_gateway(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    assert check(fn, client, "gateway", seeded.old_gateway_id)["status"] == "READY"
    backend.gateways[seeded.old_gateway_id].status = "UPDATING"
    assert check(fn, client, "gateway", seeded.old_gateway_id, attempt=0, max_polls=2)["ready"] is False
    with pytest.raises(ResourceWaitTimeout):
        check(fn, client, "gateway", seeded.old_gateway_id, attempt=1, max_polls=2)
    backend.gateways[seeded.old_gateway_id].status = "FAILED"
    with pytest.raises(GatewayCreateFailed, match="gateway my-gateway is FAILED"):
        check(fn, client, "gateway", seeded.old_gateway_id)


def test_check_targets(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    ready = check(fn, client, "targets", seeded.old_gateway_id)
    assert ready["ready"] is True
    assert ready["status"] == "WarrantyCheck=READY, ShippingEstimate=READY"
    shipping = backend.gateway_targets[(seeded.old_gateway_id, seeded.target_ids["ShippingEstimate"])]
    shipping.status = "SYNCHRONIZING"
    pending = check(fn, client, "targets", seeded.old_gateway_id)
    assert pending["ready"] is False
    assert "ShippingEstimate=SYNCHRONIZING" in pending["status"]
    shipping.status = "FAILED"
    with pytest.raises(GatewayTargetFailed, match="gateway target ShippingEstimate is FAILED"):
        check(fn, client, "targets", seeded.old_gateway_id)
    shipping.status = "CREATE_PENDING_AUTH"
    with pytest.raises(GatewayTargetFailed, match="OAuth consent"):
        check(fn, client, "targets", seeded.old_gateway_id)


def test_check_targets_of_empty_gateway(fn: dict[str, Any], client: Any, aws: None) -> None:
    gateway = create_gateway_with_targets(client, "empty")
    assert check(fn, client, "targets", gateway["gatewayId"])["status"] == "no targets"


def test_check_gateway_deleted(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    with pytest.raises(GatewayDeleteFailed, match="gateway my-gateway was asked to delete but is READY"):
        check(fn, client, "gatewayDeleted", seeded.old_gateway_id)
    backend.gateways[seeded.old_gateway_id].status = "DELETING"
    deleting = check(fn, client, "gatewayDeleted", seeded.old_gateway_id)
    assert (deleting["status"], deleting["ready"], deleting["attempt"]) == ("DELETING", False, 1)
    with pytest.raises(ResourceWaitTimeout, match="deletion still DELETING after 5 polls"):
        check(fn, client, "gatewayDeleted", seeded.old_gateway_id, attempt=4)
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    gone = check(fn, client, "gatewayDeleted", seeded.old_gateway_id)
    assert (gone["status"], gone["ready"]) == ("DELETED", True)


def test_check_targets_deleted(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    records = {name: backend.gateway_targets[(seeded.old_gateway_id, tid)] for name, tid in seeded.target_ids.items()}
    for record in records.values():
        record.status = "DELETING"
    deleting = check(fn, client, "targetsDeleted", seeded.old_gateway_id)
    assert (deleting["ready"], deleting["attempt"]) == (False, 1)
    assert deleting["status"] == "WarrantyCheck=DELETING, ShippingEstimate=DELETING"
    with pytest.raises(ResourceWaitTimeout, match=r"deletion of targets .* still DELETING after 5 polls"):
        check(fn, client, "targetsDeleted", seeded.old_gateway_id, attempt=4)
    records["ShippingEstimate"].status = "FAILED"
    records["ShippingEstimate"].status_reasons = ["in use by a policy"]
    with pytest.raises(GatewayDeleteFailed, match="gateway target ShippingEstimate was asked to delete but is FAILED"):
        check(fn, client, "targetsDeleted", seeded.old_gateway_id)
    for target_id in seeded.target_ids.values():
        client.delete_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=target_id)
    gone = check(fn, client, "targetsDeleted", seeded.old_gateway_id)
    assert (gone["status"], gone["ready"]) == ("no targets", True)
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    assert check(fn, client, "targetsDeleted", seeded.old_gateway_id)["ready"] is True


def test_list_targets_skips_a_target_gone_between_list_and_get(client: Any, seeded: Seeded) -> None:
    class Vanishing(RecordingClient):
        def __getattr__(self, name: str) -> Any:
            if name == "get_gateway_target":

                def get(**kwargs: Any) -> Any:
                    if kwargs["targetId"] == seeded.target_ids["WarrantyCheck"]:
                        raise client_error("ResourceNotFoundException", "gone", "GetGatewayTarget")
                    return self.inner.get_gateway_target(**kwargs)

                return get
            return super().__getattr__(name)

    vanishing: Any = Vanishing(client)  # a stand-in for the typed client
    assert [t["name"] for t in agentcore.list_targets(vanishing, seeded.old_gateway_id)] == ["ShippingEstimate"]


def test_check_unknown_kind(fn: dict[str, Any], client: Any, aws: None) -> None:
    with pytest.raises(InvalidExecutionInput, match="check_status got resource kind 'endpoint'"):
        check(fn, client, "endpoint", "x")


def test_check_status_handler(fn: dict[str, Any], seeded: Seeded, context: FakeLambdaContext) -> None:
    event = {"resource": {"kind": "gateway", "id": seeded.old_gateway_id, "attempt": 0}, "maxPolls": "3"}
    result = fn["check_status"].lambda_handler(event, context)
    assert (result["ready"], result["attempt"]) == (True, 1)


# --- switch_runtime ---------------------------------------------------------------------------------------------


def test_switch_is_one_update_with_everything_and_preserves_every_other_setting(
    fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = record_updates(client, monkeypatch)
    result = switch(fn, client, seeded.runtime_id)
    assert len(sent) == 1
    assert result["changes"] == ["authorizer", "allowlist", "gatewayUrl", "gatewayName"]
    assert (result["changed"], result["ready"], result["version"]) == (True, False, "2")
    assert (result["before"], result["after"]) == (None, NEW_URL + "/mcp")
    after = runtime_record(client, seeded.runtime_id)
    assert after["authorizerConfiguration"] == SECURE
    assert after["requestHeaderConfiguration"] == {
        "requestHeaderAllowlist": [*RUNTIME_HEADERS["requestHeaderAllowlist"], "Authorization"]
    }
    assert after["environmentVariables"] == {
        **RUNTIME_ENV,
        NEW_ENV_VAR: NEW_URL + "/mcp",
        "AGENTCORE_GATEWAY_NAME": NEW_GATEWAY,
    }
    assert after["description"] == RUNTIME_DESCRIPTION
    assert after["protocolConfiguration"] == RUNTIME_PROTOCOL
    assert after["lifecycleConfiguration"] == RUNTIME_LIFECYCLE
    assert after["networkConfiguration"] == RUNTIME_NETWORK
    assert after["agentRuntimeArtifact"] == RUNTIME_ARTIFACT
    assert after["roleArn"] == RUNTIME_ROLE
    make_ready(backend, seeded.runtime_id)
    again = switch(fn, client, seeded.runtime_id, NEW_URL + "/mcp/")
    assert (again["changed"], again["ready"], again["changes"]) == (False, True, [])
    assert len(sent) == 1  # no UpdateAgentRuntime


def test_switch_never_sends_an_authorizer_to_a_runtime_that_has_one(
    fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.agent_runtimes[seeded.runtime_id].authorizer_configuration = copy.deepcopy(SECURE)
    sent = record_updates(client, monkeypatch)
    result = switch(fn, client, seeded.runtime_id)
    (request,) = sent
    assert "authorizerConfiguration" not in request
    assert "authorizer" not in result["changes"]
    assert request["environmentVariables"][NEW_ENV_VAR] == NEW_URL + "/mcp"
    # Another authorizer (put there after the plan): refused before any request.
    backend.agent_runtimes[seeded.runtime_id].authorizer_configuration = desired.jwt_authorizer(
        DISCOVERY_URL, "another-client", [SCOPE]
    )
    with pytest.raises(AuthorizerConflict, match="allowedClients \\['another-client'\\]"):
        switch(fn, client, seeded.runtime_id, "https://other/mcp")
    assert len(sent) == 1


def test_switch_repairs_a_runtime_whose_record_already_says_it_all(
    fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any
) -> None:
    switch(fn, client, seeded.runtime_id)
    backend.agent_runtimes[seeded.runtime_id].status = "UPDATE_FAILED"
    assert switch(fn, client, seeded.runtime_id)["changed"] is False
    repaired = switch(fn, client, seeded.runtime_id, repair=True)
    assert (repaired["changed"], repaired["version"], repaired["changes"]) == (True, "3", ["repair"])


def test_switch_env_var_limit(fn: dict[str, Any], client: Any, seeded: Seeded, backend: Any) -> None:
    backend.agent_runtimes[seeded.runtime_id].environment_variables = {f"V{i}": "x" for i in range(50)}
    with pytest.raises(RuntimeUpdateFailed, match="would have 52 environment variables"):  # URL + gateway name
        switch(fn, client, seeded.runtime_id)


def test_switch_maps_a_refusal(fn: dict[str, Any], seeded: Seeded, client: Any) -> None:
    class Refusing:
        def get_agent_runtime(self, **kwargs: Any) -> Any:
            return client.get_agent_runtime(**kwargs)

        def update_agent_runtime(self, **kwargs: Any) -> Any:
            raise client_error("ValidationException", "environment variable value too long")

    with pytest.raises(RuntimeUpdateFailed, match="\\(switch\\): ValidationException: environment variable"):
        switch(fn, Refusing(), seeded.runtime_id)


def test_switch_runtime_handler(fn: dict[str, Any], client: Any, config: Config, context: FakeLambdaContext) -> None:
    event = {
        "runtimeId": config["runtime"]["id"],
        "cognito": config["cognito"],
        "envVar": NEW_ENV_VAR,
        "gatewayUrl": NEW_URL,
        "gatewayName": NEW_GATEWAY,
        "agentArtifact": None,
        "repair": False,
    }
    assert fn["switch_runtime"].lambda_handler(event, context)["changed"] is True
    after = runtime_record(client, config["runtime"]["id"])
    assert after["environmentVariables"][NEW_ENV_VAR] == NEW_URL + "/mcp"
    assert after["authorizerConfiguration"] == SECURE


# --- report -----------------------------------------------------------------------------------------------------


def test_report_dry_run_changes_nothing(fn: dict[str, Any], client: Any, config: Config) -> None:
    dry: Config = {**config, "settings": {**config["settings"], "dryRun": True}, "trigger": {"source": "aws.ssm"}}
    plan = build_plan(client, dry)
    report = fn["report"].build_report(None, {"config": dry, "plan": plan})  # no client: no calls at all
    assert report == {
        "changed": False,
        "dryRun": True,
        "plannedChanges": True,
        "actions": plan["actions"],
        "notCarried": [],
        "trigger": {"source": "aws.ssm"},
        "triggeredBy": "Parameter Store change",
    }


def test_report_names_what_was_not_carried(fn: dict[str, Any], client: Any, config: Config) -> None:
    dry: Config = {**config, "settings": {**config["settings"], "dryRun": True}}
    plan = build_plan(client, dry)
    plan["gateway"]["notCarried"] = ["tags:aws:*", "webAclArn"]
    report = fn["report"].build_report(None, {"config": dry, "plan": plan})
    assert report["notCarried"] == ["tags:aws:*", "webAclArn"]


def test_report_flags_settings_that_did_not_reach_the_new_gateway(
    fn: dict[str, Any], client: Any, backend: Any, config: Config
) -> None:
    state = rollout(fn, client, backend, config)
    backend.gateways[state["gateway"]["id"]].status = "READY"
    state["plan"]["gateway"]["afterCreate"] = {
        "update": {"wafConfiguration": {"failureMode": "FAIL_CLOSE"}},
        "tags": {"team": "support"},
    }
    with pytest.raises(RolloutVerificationFailed) as caught:
        fn["report"].build_report(client, state)
    assert "gateway my-gateway-secure lacks the old gateway's wafConfiguration, tags[team]" in str(caught.value)
    assert "FAIL_CLOSE" not in str(caught.value)


def test_report_rejects_the_unsecured_state(fn: dict[str, Any], client: Any, config: Config) -> None:
    plan = build_plan(client, config)
    with pytest.raises(RolloutVerificationFailed) as caught:
        fn["report"].build_report(client, {"config": config, "plan": plan})
    message = str(caught.value)
    assert message.startswith("end state differs from the desired state: ")
    # Nothing was rolled out: a fresh plan still has every action of the first one.
    assert message.count("a fresh plan would still ") == len(plan["actions"])
    for action in plan["actions"]:
        assert f"a fresh plan would still {action}" in message
    assert "secure runtime CustomerSupport: CUSTOM_JWT authorizer + Authorization allowlist" in message
    assert "create gateway my-gateway-secure with CUSTOM_JWT authorizer" in message
    assert f"set runtime env {NEW_ENV_VAR} to the new gateway URL" in message
    assert "delete old gateway my-gateway and its targets" in message


def test_full_rollout_verifies_and_rerun_plans_nothing(
    fn: dict[str, Any], client: Any, backend: Any, config: Config, fn_load_config: Any
) -> None:
    state = rollout(fn, client, backend, config)
    report = fn["report"].build_report(client, state)
    assert report["verified"] is True
    assert report["changed"] is True
    assert report["oldGatewayDeleted"] is True
    assert report["runtime"]["authorizer"] == {"before": None, "after": SECURE}
    assert (report["runtime"]["version"], report["runtime"]["liveVersion"]) == ("2", "2")  # one update: the switch
    assert report["runtime"]["requestHeaderAllowlist"]["after"][-1] == "Authorization"
    assert report["runtime"]["gatewayUrlEnvVar"] == {
        "name": NEW_ENV_VAR,
        "before": None,
        "after": state["gateway"]["url"],
    }
    assert report["runtime"]["gatewayNameEnvVar"] == {
        "name": "AGENTCORE_GATEWAY_NAME",
        "before": None,
        "after": NEW_GATEWAY,
    }
    assert report["gateway"]["after"]["authorizerType"] == "CUSTOM_JWT"
    assert report["gateway"]["before"]["authorizerType"] == "NONE"
    assert [t["name"] for t in report["targets"]["after"]] == ["ShippingEstimate", "WarrantyCheck"]
    assert report["targets"]["after"][1]["lambdaArn"] == WARRANTY_ARN
    assert report["smoke"] == {"passed": True}
    # Everything but the new env vars and the auth settings is untouched.
    runtime = runtime_record(client, config["runtime"]["id"])
    assert runtime["environmentVariables"] == {
        **RUNTIME_ENV,
        NEW_ENV_VAR: state["gateway"]["url"],
        "AGENTCORE_GATEWAY_NAME": NEW_GATEWAY,
    }
    assert runtime["description"] == RUNTIME_DESCRIPTION
    # A second run finds nothing to do.
    rerun = build_plan(client, run_load_config(fn_load_config, client))
    assert rerun["changed"] is False
    assert rerun["actions"] == []


def settle_targets(backend: Any, gateway_id: str) -> None:
    """moto leaves an updated target UPDATING; AWS settles it to READY."""
    for (owner, _), target in backend.gateway_targets.items():
        if owner == gateway_id:
            target.status = "READY"


def test_report_flags_a_runtime_and_targets_still_in_transit(
    fn: dict[str, Any], client: Any, backend: Any, config: Config
) -> None:
    state = rollout(fn, client, backend, config)
    gateway_id = state["gateway"]["id"]
    warranty = next(t for t in agentcore.list_targets(client, gateway_id) if t["name"] == "WarrantyCheck")
    client.update_gateway_target(
        gatewayIdentifier=gateway_id,
        targetId=warranty["targetId"],
        **desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN),
    )  # moto leaves it UPDATING
    backend.agent_runtimes[config["runtime"]["id"]].status = "UPDATING"
    default_endpoint(backend, config["runtime"]["id"]).live_version = "1"
    with pytest.raises(RolloutVerificationFailed) as caught:
        fn["report"].build_report(client, state)
    message = str(caught.value)
    assert "runtime status is UPDATING, expected READY" in message
    assert "runtime endpoint DEFAULT is READY serving version 1, expected READY serving version 2" in message
    assert "target(s) not READY: WarrantyCheck" in message
    assert "a fresh plan" not in message  # the planner waits for a runtime in transit; the report names it instead


def test_report_flags_drift_after_rollout_as_what_a_fresh_plan_would_do(
    fn: dict[str, Any], client: Any, backend: Any, config: Config
) -> None:
    state = rollout(fn, client, backend, config)
    gateway_id = state["gateway"]["id"]
    warranty = next(t for t in agentcore.list_targets(client, gateway_id) if t["name"] == "WarrantyCheck")
    client.update_gateway_target(
        gatewayIdentifier=gateway_id,
        targetId=warranty["targetId"],
        **desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN + "Other"),
    )
    settle_targets(backend, gateway_id)
    record = backend.agent_runtimes[config["runtime"]["id"]]
    record.environment_variables = {**record.environment_variables, "AGENTCORE_GATEWAY_NAME": "my-gateway"}
    with pytest.raises(RolloutVerificationFailed) as caught:
        fn["report"].build_report(client, state)
    message = str(caught.value)
    assert "a fresh plan would still update target WarrantyCheck" in message
    assert "a fresh plan would still set runtime env AGENTCORE_GATEWAY_NAME to my-gateway-secure" in message
    assert "not READY" not in message


def test_report_catches_what_only_the_planner_checks(
    fn: dict[str, Any], client: Any, backend: Any, config: Config
) -> None:
    """The warranty target still calls the Lambda from SSM, but its tool schema is not the packaged one: the report's
    own rules (before it planned again) checked only the Lambda ARN and verified this."""
    state = rollout(fn, client, backend, config)
    gateway_id = state["gateway"]["id"]
    warranty = next(t for t in agentcore.list_targets(client, gateway_id) if t["name"] == "WarrantyCheck")
    drifted = desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN)
    drifted["targetConfiguration"]["mcp"]["lambda"]["toolSchema"]["inlinePayload"][0]["description"] = "changed"
    client.update_gateway_target(gatewayIdentifier=gateway_id, targetId=warranty["targetId"], **drifted)
    settle_targets(backend, gateway_id)
    after = next(t for t in agentcore.list_targets(client, gateway_id) if t["name"] == "WarrantyCheck")
    assert desired.target_lambda_arn(after) == WARRANTY_ARN
    with pytest.raises(RolloutVerificationFailed, match=r"a fresh plan would still update target WarrantyCheck$"):
        fn["report"].build_report(client, state)


def test_a_requirement_added_only_in_the_planner_is_enforced_by_the_report(
    fn: dict[str, Any], client: Any, backend: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = rollout(fn, client, backend, config)
    assert fn["report"].build_report(client, state)["verified"] is True
    # A new rule, written in the planner alone: every runtime must be updated once more.
    monkeypatch.setattr(planner, "runtime_repair", lambda runtime, endpoint: "a new planner rule")
    with pytest.raises(RolloutVerificationFailed) as caught:
        fn["report"].build_report(client, state)
    assert str(caught.value) == (
        "end state differs from the desired state: a fresh plan would still repair: a new planner rule; "
        "a new runtime version must go live"
    )


def test_report_handler(
    fn: dict[str, Any], client: Any, backend: Any, config: Config, context: FakeLambdaContext
) -> None:
    state = rollout(fn, client, backend, config)

    read: list[str] = []

    def history(states: Any, execution_arn: str) -> list[dict[str, Any]]:
        read.append(execution_arn)
        return []

    with mock.patch.object(fn["report"], "execution_history", history):
        report = fn["report"].lambda_handler({"state": state, "executionArn": "arn:execution"}, context)
    assert report["verified"] is True
    assert read == ["arn:execution"]
    assert report["timings"] == {"seconds": {}, "total": 0}


def test_phase_timings_attribute_each_state_to_its_phase(fn: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 1, tzinfo=UTC)

    def entered(name: str, second: float) -> dict[str, Any]:
        return {"timestamp": start + timedelta(seconds=second), "stateEnteredEventDetails": {"name": name}}

    events = [
        entered("LoadConfig", 0),
        {"timestamp": start, "type": "LambdaFunctionScheduled"},  # not a state entry: ignored
        entered("Backup", 1),
        entered("ProvisionGateway", 2),
        entered("CheckGateway", 5),
        entered("SwitchRuntime", 10),
        entered("SmokeTest", 30),
        entered("OldGatewayToDelete", 40),
        entered("Report", 45),
    ]
    timings = fn["report"].phase_timings(events, start + timedelta(seconds=46))
    assert timings == {
        "load": 1.0,
        "backup": 1.0,
        "expand": 8.0,
        "switch": 20.0,
        "verify": 10.0,
        "contract": 5.0,
        "report": 1.0,
    }


def test_every_rollout_state_has_a_phase(fn: dict[str, Any]) -> None:
    import json

    from unit_support import REPO_ROOT

    asl = json.loads((REPO_ROOT / "statemachine" / "secure_rollout.asl.json").read_text())
    # The rollback, hold and restore states end in a failure or in the restore report, never in this report.
    elsewhere = {"ReleaseLock", "RolloutSucceeded", "RolloutFailed", "Failed", "Coalesced"}
    missing = {s for s in asl["States"] if s not in fn["report"].PHASE_OF and s not in elsewhere}
    assert missing == set()
