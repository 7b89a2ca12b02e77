"""The rollout on a real AWS account: dry run, rollout, no-op re-run, checked like the offline workflow tests.

Opt-in only (see conftest / helpers.gate): without AGENTCORE_ROLLOUT_AWS_TESTS and real credentials every test here is
skipped with a message saying how to run it. The checks are tests/rollout_checks.py, which
tests/workflow/test_rollout_checks.py runs against the sandbox.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid

import boto3
import httpx

from tests.aws.helpers.gate import Account
from tests.aws.helpers.resources import Clients, StartingPoint
from tests.aws.helpers.stack import DryRun, Execution, ReRun
from tests.rollout_checks import (
    Expected,
    dry_run_problems,
    end_state_problems,
    find_gateway,
    list_targets,
    mcp_initialize,
    no_op_problems,
    rollout_report_problems,
)

MCP_INITIALIZE = mcp_initialize("agentcore-secure-rollout-test")


def _problems(problems: list[str]) -> str:
    return "\n  " + "\n  ".join(problems)


def test_starting_point_is_the_tutorials_open_setup(clients: Clients, expected: Expected) -> None:
    """If this fails, the run's setup is wrong, not the rollout."""
    assert expected.runtime_before.get("authorizerConfiguration") is None
    assert expected.runtime_before["status"] == "READY"
    assert expected.old_gateway_before["authorizerType"] == "NONE"
    targets = list_targets(clients.control, expected.old_gateway_before["gatewayId"])
    assert [t["name"] for t in targets] == [expected.warranty_target]
    assert find_gateway(clients.control, expected.gateway_name) is None


def test_dry_run_plans_the_rollout_and_changes_nothing(dry_run: DryRun, expected: Expected) -> None:
    problems = dry_run_problems(dry_run.execution.report(), expected) + dry_run.untouched_problems
    assert not problems, _problems(problems)


def test_rollout_secures_the_runtime_and_replaces_the_gateway(
    rollout: Execution, clients: Clients, expected: Expected
) -> None:
    rollout.report()
    problems = end_state_problems(clients.control, expected)
    assert not problems, _problems(problems)


def test_rollout_report_shows_every_change_and_the_smoke_results(rollout: Execution, expected: Expected) -> None:
    problems = rollout_report_problems(rollout.report(), expected)
    assert not problems, _problems(problems)


def test_secured_runtime_and_gateway_refuse_anonymous_callers(
    rollout: Execution, clients: Clients, expected: Expected, starting_point: StartingPoint, aws_account: Account
) -> None:
    """Seen from outside, not from the rollout's own report: no token, no answer (401)."""
    rollout.report()
    endpoint = boto3.session.Session().client("bedrock-agentcore", region_name=aws_account.region).meta.endpoint_url
    runtime_url = (
        f"{endpoint}/runtimes/{urllib.parse.quote(starting_point.runtime_arn, safe='')}/invocations?qualifier=DEFAULT"
    )
    gateway = find_gateway(clients.control, expected.gateway_name)
    assert gateway is not None
    gateway_url = clients.control.get_gateway(gatewayIdentifier=gateway["gatewayId"])["gatewayUrl"]
    with httpx.Client(timeout=60.0) as http:
        runtime_answer = http.post(
            runtime_url,
            json={"prompt": "What's the return policy for electronics?"},
            headers={
                "Accept": "text/event-stream, application/json",
                "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": f"acsr-it-anonymous-{uuid.uuid4()}",
            },
        )
        gateway_answer = http.post(
            gateway_url, json=MCP_INITIALIZE, headers={"Accept": "application/json, text/event-stream"}
        )
    assert runtime_answer.status_code == 401, runtime_answer.text[:300]
    assert runtime_answer.headers.get("WWW-Authenticate")
    assert gateway_answer.status_code == 401, gateway_answer.text[:300]


def test_rerun_changes_nothing_and_still_verifies(rerun: ReRun, expected: Expected) -> None:
    report = rerun.execution.report()
    problems = no_op_problems(report, rerun.states, rerun.before, rerun.after, expected)
    assert not problems, _problems(problems) + f"\nreport: {json.dumps(report)[:2000]}"
