"""Replacing the gateway on a control plane as strict as AWS: target deletion is asynchronous and polled (a DELETING
target is never asked again), the new gateway's URL comes from GetGateway, and every setting of the old gateway
reaches the new one - or the plan and the report name it."""

from __future__ import annotations

import json

from sandbox.core import Sandbox


def _entered(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in sandbox.history(execution_arn) if "stateEnteredEventDetails" in e
    ]


def _lambda_errors(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in sandbox.history(execution_arn)
        if e["type"] == "LambdaFunctionFailed"
    ]


# -- defect: target deletion is asynchronous --------------------------------------------------------------------------


def test_old_targets_are_deleted_once_and_polled_until_gone(sandbox: Sandbox) -> None:
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert sandbox.behaviour.refusals == []  # no DeleteGatewayTarget on a DELETING target, no early DeleteGateway
    assert "AgentCoreBusy" not in _lambda_errors(sandbox, execution["executionArn"])
    deletions = sorted(m for m in sandbox.behaviour.mutations if m.startswith("DeleteGatewayTarget"))
    assert deletions == ["DeleteGatewayTarget ShippingEstimate", "DeleteGatewayTarget WarrantyCheck"]
    states = _entered(sandbox, execution["executionArn"])
    # Polled like every other wait: targets first (Wait/Check until none is left), then the gateway.
    assert states.index("DeleteOldTargets") < states.index("CheckOldTargets") < states.index("DeleteOldGateway")
    assert json.loads(execution["output"])["oldGatewayDeleted"] is True


def test_a_target_whose_deletion_fails_is_a_named_failure(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.target_delete_failure = "Target is referenced by an interceptor"
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "FAILED"
    assert execution["error"] == "GatewayDeleteFailed"
    message = json.loads(execution["cause"])["errorMessage"]
    assert "was asked to delete but is FAILED: Target is referenced by an interceptor" in message
    assert [r for r in sandbox.behaviour.refusals if r.startswith("DeleteGatewayTarget")] == []
