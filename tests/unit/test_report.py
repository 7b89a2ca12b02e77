"""Report: the rollout's verified end state, and phase timings from the execution history."""

from __future__ import annotations

from typing import Any, cast
from unittest import mock

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, desired, planner
from rollout_core.errors import (
    RolloutVerificationFailed,
)
from rollout_core.planner import build_plan
from rollout_core.state import Config, DeletedGateway, RolloutState, SmokeResult

from functions.delete_gateway import app as delete_gateway
from functions.provision_gateway import app as provision_gateway
from functions.provision_targets import app as provision_targets
from functions.report import app
from functions.switch_runtime import app as switch_runtime
from tests.unit.helpers import (
    NEW_ENV_VAR,
    NEW_GATEWAY,
    RUNTIME_DESCRIPTION,
    RUNTIME_ENV,
    SECURE,
    WARRANTY_ARN,
    as_agentcore,
    default_endpoint,
    make_ready,
    run_load_config,
    runtime_record,
)


def rollout(client: Any, backend: Any, config: Config) -> RolloutState:
    """Every mutating step in the state machine's order (expand, switch, contract), moto's UPDATING settled by hand."""
    plan = build_plan(client, config)
    gateway = provision_gateway.provision_gateway(client, plan["gateway"], "execution-1")
    if gateway["settingsPending"]:
        gateway = provision_gateway.carry_settings(client, gateway, plan["gateway"])
    provision_targets.provision_targets(client, gateway["id"], plan["gateway"])
    settings = config["settings"]
    switch_runtime.switch_runtime(
        client,
        config["runtime"]["id"],
        config["cognito"],
        settings["gatewayUrlEnvVar"],
        gateway["url"],
        settings["gatewayName"],
    )
    make_ready(backend, config["runtime"]["id"])
    delete_old = plan["gateway"]["deleteOld"]
    if delete_old:
        old = cast(DeletedGateway, delete_old)  # as the state machine passes the plan's deleteOld to DeleteGateway
        delete_gateway.delete_targets(client, old)
        delete_gateway.delete_gateway(client, old)
    smoke = cast(SmokeResult, {"passed": True})  # the one field the report reads
    return {"config": config, "plan": plan, "gateway": gateway, "smoke": smoke}


def test_report_dry_run_changes_nothing(client: Any, config: Config) -> None:
    dry: Config = {**config, "settings": {**config["settings"], "dryRun": True}, "trigger": {"source": "aws.ssm"}}
    plan = build_plan(client, dry)
    report = app.build_report(as_agentcore(None), {"config": dry, "plan": plan})  # no client: no calls at all
    assert report == {
        "changed": False,
        "dryRun": True,
        "plannedChanges": True,
        "actions": plan["actions"],
        "notCarried": [],
        "trigger": {"source": "aws.ssm"},
        "triggeredBy": "Parameter Store change",
    }


def test_report_names_what_was_not_carried(client: Any, config: Config) -> None:
    dry: Config = {**config, "settings": {**config["settings"], "dryRun": True}}
    plan = build_plan(client, dry)
    plan["gateway"]["notCarried"] = ["tags:aws:*", "webAclArn"]
    report = app.build_report(as_agentcore(None), {"config": dry, "plan": plan})
    assert report["notCarried"] == ["tags:aws:*", "webAclArn"]


def test_report_flags_settings_that_did_not_reach_the_new_gateway(client: Any, backend: Any, config: Config) -> None:
    state = rollout(client, backend, config)
    backend.gateways[state["gateway"]["id"]].status = "READY"
    state["plan"]["gateway"]["afterCreate"] = {
        "update": {"wafConfiguration": {"failureMode": "FAIL_CLOSE"}},
        "tags": {"team": "support"},
    }
    with pytest.raises(RolloutVerificationFailed) as caught:
        app.build_report(client, state)
    assert "gateway my-gateway-secure lacks the old gateway's wafConfiguration, tags[team]" in str(caught.value)
    assert "FAIL_CLOSE" not in str(caught.value)


def test_report_rejects_the_unsecured_state(client: Any, config: Config) -> None:
    plan = build_plan(client, config)
    with pytest.raises(RolloutVerificationFailed) as caught:
        app.build_report(client, {"config": config, "plan": plan})
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


def test_full_rollout_verifies_and_rerun_plans_nothing(client: Any, backend: Any, config: Config) -> None:
    state = rollout(client, backend, config)
    report = app.build_report(client, state)
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
    rerun = build_plan(client, run_load_config(client))
    assert rerun["changed"] is False
    assert rerun["actions"] == []


def update_warranty_target(client: Any, gateway_id: str, lambda_arn: str) -> None:
    """Points the gateway's WarrantyCheck target at `lambda_arn` (UpdateGatewayTarget, as an operator would)."""
    warranty = next(t for t in agentcore.list_targets(client, gateway_id) if t["name"] == "WarrantyCheck")
    client.update_gateway_target(
        gatewayIdentifier=gateway_id,
        targetId=warranty["targetId"],
        **desired.warranty_target_definition("WarrantyCheck", lambda_arn),
    )


