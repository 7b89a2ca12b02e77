"""Faults in the contract phase: the old gateway's deletion stalls (stays DELETING far past the poll budget) or is
slower than it. The switch is live and verified by then, so the agent stays on the new gateway - never on a deleted
one -, the new gateway keeps every target, the run fails by name, and the next plain run converges: it deletes the old
gateway again or finds it gone, whenever AWS finishes, and never mistakes that for a failed create."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest

from sandbox.availability import AvailabilityProbe
from sandbox.callers import ask
from sandbox.core import Sandbox
from tests.workflow.helpers.control import agentcore_control, gateways_by_name, target_statuses
from tests.workflow.helpers.failure import failure_message

TARGETS = ["ShippingEstimate", "WarrantyCheck"]
WARRANTY_TOOL = "WarrantyCheck___check_warranty"
# AWS seconds the old gateway stays DELETING: hours, far past any poll budget of the sandbox's runs.
STALL = 6 * 3600.0


def _states(sandbox: Sandbox, execution: dict[str, Any]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in sandbox.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]


@contextmanager
def _once_before(sandbox: Sandbox, logical_id: str, action: Callable[[], None]) -> Iterator[None]:
    """Runs `action` once, just before the stack's function `logical_id` is first invoked."""
    name = sandbox.deployment.functions[logical_id]
    original = sandbox.lambdas.invoke
    done: list[bool] = []

    def invoke(function: Any, body: Any, client_context: dict[str, Any] | None = None) -> tuple[bytes, str | None]:
        if function.function_name == name and not done:
            done.append(True)
            action()
        return original(function, body, client_context)

    with mock.patch.object(sandbox.lambdas, "invoke", invoke):
        yield


def _first_run_stops_in_the_contract(sandbox: Sandbox, probe: AvailabilityProbe) -> dict[str, Any]:
    """The first rollout, whose old-gateway deletion outlasts its poll budget: a named failure after the verified
    switch, with the agent on the new gateway and every target of it READY."""
    with probe.watching():
        first = sandbox.run_rollout({})
    assert (first["status"], first["error"]) == ("FAILED", "ResourceWaitTimeout")
    message = failure_message(first)
    assert "gateway my-gateway (" in message
    assert "deletion still DELETING after 10 polls" in message
    states = _states(sandbox, first)
    assert states.index("SmokeTest") < states.index("DeleteOldGateway") < states.index("CheckOldDeletion")
    assert states[-3:] == ["CheckOldDeletion", "RolloutFailed", "Failed"]
    assert "RollbackRuntime" not in states  # the new path was verified: nothing to roll back

    gateways = gateways_by_name(sandbox)
    assert gateways["my-gateway"]["status"] == "DELETING"
    secure = gateways["my-gateway-secure"]
    assert (secure["status"], secure["authorizerType"]) == ("READY", "CUSTOM_JWT")
    assert target_statuses(sandbox, secure["gatewayId"]) == dict.fromkeys(TARGETS, "READY")
    # What the agent calls: the verified new gateway, by name and URL, in the version DEFAULT serves.
    after = probe.observe("after the first run")
    assert (after.gateway, after.gateway_ready, after.old_gateway) == ("my-gateway-secure", True, "DELETING")
    token = sandbox.cognito.mint_token(sandbox.seeded.client_id, pool_id=sandbox.seeded.pool_id)
    calls_before = len(sandbox.gateway_plane.calls)
    status, _, tools = ask(sandbox, "Check the warranty for PROD-001", f"contract-{uuid.uuid4()}", token)
    assert (status, tools) == (200, [WARRANTY_TOOL])
    assert {c.gateway_name for c in sandbox.gateway_plane.calls[calls_before:] if c.tool_name} == {"my-gateway-secure"}
    return first


def _assert_converged(sandbox: Sandbox, execution: dict[str, Any], probe: AvailabilityProbe) -> None:
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    report = json.loads(execution["output"])
    assert (report["verified"], report["oldGatewayDeleted"]) == (True, True)
    # Every target was verified on the new gateway, although the old one no longer had any to compare with.
    assert report["targets"]["before"] == TARGETS
    assert [t["name"] for t in report["targets"]["after"]] == TARGETS
    gateways = gateways_by_name(sandbox)
    assert list(gateways) == ["my-gateway-secure"]
    assert target_statuses(sandbox, gateways["my-gateway-secure"]["gatewayId"]) == dict.fromkeys(TARGETS, "READY")
    # At no step of either run did the live agent's gateway go missing or stop being READY.
    assert probe.outages() == []
    again = sandbox.run_rollout({})
    assert again["status"] == "SUCCEEDED", again.get("cause")
    assert json.loads(again["output"])["changed"] is False


def test_a_stalled_old_gateway_deletion_keeps_the_agent_on_the_new_gateway_and_a_rerun_deletes_it(
    sandbox: Sandbox,
) -> None:
    # AWS keeps the old gateway DELETING for hours, then gives up on it: FAILED, with a reason.
    sandbox.behaviour.faults.gateway_delete_seconds = STALL
    sandbox.behaviour.faults.gateway_delete_failure = "Gateway deletion did not complete"
    probe = AvailabilityProbe(sandbox)
    _first_run_stops_in_the_contract(sandbox, probe)
    runtime_before = agentcore_control(sandbox).get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)

    sandbox.behaviour.elapse(STALL)  # hours later, before the next run
    assert gateways_by_name(sandbox)["my-gateway"]["status"] == "FAILED"
    with probe.watching():
        second = sandbox.run_rollout({})

    _assert_converged(sandbox, second, probe)
    assert sandbox.behaviour.mutations.count("DeleteGateway my-gateway") == 2  # asked again once it ended FAILED
    # The re-run only finished the contract: the runtime was not updated again.
    runtime = agentcore_control(sandbox).get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    assert runtime["agentRuntimeVersion"] == runtime_before["agentRuntimeVersion"]


@pytest.mark.parametrize(
    "completes_before",
    [
        "PlanFunction",  # between LoadConfig, which still lists it DELETING, and the plan's read of it
        "DeleteGatewayFunction",  # while the re-run contracts: the plan saw it DELETING
    ],
)
def test_a_deletion_slower_than_the_poll_budget_completes_during_the_next_run_which_converges(
    sandbox: Sandbox, completes_before: str
) -> None:
    sandbox.behaviour.faults.gateway_delete_seconds = STALL
    probe = AvailabilityProbe(sandbox)
    _first_run_stops_in_the_contract(sandbox, probe)

    with probe.watching(), _once_before(sandbox, completes_before, lambda: sandbox.behaviour.elapse(STALL)):
        second = sandbox.run_rollout({})

    assert second.get("error") != "GatewayCreateFailed", second.get("cause")
    _assert_converged(sandbox, second, probe)
    # The one deletion AWS was working on finished: it was never asked for again, nor refused.
    assert sandbox.behaviour.mutations.count("DeleteGateway my-gateway") == 1
    assert [r for r in sandbox.behaviour.refusals if r.startswith("DeleteGateway")] == []
