"""What starts a rollout besides an operator: this stack's deploys (CloudFormation "Stack Status Change") and
out-of-band AgentCore writes ("AWS API Call via CloudTrail"), each delivered through the rule patterns as deployed
(sandbox/events.py evaluates them; nothing is hard-wired), and coalesced with Parameter Store changes by the queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.callers import ask, redeploy_without_authorizer
from sandbox.cloudtrail import EVENTBRIDGE_SOURCE, HIDDEN
from sandbox.core import Sandbox
from tests.workflow.helpers.control import warranty_target_lambda
from tests.workflow.helpers.queue import APPROVAL_KIND, approval_request, eventually, states, warranty_functions

PREFIX = "/app/customersupport/agentcore"
WARRANTY_PARAMETER = f"{PREFIX}/warranty_check_lambda_arn"
OUT_OF_BAND_RULE = "AgentCoreChangedOutOfBand"
AGENTCORE_WRITER_ROLES = (
    "SecureRuntimeFunctionRole",
    "SwitchRuntimeFunctionRole",
    "RestoreFunctionRole",
    "ProvisionGatewayFunctionRole",
    "ProvisionTargetsFunctionRole",
    "DeleteGatewayFunctionRole",
)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """An account whose CloudTrail trail logs management events: AgentCore writes reach EventBridge."""
    with Sandbox(poll_seconds=0, max_polls=10, trail=True) as instance:
        yield instance


@pytest.fixture
def deploy_triggered() -> Iterator[Sandbox]:
    """The same, deployed with the stack-deploy rule on (the template's default)."""
    overrides = {"TriggerOnStackDeploy": "Enabled"}
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides=overrides, trail=True) as instance:
        yield instance


def _report(description: dict[str, Any]) -> dict[str, Any]:
    assert description["status"] == "SUCCEEDED", (description.get("error"), description.get("cause"))
    report: dict[str, Any] = json.loads(description["output"])
    return report


def _input(sandbox: Sandbox, execution_arn: str) -> dict[str, Any]:
    described = sandbox.client("stepfunctions").describe_execution(executionArn=execution_arn)
    parsed: dict[str, Any] = json.loads(described["input"])
    return parsed


def _writes_by_stack_roles(sandbox: Sandbox) -> list[str]:
    roles = {logical: arn for arn, logical in sandbox.stack_roles().items()}
    return [call for name in AGENTCORE_WRITER_ROLES for call in sandbox.cloudtrail.calls(roles[name])]


def _runtime_authorizer(sandbox: Sandbox) -> Any:
    control = sandbox.client("bedrock-agentcore-control")
    return control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id).get("authorizerConfiguration")


def test_the_deploy_and_each_stack_update_start_exactly_one_rollout(deploy_triggered: Sandbox) -> None:
    sandbox = deploy_triggered
    # sam deploy: CREATE_COMPLETE reached the stack's own rule and started the first rollout, which secures the agent.
    created = eventually(lambda: list(sandbox.events.started_executions), "a rollout started by CREATE_COMPLETE")
    assert len(created) == 1
    first = _report(sandbox.wait(created[0], timeout=300))
    assert first["changed"] is True
    assert first["trigger"]["status"] == "CREATE_COMPLETE"

    sandbox.update_stack(LogRetentionDays="60")
    started = list(sandbox.events.started_executions)
    assert len(started) == 2  # UPDATE_IN_PROGRESS and UPDATE_COMPLETE_CLEANUP_IN_PROGRESS start nothing
    execution_input = _input(sandbox, started[1])
    assert execution_input == {
        "trigger": {
            "source": "aws.cloudformation",
            "stack": sandbox.deployment.stack_id,
            "status": "UPDATE_COMPLETE",
            "time": execution_input["trigger"]["time"],
        }
    }
    second = _report(sandbox.wait(started[1], timeout=300))
    assert second["trigger"] == execution_input["trigger"]
    assert second["triggeredBy"].startswith(f"stack deploy: {sandbox.stack_name} reached UPDATE_COMPLETE at ")
    assert second["changed"] is False  # already converged
    # The first rollout's own AgentCore writes (CloudTrail logged them) started nothing.
    assert {"UpdateAgentRuntime", "CreateGateway", "CreateGatewayTarget", "DeleteGateway"} <= set(
        _writes_by_stack_roles(sandbox)
    )
    assert len(sandbox.events.started_executions) == 2