def settle_targets(backend: Any, gateway_id: str) -> None:
    """moto leaves an updated target UPDATING; AWS settles it to READY."""
    for (owner, _), target in backend.gateway_targets.items():
        if owner == gateway_id:
            target.status = "READY"


def test_report_flags_a_runtime_and_targets_still_in_transit(client: Any, backend: Any, config: Config) -> None:
    state = rollout(client, backend, config)
    gateway_id = state["gateway"]["id"]
    update_warranty_target(client, gateway_id, WARRANTY_ARN)  # moto leaves it UPDATING
    backend.agent_runtimes[config["runtime"]["id"]].status = "UPDATING"
    default_endpoint(backend, config["runtime"]["id"]).live_version = "1"
    with pytest.raises(RolloutVerificationFailed) as caught:
        app.build_report(client, state)
    message = str(caught.value)
    assert "runtime status is UPDATING, expected READY" in message
    assert "runtime endpoint DEFAULT is READY serving version 1, expected READY serving version 2" in message
    assert "target(s) not READY: WarrantyCheck" in message
    assert "a fresh plan" not in message  # the planner waits for a runtime in transit; the report names it instead


def test_report_flags_drift_after_rollout_as_what_a_fresh_plan_would_do(
    client: Any, backend: Any, config: Config
) -> None:
    state = rollout(client, backend, config)
    gateway_id = state["gateway"]["id"]
    update_warranty_target(client, gateway_id, WARRANTY_ARN + "Other")
    settle_targets(backend, gateway_id)
    record = backend.agent_runtimes[config["runtime"]["id"]]
    record.environment_variables = {**record.environment_variables, "AGENTCORE_GATEWAY_NAME": "my-gateway"}
    with pytest.raises(RolloutVerificationFailed) as caught:
        app.build_report(client, state)
    message = str(caught.value)
    assert "a fresh plan would still update target WarrantyCheck" in message
    assert "a fresh plan would still set runtime env AGENTCORE_GATEWAY_NAME to my-gateway-secure" in message
    assert "not READY" not in message


def test_report_catches_what_only_the_planner_checks(client: Any, backend: Any, config: Config) -> None:
    """The warranty target still calls the Lambda from SSM, but its tool schema is not the packaged one: the report's
    own rules (before it planned again) checked only the Lambda ARN and verified this."""
    state = rollout(client, backend, config)
    gateway_id = state["gateway"]["id"]
    warranty = next(t for t in agentcore.list_targets(client, gateway_id) if t["name"] == "WarrantyCheck")
    drifted = desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN)
    drifted["targetConfiguration"]["mcp"]["lambda"]["toolSchema"]["inlinePayload"][0]["description"] = "changed"
    client.update_gateway_target(gatewayIdentifier=gateway_id, targetId=warranty["targetId"], **drifted)
    settle_targets(backend, gateway_id)
    after = next(t for t in agentcore.list_targets(client, gateway_id) if t["name"] == "WarrantyCheck")
    assert desired.target_lambda_arn(after) == WARRANTY_ARN
    with pytest.raises(RolloutVerificationFailed, match=r"a fresh plan would still update target WarrantyCheck$"):
        app.build_report(client, state)


def test_a_requirement_added_only_in_the_planner_is_enforced_by_the_report(
    client: Any, backend: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = rollout(client, backend, config)
    assert app.build_report(client, state)["verified"] is True
    # A new rule, written in the planner alone: every runtime must be updated once more.
    monkeypatch.setattr(planner, "runtime_repair", lambda runtime, endpoint: "a new planner rule")
    with pytest.raises(RolloutVerificationFailed) as caught:
        app.build_report(client, state)
    assert str(caught.value) == (
        "end state differs from the desired state: a fresh plan would still repair: a new planner rule; "
        "a new runtime version must go live"
    )


def test_report_handler(client: Any, backend: Any, config: Config, context: LambdaContext) -> None:
    state = rollout(client, backend, config)

    read: list[str] = []

    def history(states: Any, execution_arn: str) -> list[dict[str, Any]]:
        read.append(execution_arn)
        return []

    with mock.patch.object(app, "execution_history", history):
        report = app.lambda_handler({"state": state, "executionArn": "arn:execution"}, context)
    assert report["verified"] is True
    assert read == ["arn:execution"]
    assert report["timings"] == {"seconds": {}, "total": 0}


def test_phase_timings_attribute_each_state_to_its_phase() -> None:
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
    timings = app.phase_timings(events, start + timedelta(seconds=46))
    assert timings == {
        "load": 1.0,
        "backup": 1.0,
        "expand": 8.0,
        "switch": 20.0,
        "verify": 10.0,
        "contract": 5.0,
        "report": 1.0,
    }


def test_every_rollout_state_has_a_phase() -> None:
    import json

    from tests.unit.helpers import REPO_ROOT

    asl = json.loads((REPO_ROOT / "statemachine" / "secure_rollout.asl.json").read_text())
    # The rollback, hold and restore states end in a failure or in the restore report, never in this report.
    elsewhere = {"ReleaseLock", "RolloutSucceeded", "RolloutFailed", "Failed", "Coalesced"}
    missing = {s for s in asl["States"] if s not in app.PHASE_OF and s not in elsewhere}
    assert missing == set()
