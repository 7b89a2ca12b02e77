"""Drift watch: the stack's Scheduler schedule starts a drift check ({"checkDrift": true}). Each kind of drift a
redeploy by another tool makes is notified with its diff line and changes nothing (AutoRemediate=false), or is
repaired in the same execution (AutoRemediate=true); no drift, no notification. The schedule fires the way
Scheduler does: only when ENABLED, with its Input, acting as its own role (IAM enforced)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rollout_core import desired

from sandbox.core import Sandbox
from tests.workflow.helpers.leaks import assert_no_credentials
from tests.workflow.helpers.queue import eventually

DRIFT_KIND = "driftDetected"
OLD, NEW, TARGET = "my-gateway", "my-gateway-secure", "WarrantyCheck"
URL_VAR = "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"


def _secured(auto_remediate: str) -> Iterator[Sandbox]:
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"AutoRemediate": auto_remediate}) as sandbox:
        execution = sandbox.run_rollout({})
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        sandbox.notifications()  # what the rollout published is not the drift watch's
        yield sandbox


# Class-scoped: one sandbox runs at a time (one moto account), so each is stopped when its class is done.
@pytest.fixture(scope="class")
def watching() -> Iterator[Sandbox]:
    """A secured agent whose drift watch only notifies (the AutoRemediate default)."""
    yield from _secured("false")


@pytest.fixture(scope="class")
def remediating() -> Iterator[Sandbox]:
    """A secured agent whose drift watch repairs what it finds (AutoRemediate=true)."""
    yield from _secured("true")


# --- drift, made out of band (a redeploy by another tool, a console edit) -------------------------------------------


def _control(sandbox: Sandbox) -> Any:
    return sandbox.client("bedrock-agentcore-control")


def _gateway(sandbox: Sandbox, name: str) -> dict[str, Any] | None:
    found = [g for g in _control(sandbox).list_gateways()["items"] if g["name"] == name]
    return _control(sandbox).get_gateway(gatewayIdentifier=found[0]["gatewayId"]) if found else None


def _runtime_settled(sandbox: Sandbox) -> None:
    """READY and live on DEFAULT: the drift is what callers get (a plan waits for a runtime in transit)."""
    control, runtime_id = _control(sandbox), sandbox.seeded.runtime_id

    def live() -> bool:
        runtime = control.get_agent_runtime(agentRuntimeId=runtime_id)
        endpoint = control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName="DEFAULT")
        return runtime["status"] == "READY" and endpoint.get("liveVersion") == runtime["agentRuntimeVersion"]

    eventually(live, "the out-of-band runtime update did not go live")


def _redeploy_runtime(sandbox: Sandbox, **changes: Any) -> None:
    """A full-replace UpdateAgentRuntime by another tool: everything sent back as it is, but `changes`."""
    control = _control(sandbox)
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    control.update_agent_runtime(**desired.runtime_update_request(runtime, **changes))
    _runtime_settled(sandbox)


def remove_authorizer(sandbox: Sandbox) -> None:
    # No API removes an authorizer; a redeploy that clears the one it leaves out (the other reading of AWS's
    # unconfirmed semantics) does.
    sandbox.behaviour.faults.omitted_authorizer_clears = True
    try:
        _redeploy_runtime(sandbox)
    finally:
        sandbox.behaviour.faults.omitted_authorizer_clears = False
    runtime = _control(sandbox).get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    assert not runtime.get("authorizerConfiguration")


def change_allowlist(sandbox: Sandbox) -> None:
    _redeploy_runtime(sandbox, allowlist=["X-Custom-Header"])


def reset_gateway_url(sandbox: Sandbox) -> None:
    runtime = _control(sandbox).get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    _redeploy_runtime(sandbox, environment={k: v for k, v in runtime["environmentVariables"].items() if k != URL_VAR})


def bring_old_gateway_back(sandbox: Sandbox) -> None:
    created = _control(sandbox).create_gateway(
        name=OLD, roleArn=sandbox.seeded.gateway_role_arn, protocolType="MCP", authorizerType="NONE"
    )
    eventually(
        lambda: _control(sandbox).get_gateway(gatewayIdentifier=created["gatewayId"])["status"] == "READY",
        "the re-created open gateway is not READY",
    )


def delete_target(sandbox: Sandbox) -> None:
    control, gateway = _control(sandbox), _gateway(sandbox, NEW)
    assert gateway is not None
    gateway_id = gateway["gatewayId"]
    target = next(t for t in control.list_gateway_targets(gatewayIdentifier=gateway_id)["items"] if t["name"] == TARGET)
    control.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target["targetId"])
    eventually(
        lambda: all(t["name"] != TARGET for t in control.list_gateway_targets(gatewayIdentifier=gateway_id)["items"]),
        "the deleted target is still listed",
    )


# (make the drift, the diff line the notification must carry)
DRIFTS: dict[str, tuple[Callable[[Sandbox], None], str]] = {
    "authorizer-removed": (
        remove_authorizer,
        "runtime authorizer removed: runtime CustomerSupport accepts calls without a JWT",
    ),
    "allowlist-changed": (
        change_allowlist,
        "request header allowlist changed: ['X-Custom-Header'] lacks Authorization (the agent never sees the caller's "
        "token)",
    ),
    "gateway-url-reset": (
        reset_gateway_url,
        f"gateway URL env var reset: {URL_VAR} is unset, not the URL of gateway {NEW}",
    ),
    "old-gateway-back": (bring_old_gateway_back, f"old gateway {OLD} is back / still open (authorizer NONE)"),
    "target-missing": (delete_target, f"target {TARGET} missing on {NEW}"),
}


# --- what the tests look at ----------------------------------------------------------------------------------------


def control_plane(sandbox: Sandbox) -> dict[str, Any]:
    """Every record the rollout could touch, as the control plane reports it."""
    control = _control(sandbox)

    def clean(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k != "ResponseMetadata"}

    gateways = {}
    for item in control.list_gateways()["items"]:
        gateway_id = item["gatewayId"]
        targets = control.list_gateway_targets(gatewayIdentifier=gateway_id)["items"]
        gateways[item["name"]] = {
            "gateway": clean(control.get_gateway(gatewayIdentifier=gateway_id)),
            "targets": [
                clean(control.get_gateway_target(gatewayIdentifier=gateway_id, targetId=t["targetId"])) for t in targets
            ],
        }
    runtime_id = sandbox.seeded.runtime_id
    return {
        "runtime": clean(control.get_agent_runtime(agentRuntimeId=runtime_id)),
        "endpoint": clean(control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName="DEFAULT")),
        "gateways": gateways,
    }


def drift_notifications(sandbox: Sandbox, execution_arn: str) -> list[dict[str, Any]]:
    return [m for m in sandbox.notifications() if m.get("kind") == DRIFT_KIND and m.get("execution") == execution_arn]


def scheduled_check(sandbox: Sandbox) -> tuple[str, dict[str, Any]]:
    """Fire the drift watch schedule; the execution it started and its report."""
    firing = sandbox.fire_schedule()
    assert (firing.fired, firing.error_code) == (True, None)
    assert firing.execution_arn is not None
    execution = sandbox.wait(firing.execution_arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    return firing.execution_arn, json.loads(execution["output"])


def assert_nothing_to_do(sandbox: Sandbox) -> None:
    dry_run = sandbox.run_rollout({"dryRun": True})
    assert dry_run["status"] == "SUCCEEDED", dry_run.get("cause")
    assert json.loads(dry_run["output"])["plannedChanges"] is False


# --- the tests -------------------------------------------------------------------------------------------------------


class TestNotifyOnly:
    """AutoRemediate=false (the default): drift is notified, nothing is changed."""

    def test_no_drift_is_a_quiet_successful_check_that_changes_nothing(self, watching: Sandbox) -> None:
        before, mutations = control_plane(watching), len(watching.behaviour.mutations)
        arn, report = scheduled_check(watching)
        # The schedule's Input, context attribute filled in, reached the execution as its trigger.
        assert report["trigger"]["source"] == "aws.scheduler"
        assert report["trigger"]["reason"] == "scheduled drift check"
        assert report["trigger"]["time"].endswith("Z")
        assert report["drift"] == {"detected": False}
        assert (report["changed"], report["plannedChanges"], report["actions"]) == (False, False, [])
        assert drift_notifications(watching, arn) == []
        assert watching.behaviour.mutations[mutations:] == []
        assert control_plane(watching) == before

    @pytest.mark.parametrize("kind", DRIFTS)
    def test_drift_is_notified_with_its_diff_and_nothing_changes(self, watching: Sandbox, kind: str) -> None:
        make_drift, line = DRIFTS[kind]
        make_drift(watching)
        before, mutations = control_plane(watching), len(watching.behaviour.mutations)

        arn, report = scheduled_check(watching)

        notifications = eventually(lambda: drift_notifications(watching, arn), "no drift notification")
        assert len(notifications) == 1
        notification = notifications[0]
        assert line in notification["diff"], notification["diff"]
        assert (notification["runtime"], notification["gateway"], notification["autoRemediate"]) == (
            "CustomerSupport",
            NEW,
            False,
        )
        assert report["drift"] == {"detected": True, "diff": notification["diff"], "remediated": False}
        assert (report["changed"], report["plannedChanges"]) == (False, True)
        assert watching.behaviour.mutations[mutations:] == []
        assert control_plane(watching) == before
        assert_no_credentials(watching, {"drift notification": json.dumps(notification), "report": json.dumps(report)})

        # The operator repairs it with a plain rollout (the next test starts secured).
        repair = watching.run_rollout({})
        assert repair["status"] == "SUCCEEDED", repair.get("cause")
        assert_nothing_to_do(watching)
        watching.notifications()

    def test_the_schedule_fires_only_when_enabled_and_only_as_a_role_that_may_start_the_rollout(
        self, watching: Sandbox
    ) -> None:
        scheduler, iam = watching.client("scheduler"), watching.client("iam")
        deployed = scheduler.get_schedule(Name=f"{watching.stack_name}-drift-check")
        target = deployed["Target"]
        assert target["Arn"] == watching.deployment.state_machine_arn
        assert json.loads(target["Input"].replace("<aws.scheduler.scheduled-time>", "t"))["checkDrift"] is True
        assert deployed["FlexibleTimeWindow"] == {"Mode": "OFF"}
        started = len(watching.client("stepfunctions").list_executions(stateMachineArn=target["Arn"])["executions"])

        # A DISABLED schedule does nothing.
        copy = {k: deployed[k] for k in ("ScheduleExpression", "FlexibleTimeWindow", "Target")}
        scheduler.create_schedule(Name="drift-check-disabled", State="DISABLED", **copy)
        disabled = watching.fire_schedule("drift-check-disabled")
        assert (disabled.fired, disabled.execution_arn) == (False, None)

        # A role that may not start the state machine (only dead-letter) is denied; the check is dead-lettered.
        queue_arn = target["DeadLetterConfig"]["Arn"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName="scheduler-without-start", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        allow = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}],
        }
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName="dead-letters", PolicyDocument=json.dumps(allow))
        scheduler.create_schedule(Name="drift-check-denied", **{**copy, "Target": {**target, "RoleArn": role["Arn"]}})
        denied = watching.fire_schedule("drift-check-denied")
        assert (denied.fired, denied.execution_arn, denied.error_code) == (True, None, "AccessDeniedException")
        assert denied.dead_lettered
        sqs = watching.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=queue_arn.split(":")[-1])["QueueUrl"]
        letters = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
        assert [m["MessageAttributes"]["ERROR_CODE"]["StringValue"] for m in letters] == ["AccessDeniedException"]
        assert json.loads(letters[0]["Body"])["checkDrift"] is True
        assert (
            len(watching.client("stepfunctions").list_executions(stateMachineArn=target["Arn"])["executions"])
            == started
        )


class TestAutoRemediate:
    """AutoRemediate=true: the drift check repairs what it notifies."""

    @pytest.mark.parametrize("kind", DRIFTS)
    def test_auto_remediate_repairs_the_drift_it_notifies(self, remediating: Sandbox, kind: str) -> None:
        make_drift, line = DRIFTS[kind]
        make_drift(remediating)

        arn, report = scheduled_check(remediating)

        notifications = eventually(lambda: drift_notifications(remediating, arn), "no drift notification")
        assert len(notifications) == 1
        assert line in notifications[0]["diff"]
        assert notifications[0]["autoRemediate"] is True
        assert report["drift"] == {"detected": True, "diff": notifications[0]["diff"], "remediated": True}
        assert (report["changed"], report["verified"]) == (True, True)
        assert report["backup"]["key"].startswith("backups/")
        assert_nothing_to_do(remediating)
        assert_no_credentials(
            remediating, {"drift notification": json.dumps(notifications[0]), "report": json.dumps(report)}
        )


def test_drift_check_schedule_off_creates_no_schedule() -> None:
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"DriftCheckSchedule": "off"}) as sandbox:
        assert sandbox.client("scheduler").list_schedules()["Schedules"] == []
        resources = sandbox.deployment.translated_template["Resources"]
        assert {lid for lid in sandbox.deployment.physical_ids if lid.startswith("Drift")} == set()
        assert {resources[lid]["Condition"] for lid in resources if lid.startswith("Drift")} == {"DriftWatch"}