def test_with_the_stack_trigger_disabled_a_deploy_starts_nothing(sandbox: Sandbox) -> None:
    """TriggerOnStackDeploy=Disabled leaves the rule DISABLED: a disabled rule delivers nothing (moto's would)."""
    sandbox.update_stack(LogRetentionDays="60")
    rule = next(r for r in sandbox.client("events").list_rules()["Rules"] if "StackDeployed" in r["Name"])
    assert rule["State"] == "DISABLED"
    assert sandbox.events.started_executions == []


def test_the_workflows_own_updates_start_nothing(sandbox: Sandbox) -> None:
    report = _report(sandbox.run_rollout({}))
    assert report["changed"] is True
    writes = _writes_by_stack_roles(sandbox)
    assert {"UpdateAgentRuntime", "CreateGateway", "CreateGatewayTarget", "DeleteGateway"} <= set(writes)
    # Every write was offered to the rule and none matched: 0 self-triggered executions over a full rollout.
    assert sandbox.events.started_executions == []
    assert [rule for rule, _ in sandbox.events.delivered if OUT_OF_BAND_RULE in rule] == []


def test_an_out_of_band_redeploy_that_drops_the_authorizer_is_repaired_in_one_rollout(sandbox: Sandbox) -> None:
    assert _report(sandbox.run_rollout({}))["changed"] is True
    assert _runtime_authorizer(sandbox) is not None

    # Whether AWS clears an omitted authorizer is unconfirmed (docs/security.md): this is the account where it does.
    sandbox.behaviour.faults.omitted_authorizer_clears = True
    redeploy_without_authorizer(sandbox, session_name="agentcore-deploy")
    assert _runtime_authorizer(sandbox) is None  # AgentCore cleared it: the agent is open again
    started = list(sandbox.events.started_executions)
    assert len(started) == 1
    principal = f"arn:aws:sts::{sandbox.account_id}:assumed-role/DeveloperRole/agentcore-deploy"
    execution_input = _input(sandbox, started[0])
    assert execution_input["checkDrift"] is True
    assert execution_input["autoRemediate"] is True
    assert {k: v for k, v in execution_input["trigger"].items() if k != "time"} == {
        "source": EVENTBRIDGE_SOURCE,
        "by": principal,
        "call": "UpdateAgentRuntime",
    }

    report = _report(sandbox.wait(started[0], timeout=300))
    assert report["changed"] is True
    assert report["trigger"]["by"] == principal
    cause = report["drift"]["cause"]
    assert cause.startswith("runtime authorizer removed, runtime Authorization header allowlist removed")
    assert report["drift"]["cause"].endswith(f" by {principal} via UpdateAgentRuntime")
    assert report["runtime"]["authorizer"]["after"]["customJWTAuthorizer"]["allowedClients"]
    assert _runtime_authorizer(sandbox) is not None
    status, _, _ = ask(sandbox, "Hi", "a" * 40, None, unsigned=True)
    assert status == 401
    # The notifications carry them too: the drift notice (before the repair) and the SUCCEEDED status message.
    messages = sandbox.notifications()
    drift_notices = [m for m in messages if m.get("kind") == "driftDetected"]
    assert len(drift_notices) == 1
    assert f"UpdateAgentRuntime by {principal}" in drift_notices[0]["triggeredBy"]
    assert "runtime authorizer removed: runtime CustomerSupport accepts calls without a JWT" in drift_notices[0]["diff"]
    succeeded = [m for m in messages if m.get("kind") == "rolloutStatus" and m.get("status") == "SUCCEEDED"]
    summaries = [json.loads(m["output"])["summary"]["text"] for m in succeeded if m.get("output")]
    assert any(f"by {principal} via UpdateAgentRuntime" in text for text in summaries), summaries
    # The repair's own writes started nothing more.
    assert len(sandbox.events.started_executions) == 1


def test_without_a_trail_no_agentcore_call_reaches_eventbridge() -> None:
    """EventBridge gets "AWS API Call via CloudTrail" events only while a trail logs management events."""
    with Sandbox(poll_seconds=0, max_polls=10) as sandbox:
        redeploy_without_authorizer(sandbox)
        assert sandbox.cloudtrail.calls() == ["UpdateAgentRuntime"]  # in the event history
        assert sandbox.events.started_executions == []


