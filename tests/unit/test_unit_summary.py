"""The summary at the head of a rollout's output, and the notification message template.yaml's RolloutStatusRule
makes of each execution status-change event (applied the way EventBridge applies input transformers)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rollout_core.summary import MAX_CHANGES, restore_summary, rollout_summary, smoke_codes

from sandbox.events import STATUS_CHANGE, transform
from scripts.render_asl import load_template
from tests.sandbox.helpers.status_events import status_change_event
from tests.unit.helpers import REPO_ROOT

SMOKE = {
    "withToken": {"endpoint": "runtime", "status": 200, "passed": True},
    "withoutToken": {"endpoint": "runtime", "status": 401, "passed": True},
    "tamperedToken": {"endpoint": "runtime", "status": 401, "passed": True},
    "warranty": {"endpoint": "runtime", "status": 200, "toolsUsed": ["WarrantyCheck___check_warranty"]},
    "gateway": {
        "withoutToken": {"status": 401},
        "tamperedToken": {"status": 403},
        "toolsCall": {"status": 200},
        "toolNames": ["WarrantyCheck___check_warranty"],
    },
    "passed": True,
}
REPORT = {
    "changed": True,
    "dryRun": False,
    "actions": ["+ create gateway my-gateway-secure", "~ update runtime CustomerSupport"],
    "backup": {"bucket": "b", "key": "backups/apply-1.json", "versionId": "v1"},
    "timings": {"seconds": {"load": 1.0, "switch": 41.4}, "total": 42.4},
    "trigger": {"source": "aws.ssm", "parameter": "/app/x/client_id", "operation": "Update"},
    "smoke": SMOKE,
}


def test_a_rollout_summary_says_what_changed_the_smoke_codes_the_backup_and_the_duration() -> None:
    summary = rollout_summary("apply-1", REPORT)
    assert summary["outcome"] == "changed"
    assert summary["changes"] == REPORT["actions"]
    assert summary["smokeCodes"] == {
        "runtime": {"withToken": 200, "withoutToken": 401, "tamperedToken": 401, "warranty": 200},
        "gateway": {"withoutToken": 401, "tamperedToken": 403, "toolsCall": 200},
    }
    assert (summary["backupKey"], summary["durationSeconds"]) == ("backups/apply-1.json", 42.4)
    assert summary["trigger"] == REPORT["trigger"]
    assert summary["text"] == (
        "Rollout apply-1 succeeded: 2 change(s) made and verified; smoke test passed (runtime withToken 200, "
        "withoutToken 401, tamperedToken 401, warranty 200; gateway withoutToken 401, tamperedToken 403, toolsCall "
        "200); backup backups/apply-1.json; 42 s; trigger: parameter Update: /app/x/client_id."
    )


def test_a_summary_of_many_changes_stays_compact() -> None:
    actions = [f"+ create target T{i}" for i in range(MAX_CHANGES + 5)]
    changes = rollout_summary("apply-1", {**REPORT, "actions": actions})["changes"]
    assert changes[:MAX_CHANGES] == actions[:MAX_CHANGES]
    assert changes[MAX_CHANGES:] == ["... and 5 more (see the report's actions)"]


@pytest.mark.parametrize(
    ("report", "outcome", "start"),
    [
        ({"dryRun": True, "changed": False, "plannedChanges": True}, "planned", "Dry run run-1: 2 change(s) planned"),
        ({"dryRun": True, "changed": False, "plannedChanges": False}, "noDrift", "Dry run run-1: already secured"),
        ({"changed": False, "actions": [], "backup": None}, "unchanged", "Rollout run-1 succeeded: already secured"),
    ],
)
def test_dry_runs_and_no_op_runs_say_so(report: dict[str, Any], outcome: str, start: str) -> None:
    summary = rollout_summary("run-1", {**REPORT, **report})
    assert (summary["outcome"], summary["text"][: len(start)]) == (outcome, start)


def test_a_restore_summary_names_the_backup() -> None:
    report = {
        "restored": True,
        "backup": {"key": "backups/apply-1.json"},
        "runtime": {"version": "4", "authorizerKept": True},
        "gateway": {"name": "my-gateway", "recreated": True, "targets": ["WarrantyCheck"]},
        "notRestored": [],
    }
    summary = restore_summary("restore-1", report, {"source": "secure-rollout"})
    assert (summary["outcome"], summary["backupKey"]) == ("restored", "backups/apply-1.json")
    assert summary["changes"][1] == "gateway my-gateway re-created with target(s) WarrantyCheck"
    assert summary["text"].startswith("Restore restore-1 succeeded: backups/apply-1.json put back and verified")


def test_smoke_codes_take_status_codes_only() -> None:
    assert smoke_codes({"withToken": {"status": 200, "answer": "text"}, "gateway": {"toolNames": ["x"]}}) == {
        "runtime": {"withToken": 200}
    }
    assert smoke_codes(None) == {}


# --- the notification message ---------------------------------------------------------------------------------------


def _rule_target() -> dict[str, Any]:
    rule = load_template(REPO_ROOT / "template.yaml")["Resources"]["RolloutStatusRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["status"] == ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
    (target,) = rule["Targets"]
    return dict(target)


def _message(status: str, output: Any = None, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
    """The rule's message for an execution status-change event as the sandbox's Step Functions emits it."""
    event = status_change_event(status, name="apply-1", output=output, error=error, cause=cause)
    assert event["detail-type"] == STATUS_CHANGE
    assert event["resources"] == ["arn:aws:states:us-east-1:123456789012:execution:sm:apply-1"]
    transformer = _rule_target()["InputTransformer"]
    message: dict[str, Any] = json.loads(transform(transformer["InputTemplate"], transformer["InputPathsMap"], event))
    assert (message["kind"], message["status"], message["name"], message["execution"]) == (
        "rolloutStatus",
        status,
        "apply-1",
        event["resources"][0],
    )
    assert message["message"] == f"AgentCore secure rollout apply-1 ended {status}"
    return message


def test_a_success_message_carries_the_output_with_its_summary_first() -> None:
    output = {"summary": rollout_summary("apply-1", REPORT), **REPORT}
    message = _message("SUCCEEDED", output=output)
    assert (message["error"], message["cause"], message["outputDetails"]) == (None, None, {"included": True})
    assert next(iter(json.loads(message["output"]))) == "summary"
    assert json.loads(message["output"])["summary"]["backupKey"] == "backups/apply-1.json"


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_failure_message_carries_the_error_and_a_cause_with_quotes(status: str) -> None:
    cause = json.dumps({"errorMessage": 'smoke test failed: "withoutToken" got 200', "backupKey": "backups/a.json"})
    message = _message(status, error="SmokeTestFailed", cause=cause)
    assert (message["error"], message["cause"], message["output"]) == ("SmokeTestFailed", cause, None)


def test_a_drift_check_names_the_out_of_band_change_and_whether_it_was_repaired() -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/DeveloperRole/agentcore-deploy"
    cause = f"runtime authorizer removed by {principal} via UpdateAgentRuntime"
    trigger = {"source": "aws.bedrock-agentcore", "by": principal, "call": "UpdateAgentRuntime"}
    found = {"changed": False, "dryRun": False, "actions": ["~ secure runtime"], "trigger": trigger}
    unrepaired = rollout_summary("check-1", {**found, "drift": {"detected": True, "diff": ["x"], "cause": cause}})
    assert unrepaired["outcome"] == "driftDetected"
    assert unrepaired["drift"] == cause
    assert f"drift: {cause}" in unrepaired["text"]
    assert f"trigger: out-of-band AgentCore change: UpdateAgentRuntime by {principal}" in unrepaired["text"]
    repaired = rollout_summary(
        "check-2", {**found, "changed": True, "drift": {"detected": True, "remediated": True, "cause": cause}}
    )
    assert repaired["outcome"] == "changed"
    assert f"drift: {cause}" in repaired["text"]
    clean = rollout_summary("check-3", {**found, "actions": [], "drift": {"detected": False}})
    assert (clean["outcome"], clean["drift"]) == ("unchanged", None)
