"""One rollout at a time, for any wait: the lock, coalescing of Parameter Store bursts, release and takeover."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rollout_core.lock import lock_wait_seconds

from sandbox.core import Sandbox
from sandbox.seed import CODE_BUCKET
from tests.workflow.helpers.control import warranty_target_lambda
from tests.workflow.helpers.queue import (
    approval_request,
    eventually,
    lock_answers,
    lock_item,
    states,
    warranty_functions,
)

PREFIX = "/app/customersupport/agentcore"
WARRANTY_PARAMETER = f"{PREFIX}/warranty_check_lambda_arn"


def _states(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in sandbox.history(execution_arn) if "stateEnteredEventDetails" in e
    ]


def test_a_burst_of_parameter_changes_runs_at_most_two_rollouts_and_applies_the_latest(sandbox: Sandbox) -> None:
    arns = warranty_functions(sandbox, 10)
    ssm = sandbox.client("ssm")
    for arn in arns:  # ten changes in a row: ten executions started by EventBridge
        ssm.put_parameter(Name=WARRANTY_PARAMETER, Value=arn, Type="String", Overwrite=True)
    started = list(sandbox.events.started_executions)
    assert len(started) == 10
    executions = [sandbox.wait(arn, timeout=300) for arn in started]

    assert [e["status"] for e in executions] == ["SUCCEEDED"] * 10, [e.get("cause") for e in executions]
    executed = [e for e in executions if "Plan" in states(sandbox, e["executionArn"])]
    assert 1 <= len(executed) <= 2
    coalesced = [json.loads(e["output"]) for e in executions if e not in executed]
    pending = {c["coalescedInto"] for c in coalesced}
    assert [c["status"] for c in coalesced] == ["coalesced"] * len(coalesced)
    # Every coalesced change went into a rollout that ran - and read the configuration - after it.
    assert pending <= {e["executionArn"] for e in executed}
    # Nothing dropped: the end state is the last value written.
    assert warranty_target_lambda(sandbox) == arns[-1]
    last: dict[str, Any] = json.loads(executed[-1]["output"])
    assert last["verified"] is True


def _held_at_approval(sandbox: Sandbox) -> tuple[str, str]:
    """An owner that holds the lock for as long as the test wants: it waits for an operator's approval.
    Returns the owner and its task token."""
    owner = sandbox.start_rollout({"requireApproval": True})
    token = str(approval_request(sandbox, owner)["taskToken"])
    assert lock_item(sandbox)["owner"] == owner
    return owner, token


def _waiting_behind(sandbox: Sandbox, owner: str, polls: int) -> str:
    waiter = sandbox.start_rollout({})
    eventually(lambda: states(sandbox, waiter).count("WaitForLock") >= polls, f"{waiter} polled {polls} times")
    assert lock_item(sandbox)["pending"] == waiter
    assert "LoadConfig" not in states(sandbox, waiter)
    return waiter


def test_a_queued_rollout_waits_as_long_as_the_owner_runs(sandbox: Sandbox) -> None:
    owner, token = _held_at_approval(sandbox)
    # The old queue gave up after 12 polls (~460 s); this one keeps waiting as long as the owner runs.
    waiter = _waiting_behind(sandbox, owner, polls=30)
    polls = states(sandbox, waiter).count("WaitForLock")
    # At the default pollSeconds (10) these polls would have waited this long on AWS: far beyond the old budget.
    assert sum(lock_wait_seconds(10, attempt) for attempt in range(polls)) > 3600
    sandbox.client("stepfunctions").send_task_success(taskToken=token, output="{}")
    first, second = sandbox.wait(owner), sandbox.wait(waiter, timeout=180)
    assert (first["status"], second["status"]) == ("SUCCEEDED", "SUCCEEDED"), (first.get("cause"), second.get("cause"))
    assert second["startDate"] < first["stopDate"]
    assert json.loads(second["output"])["changed"] is False  # it read the configuration after the owner's rollout
    answers = lock_answers(sandbox, waiter)
    assert [a["status"] for a in answers] == ["waiting"] * (len(answers) - 1) + ["acquired"]
    assert lock_item(sandbox).get("owner") is None


def test_the_lock_is_released_on_success_and_on_failure(sandbox: Sandbox) -> None:
    done = sandbox.run_rollout({})
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert states(sandbox, done["executionArn"])[-2:] == ["ReleaseLock", "RolloutSucceeded"]
    assert lock_item(sandbox).get("owner") is None
    # Fails after it took the lock (LoadConfig verifies the package): RolloutFailed releases it, then fails.
    missing = {"agentArtifact": {"s3Bucket": CODE_BUCKET, "s3Key": "CustomerSupport/missing.zip"}}
    failed = sandbox.run_rollout(missing)
    assert (failed["status"], failed["error"]) == ("FAILED", "InvalidAgentArtifact")
    assert lock_answers(sandbox, failed["executionArn"])[0]["status"] == "acquired"
    assert states(sandbox, failed["executionArn"])[-2:] == ["RolloutFailed", "Failed"]
    assert lock_item(sandbox).get("owner") is None
    # The next rollout takes the lock at once.
    after = sandbox.run_rollout({})
    assert [a["status"] for a in lock_answers(sandbox, after["executionArn"])] == ["acquired"]


@pytest.mark.parametrize("end", ["abort", "time out"])
def test_the_lock_of_an_owner_that_was_aborted_or_timed_out_is_taken_over(sandbox: Sandbox, end: str) -> None:
    owner, _ = _held_at_approval(sandbox)
    waiter = _waiting_behind(sandbox, owner, polls=3)
    if end == "abort":
        sandbox.client("stepfunctions").stop_execution(executionArn=owner)
    else:
        sandbox.time_out(owner)
    ended = sandbox.wait(owner)
    status = {"abort": "ABORTED", "time out": "TIMED_OUT"}[end]
    assert ended["status"] == status
    assert "RolloutFailed" not in states(sandbox, owner)  # it could not release the lock itself
    taken = sandbox.wait(waiter, timeout=180)
    assert taken["status"] == "SUCCEEDED", taken.get("cause")
    assert lock_answers(sandbox, waiter)[-1]["tookOverFrom"] == {"execution": owner, "status": status}
    assert json.loads(taken["output"])["verified"] is True
    assert lock_item(sandbox).get("owner") is None
