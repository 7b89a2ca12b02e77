"""Readiness comes from real statuses: a resource that ends FAILED is a failure (never "ready"), is replaced by the next
plain run, and no target is ever lost on the way."""

from __future__ import annotations

import json
from typing import Any

from sandbox.core import Sandbox
from tests.workflow.helpers.control import agentcore_control, target_statuses

TARGETS = ["ShippingEstimate", "WarrantyCheck"]


def _gateway(sandbox: Sandbox, name: str) -> dict[str, Any] | None:
    control = agentcore_control(sandbox)
    found = next((g for g in control.list_gateways()["items"] if g["name"] == name), None)
    return None if found is None else dict(control.get_gateway(gatewayIdentifier=found["gatewayId"]))


def _targets_somewhere(sandbox: Sandbox) -> dict[str, list[str]]:
    """For each tutorial target, the READY copies on any gateway (a target is lost when it has none)."""
    ready: dict[str, list[str]] = {name: [] for name in TARGETS}
    for summary in agentcore_control(sandbox).list_gateways()["items"]:
        for name, status in target_statuses(sandbox, summary["gatewayId"]).items():
            if name in ready and status == "READY":
                ready[name].append(summary["name"])
    return ready


def _assert_converged(sandbox: Sandbox, execution: dict[str, Any]) -> None:
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    report = json.loads(execution["output"])
    assert report["verified"] is True
    secure = _gateway(sandbox, "my-gateway-secure")
    assert secure is not None
    assert (secure["status"], secure["authorizerType"]) == ("READY", "CUSTOM_JWT")
    assert target_statuses(sandbox, secure["gatewayId"]) == dict.fromkeys(TARGETS, "READY")
    assert _gateway(sandbox, "my-gateway") is None
    runtime = agentcore_control(sandbox).get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    assert runtime["status"] == "READY"
    assert runtime["environmentVariables"]["AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"] == secure["gatewayUrl"]
    again = sandbox.run_rollout({})
    assert again["status"] == "SUCCEEDED", again.get("cause")
    assert json.loads(again["output"])["changed"] is False


def test_a_target_that_ends_failed_is_replaced_by_the_next_run_and_never_lost(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.target_create_failure = "Lambda function not found"
    first = sandbox.run_rollout({})
    assert (first["status"], first["error"]) == ("FAILED", "GatewayTargetFailed")
    assert "Lambda function not found" in json.loads(first["cause"])["errorMessage"]
    assert all(_targets_somewhere(sandbox).values())  # the old gateway still has every target

    second = sandbox.run_rollout({})
    assert all(_targets_somewhere(sandbox).values()), _targets_somewhere(sandbox)
    _assert_converged(sandbox, second)
    # The FAILED copy was deleted (polled until gone) and created again; the READY one was left alone.
    created = [m for m in sandbox.behaviour.mutations if m.startswith("CreateGatewayTarget")]
    assert len(created) == 2 + 3  # the tutorial's 2, then 2 + the one re-created
    assert sum(m.startswith("DeleteGatewayTarget") for m in sandbox.behaviour.mutations) == 1 + 2


def test_a_gateway_that_ends_failed_is_replaced_not_reused(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.gateway_create_failure = "Internal failure creating the gateway"
    first = sandbox.run_rollout({})
    assert (first["status"], first["error"]) == ("FAILED", "GatewayCreateFailed")
    failed = _gateway(sandbox, "my-gateway-secure")
    assert failed is not None
    assert failed["status"] == "FAILED"

    second = sandbox.run_rollout({})
    _assert_converged(sandbox, second)
    replacement = _gateway(sandbox, "my-gateway-secure")
    assert replacement is not None
    assert replacement["gatewayId"] != failed["gatewayId"]
    assert f"DeleteGateway {failed['name']}" in sandbox.behaviour.mutations


def test_a_runtime_left_update_failed_is_repaired_by_the_next_run(sandbox: Sandbox) -> None:
    first = sandbox.run_rollout({})
    assert first["status"] == "SUCCEEDED", first.get("cause")
    # A redeploy by another tool fails: the latest record is UPDATE_FAILED with the secured settings in it, and
    # DEFAULT keeps serving the version before it.
    control = agentcore_control(sandbox)
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    sandbox.behaviour.faults.runtime_update_failure = "Container failed health check on port 8080"
    control.update_agent_runtime(
        agentRuntimeId=runtime["agentRuntimeId"],
        **{k: runtime[k] for k in ("agentRuntimeArtifact", "roleArn", "networkConfiguration", "description")},
        **{k: runtime[k] for k in ("protocolConfiguration", "lifecycleConfiguration", "environmentVariables")},
        requestHeaderConfiguration=runtime["requestHeaderConfiguration"],
    )
    for _ in range(500):
        if control.get_agent_runtime(agentRuntimeId=runtime["agentRuntimeId"])["status"] != "UPDATING":
            break
    assert control.get_agent_runtime(agentRuntimeId=runtime["agentRuntimeId"])["status"] == "UPDATE_FAILED"

    repaired = sandbox.run_rollout({})
    assert repaired["status"] == "SUCCEEDED", repaired.get("cause")
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    endpoint = control.get_agent_runtime_endpoint(agentRuntimeId=runtime["agentRuntimeId"], endpointName="DEFAULT")
    assert (runtime["status"], endpoint["liveVersion"]) == ("READY", runtime["agentRuntimeVersion"])
    assert json.loads(repaired["output"])["changed"] is True
    again = sandbox.run_rollout({})
    assert json.loads(again["output"])["changed"] is False