def test_the_cloudtrail_rule_matches_outsiders_only_and_never_copies_secrets(sandbox: Sandbox) -> None:
    """The rule as deployed, against CloudTrail's records: an IAM user (no session issuer) and an outside role match;
    a refused call changed nothing and does not; sensitive request members are hidden as CloudTrail hides them."""
    control = sandbox.client("bedrock-agentcore-control")  # the harness: the IAM user sandbox-harness
    gateway = sandbox.seeded.old_gateway_id
    before = len(sandbox.events.started_executions)
    with pytest.raises(control.exceptions.ClientError):
        control.update_gateway(
            gatewayIdentifier="nosuch-gateway-0000000000",
            name="x",
            roleArn="r",
            protocolType="MCP",
            authorizerType="NONE",
        )
    assert len(sandbox.events.started_executions) == before
    failed = sandbox.cloudtrail.records[-1]
    assert failed["errorCode"]
    assert failed["responseElements"] is None

    current = control.get_gateway(gatewayIdentifier=gateway)
    control.update_gateway(
        gatewayIdentifier=gateway,
        name=current["name"],
        roleArn=current["roleArn"],
        protocolType=current["protocolType"],
        authorizerType=current["authorizerType"],
        description="edited in the console",
    )
    record = sandbox.cloudtrail.records[-1]
    assert record["userIdentity"]["type"] == "IAMUser"
    assert record["requestParameters"]["description"] == HIDDEN
    assert "edited in the console" not in json.dumps(sandbox.cloudtrail.records)
    started = list(sandbox.events.started_executions)
    assert len(started) == before + 1
    assert _input(sandbox, started[-1])["trigger"]["call"] == "UpdateGateway"
    sandbox.wait(started[-1], timeout=300)


def test_a_burst_of_triggers_of_every_kind_is_coalesced() -> None:
    """While one rollout holds the lock (the deploy's, waiting for approval: RequireApproval=eventbridge), a Parameter
    Store change, a stack update, an out-of-band redeploy and another parameter change arrive: one rollout runs next."""
    overrides = {"TriggerOnStackDeploy": "Enabled", "RequireApproval": "eventbridge"}
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides=overrides, trail=True) as sandbox:
        owner = eventually(lambda: list(sandbox.events.started_executions), "a rollout started by CREATE_COMPLETE")[0]
        owner_token = str(approval_request(sandbox, owner)["taskToken"])
        arns = warranty_functions(sandbox, 2)
        ssm = sandbox.client("ssm")

        ssm.put_parameter(Name=WARRANTY_PARAMETER, Value=arns[0], Type="String", Overwrite=True)
        sandbox.update_stack(LogRetentionDays="60")
        redeploy_without_authorizer(sandbox)
        ssm.put_parameter(Name=WARRANTY_PARAMETER, Value=arns[1], Type="String", Overwrite=True)
        burst = list(sandbox.events.started_executions)[1:]
        sources = [_input(sandbox, arn)["trigger"]["source"] for arn in burst]
        assert sources == ["aws.ssm", "aws.cloudformation", EVENTBRIDGE_SOURCE, "aws.ssm"]

        stepfunctions = sandbox.client("stepfunctions")
        stepfunctions.send_task_success(taskToken=owner_token, output="{}")
        _report(sandbox.wait(owner, timeout=300))

        def next_request() -> dict[str, Any] | None:
            return sandbox.take_notification(lambda m: m.get("kind") == APPROVAL_KIND and m.get("execution") in burst)

        request = eventually(next_request, "the next rollout in line asks for approval")
        stepfunctions.send_task_success(taskToken=str(request["taskToken"]), output="{}")
        executions = [sandbox.wait(arn, timeout=300) for arn in burst]
        assert [e["status"] for e in executions] == ["SUCCEEDED"] * 4, [e.get("cause") for e in executions]
        executed = [e for e in executions if "Plan" in states(sandbox, e["executionArn"])]
        # The queue's contract (tests/workflow/test_queue.py): at most two of a burst run, the rest coalesce into them.
        assert 1 <= len(executed) <= 2
        assert request["execution"] in [e["executionArn"] for e in executed]
        coalesced = [json.loads(e["output"]) for e in executions if e not in executed]
        assert [c["status"] for c in coalesced] == ["coalesced"] * (4 - len(executed))
        last = _report(executed[-1])
        # The last to run verified its rollout - or, a drift check after the rollout that already repaired, found none.
        assert last.get("verified") is True or (last.get("drift") or {}).get("detected") is False, last
        assert _runtime_authorizer(sandbox) is not None
        assert warranty_target_lambda(sandbox) == arns[1]  # nothing dropped: the last value written
        # Nothing the two rollouts wrote started another one.
        assert len(sandbox.events.started_executions) == 5
