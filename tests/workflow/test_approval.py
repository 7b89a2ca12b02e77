"""The approval gate: after the plan (only when it changes something, never for a dry run) the rollout publishes the
plan with a task token to the notification topic and waits: approve → it goes on; reject or timeout → RolloutRejected,
nothing changed, the lock released."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.workflow.helpers.leaks import assert_no_credentials
from tests.workflow.helpers.queue import (
    APPROVAL_KIND,
    approval_request,
    lock_item,
    states,
    status_notifications,
    warranty_functions,
)

PREFIX = "/app/customersupport/agentcore"


def _status_events(sandbox: Sandbox, execution_arn: str) -> list[tuple[str, str | None]]:
    return [(n["status"], n["error"]) for n in status_notifications(sandbox, execution_arn)]


def _message(execution: dict[str, Any]) -> str:
    return str(json.loads(execution["cause"])["errorMessage"])


def test_an_approved_rollout_goes_on_after_the_operator_answers(sandbox: Sandbox) -> None:
    before = len(sandbox.behaviour.mutations)
    arn = sandbox.start_rollout({"requireApproval": True})
    request = approval_request(sandbox, arn)
    # The request says what will change and how to answer; nothing has changed yet.
    assert "create gateway my-gateway-secure with CUSTOM_JWT authorizer" in request["actions"]
    assert request["why"] == "the execution input asked for approval (requireApproval: true)"
    assert (request["runtime"], request["gateway"], request["timeoutSeconds"]) == (
        "CustomerSupport",
        "my-gateway-secure",
        86400,
    )
    assert "send-task-success" in request["approve"]
    assert "send-task-failure --error RolloutRejected" in request["reject"]
    assert states(sandbox, arn)[-1] == "RequestApproval"
    assert sandbox.behaviour.mutations[before:] == []

    sandbox.client("stepfunctions").send_task_success(taskToken=request["taskToken"], output='{"by": "ops"}')
    execution = sandbox.wait(arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    report = json.loads(execution["output"])
    assert report["verified"] is True
    assert report["changed"] is True
    # The report says the rollout was approved (the answer's output is not kept: who approved is CloudTrail's record)
    # and how long it waited for the answer.
    assert report["approval"] == {
        "required": True,
        "reason": "the execution input asked for approval (requireApproval: true)",
        "asked": True,
        "approved": True,
    }
    assert "ops" not in json.dumps(report["approval"])
    assert report["timings"]["seconds"]["approval"] > 0
    assert lock_item(sandbox).get("owner") is None
    # Neither the request nor anything else published carries a credential.
    assert_no_credentials(sandbox, {"approval request": json.dumps(request), "report": execution["output"]})


@pytest.mark.parametrize("answer", ["reject", "timeout"])
def test_a_rejected_or_unanswered_rollout_fails_as_rolloutrejected_and_changes_nothing(
    sandbox: Sandbox, answer: str
) -> None:
    before = len(sandbox.behaviour.mutations)
    execution_input: dict[str, Any] = {"requireApproval": True}
    if answer == "timeout":
        execution_input["approvalTimeoutSeconds"] = 1
    arn = sandbox.start_rollout(execution_input)
    request = approval_request(sandbox, arn)
    if answer == "reject":
        sandbox.client("stepfunctions").send_task_failure(
            taskToken=request["taskToken"], error="RolloutRejected", cause="not during the sale"
        )
    execution = sandbox.wait(arn)

    assert (execution["status"], execution["error"]) == ("FAILED", "RolloutRejected")
    message = _message(execution)
    assert message.startswith("The rollout was not approved, so nothing was changed.")
    assert ("not during the sale" if answer == "reject" else "States.Timeout") in message
    assert sandbox.behaviour.mutations[before:] == []
    assert states(sandbox, arn)[-4:] == ["ApprovalRejected", "NameRejection", "RolloutFailed", "Failed"]
    assert lock_item(sandbox).get("owner") is None
    assert _status_events(sandbox, arn) == [("FAILED", "RolloutRejected")]


def test_no_approval_is_asked_for_a_dry_run_or_a_plan_without_changes(sandbox: Sandbox) -> None:
    dry = sandbox.run_rollout({"dryRun": True, "requireApproval": True})
    assert dry["status"] == "SUCCEEDED", dry.get("cause")
    assert "RequestApproval" not in states(sandbox, dry["executionArn"])
    assert sandbox.run_rollout({})["status"] == "SUCCEEDED"
    no_op = sandbox.run_rollout({"requireApproval": True})
    assert no_op["status"] == "SUCCEEDED", no_op.get("cause")
    assert json.loads(no_op["output"])["changed"] is False
    assert "RequestApproval" not in states(sandbox, no_op["executionArn"])
    assert [m for m in sandbox.notifications() if m.get("kind") == APPROVAL_KIND] == []


@pytest.fixture
def eventbridge_approval() -> Iterator[Sandbox]:
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"RequireApproval": "eventbridge"}) as instance:
        yield instance


def test_with_requireapproval_eventbridge_parameter_changes_wait_for_approval(eventbridge_approval: Sandbox) -> None:
    sandbox = eventbridge_approval
    # An operator's own run is not gated...
    manual = sandbox.run_rollout({})
    assert manual["status"] == "SUCCEEDED", manual.get("cause")
    assert "RequestApproval" not in states(sandbox, manual["executionArn"])
    # ...a Parameter Store change is: its rollout waits for an approval, and its input cannot skip it.
    (new_warranty,) = warranty_functions(sandbox, 1)
    ssm = sandbox.client("ssm")
    ssm.put_parameter(Name=f"{PREFIX}/warranty_check_lambda_arn", Value=new_warranty, Type="String", Overwrite=True)
    changed = sandbox.events.started_executions[-1]
    skipped = sandbox.run_rollout({"requireApproval": False, "trigger": {"source": "aws.ssm"}})
    assert (skipped["status"], skipped["error"]) == ("FAILED", "InvalidExecutionInput")
    assert "never skip it" in _message(skipped)
    request = approval_request(sandbox, changed)
    assert request["why"] == "started by EventBridge (aws.ssm) and RequireApproval=eventbridge"
    assert request["actions"] == ["update target WarrantyCheck"]
    sandbox.client("stepfunctions").send_task_success(taskToken=request["taskToken"], output="{}")
    execution = sandbox.wait(changed)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
