"""The real-account suite's checks (tests/rollout_checks.py) hold on the offline rollout, and catch a wrong one.

tests/aws runs these same checks against a real account, which cannot be done here; this proves they agree with
the sandbox's dry run, rollout and no-op re-run (so a failure on AWS is AWS's difference, not a wrong check).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.rollout_checks import (
    Expected,
    dry_run_problems,
    end_state_problems,
    no_op_problems,
    rollout_report_problems,
    snapshot,
    states_entered,
    untouched_problems,
)


@dataclass(frozen=True)
class Runs:
    sandbox: Sandbox
    control: Any
    expected: Expected
    dry_run: dict[str, Any]
    untouched: list[str]
    rollout: dict[str, Any]
    rerun: dict[str, Any]
    rerun_states: list[str]
    before_rerun: dict[str, Any]
    after_rerun: dict[str, Any]


def _report(execution: dict[str, Any]) -> dict[str, Any]:
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    report: dict[str, Any] = json.loads(execution["output"])
    return report


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    """The real-account suite's sequence, offline: dry run, rollout, re-run (snapshots around the re-run)."""
    with Sandbox(poll_seconds=0, max_polls=10) as sandbox:
        control = sandbox.client("bedrock-agentcore-control")
        seeded = sandbox.seeded
        expected = Expected(
            runtime_id=seeded.runtime_id,
            client_id=seeded.client_id,
            discovery_url=f"{sandbox.cognito.base_url}/{seeded.pool_id}/.well-known/openid-configuration",
            old_gateway_name="my-gateway",
            gateway_name="my-gateway-secure",
            warranty_target="WarrantyCheck",
            warranty_lambda_arn=seeded.warranty_lambda_arn,
            gateway_url_env_var="AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL",
            runtime_before=control.get_agent_runtime(agentRuntimeId=seeded.runtime_id),
            old_gateway_before=control.get_gateway(gatewayIdentifier=seeded.old_gateway_id),
            target_names_before=("ShippingEstimate", "WarrantyCheck"),
            exact_answers=True,
        )
        dry_run = sandbox.run_rollout({"dryRun": True})
        untouched = untouched_problems(control, expected)
        rollout = sandbox.run_rollout({})
        before = snapshot(control, expected)
        rerun = sandbox.run_rollout({})
        after = snapshot(control, expected)
        yield Runs(
            sandbox,
            control,
            expected,
            dry_run,
            untouched,
            rollout,
            rerun,
            states_entered(sandbox.history(rerun["executionArn"])),
            before,
            after,
        )


def test_dry_run_checks_pass_offline(runs: Runs) -> None:
    assert dry_run_problems(_report(runs.dry_run), runs.expected) == []
    assert runs.untouched == []


def test_rollout_checks_pass_offline(runs: Runs) -> None:
    assert rollout_report_problems(_report(runs.rollout), runs.expected) == []
    assert end_state_problems(runs.control, runs.expected) == []


def test_no_op_checks_pass_offline(runs: Runs) -> None:
    report = _report(runs.rerun)
    assert no_op_problems(report, runs.rerun_states, runs.before_rerun, runs.after_rerun, runs.expected) == []


def test_the_checks_catch_a_wrong_end_state(runs: Runs) -> None:
    """Not vacuous: the same reads against a desired state the rollout did not produce are problems."""
    other_client = replace(runs.expected, client_id="someoneelse")
    assert any("allowedClients" in p for p in end_state_problems(runs.control, other_client))
    after_dry_run = untouched_problems(runs.control, runs.expected)  # the rollout did change everything
    assert "runtime authorizer changed" in after_dry_run
    assert f"old gateway {runs.expected.old_gateway_name} is gone" in after_dry_run
    rollout_report = _report(runs.rollout)
    assert no_op_problems(
        rollout_report,
        ["Backup", "SmokeTest", "AfterVerify", "Report", "ReleaseLock", "RolloutSucceeded"],
        {},
        {},
        runs.expected,
    )
    broken_smoke = {**rollout_report, "smoke": {**rollout_report["smoke"], "withoutToken": {"status": 200}}}
    assert any("without a token" in p for p in rollout_report_problems(broken_smoke, runs.expected))
    assert dry_run_problems(rollout_report, runs.expected)
