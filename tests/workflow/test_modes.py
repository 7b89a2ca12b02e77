"""Dry run, same-name replacement and EventBridge-triggered runs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sandbox.core import REPO_ROOT, Sandbox
from sandbox.seed import publish_agent_code


def test_dry_run_returns_the_plan_and_changes_nothing(sandbox: Sandbox) -> None:
    before = len(sandbox.behaviour.mutations)
    execution = sandbox.wait(sandbox.start_rollout({"dryRun": True}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    report = json.loads(execution["output"])
    assert report["dryRun"] is True
    assert report["changed"] is False
    assert report["plannedChanges"] is True
    assert "create gateway my-gateway-secure with CUSTOM_JWT authorizer" in report["actions"]
    assert "delete old gateway my-gateway and its targets" in report["actions"]
    assert sandbox.behaviour.mutations[before:] == []


def test_same_gateway_name_deletes_first_then_recreates() -> None:
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"GatewayName": "my-gateway"}) as sandbox:
        _same_gateway_name_deletes_first_then_recreates(sandbox)


def _same_gateway_name_deletes_first_then_recreates(sandbox: Sandbox) -> None:
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    # Its targets' deletion was polled to the end (none asked twice), and only then the gateway deleted.
    assert sandbox.behaviour.refusals == []
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in sandbox.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    # The backup comes first: the open gateway it deletes can be restored from it.
    assert states.index("Backup") < states.index("DeleteConflictingTargets") < states.index("CheckConflictTargets")
    backup = json.loads(execution["output"])["backup"]
    body = sandbox.client("s3").get_object(Bucket=backup["bucket"], Key=backup["key"])["Body"].read()
    (open_gateway,) = json.loads(body)["gateways"]
    assert (open_gateway["gateway"]["name"], open_gateway["gateway"]["authorizerType"]) == ("my-gateway", "NONE")
    assert states.index("CheckConflictTargets") < states.index("DeleteConflictingGateway")
    control = sandbox.client("bedrock-agentcore-control")
    gateways = control.list_gateways()["items"]
    assert [(g["name"], g["authorizerType"]) for g in gateways] == [("my-gateway", "CUSTOM_JWT")]
    assert gateways[0]["gatewayId"] != sandbox.seeded.old_gateway_id
    mutations = [m.split()[0] for m in sandbox.behaviour.mutations]
    # Deleting the NONE gateway happened before creating its JWT replacement.
    last_delete = max(i for i, m in enumerate(mutations) if m == "DeleteGateway")
    last_create = max(i for i, m in enumerate(mutations) if m == "CreateGateway")
    assert last_delete < last_create
    targets = control.list_gateway_targets(gatewayIdentifier=gateways[0]["gatewayId"])["items"]
    assert sorted(t["name"] for t in targets) == ["ShippingEstimate", "WarrantyCheck"]
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    new_url = control.get_gateway(gatewayIdentifier=gateways[0]["gatewayId"])["gatewayUrl"]
    assert runtime["environmentVariables"]["AGENTCORE_GATEWAY_MY_GATEWAY_URL"] == new_url


def test_parameter_change_starts_a_rollout_through_eventbridge(sandbox: Sandbox) -> None:
    ssm = sandbox.client("ssm")
    name = "/app/customersupport/agentcore/cognito_auth_scope"
    value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    assert len(sandbox.events.started_executions) == 1
    execution = sandbox.wait(sandbox.events.started_executions[0])
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    trigger = json.loads(execution["input"])["trigger"]
    assert (trigger["source"], trigger["parameter"], trigger["operation"]) == ("aws.ssm", name, "Update")
    report = json.loads(execution["output"])
    assert report["trigger"]["parameter"] == name
    assert report["changed"] is True
    # Parameters outside the prefix do not trigger anything.
    ssm.put_parameter(Name="/app/other/setting", Value="x", Type="String")
    assert len(sandbox.events.started_executions) == 1


ARTIFACT_BUCKET = "customersupport-agent-code"


@pytest.fixture
def with_artifact_bucket() -> Iterator[Sandbox]:
    overrides = {"ArtifactBucket": ARTIFACT_BUCKET}
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides=overrides) as sandbox:
        yield sandbox


def test_agent_artifact_switches_code_in_the_same_update_as_the_gateway_url(with_artifact_bucket: Sandbox) -> None:
    sandbox = with_artifact_bucket
    artifact = publish_agent_code(
        sandbox.client("s3"), REPO_ROOT / "agent", ARTIFACT_BUCKET, "CustomerSupport/v2/CustomerSupport.zip"
    )
    execution = sandbox.wait(sandbox.start_rollout({"agentArtifact": artifact}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    runtime = sandbox.client("bedrock-agentcore-control").get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    code = runtime["agentRuntimeArtifact"]["codeConfiguration"]
    assert code["code"] == {"s3": {"bucket": artifact["s3Bucket"], "prefix": artifact["s3Key"]}}
    assert code["runtime"] == "PYTHON_3_13"
    assert code["entryPoint"] == ["main.py"]
    runtime_updates = [m for m in sandbox.behaviour.mutations if m.startswith("UpdateAgentRuntime")]
    # ONE update secures the runtime, switches the code and points it at the gateway together.
    assert len(runtime_updates) == 1
    report = json.loads(execution["output"])
    assert (
        "switch runtime code to s3://customersupport-agent-code/CustomerSupport/v2/CustomerSupport.zip "
        "(PYTHON_3_13, entryPoint ['main.py'])" in report["actions"]
    )
    # Same artifact again: nothing to do.
    again = sandbox.wait(sandbox.start_rollout({"agentArtifact": artifact}))
    assert json.loads(again["output"])["changed"] is False


def test_agent_artifact_from_another_bucket_is_rejected_before_any_change(with_artifact_bucket: Sandbox) -> None:
    sandbox = with_artifact_bucket
    before = len(sandbox.behaviour.mutations)
    for bucket in ("Bad_Bucket", "someone-elses-bucket"):
        execution = sandbox.wait(sandbox.start_rollout({"agentArtifact": {"s3Bucket": bucket, "s3Key": "a.zip"}}))
        assert execution["status"] == "FAILED"
        assert execution["error"] == "InvalidExecutionInput"
        message = json.loads(execution["cause"])["errorMessage"]
        assert "agentArtifact.s3Bucket" in message
        assert repr(ARTIFACT_BUCKET) in message
    assert sandbox.behaviour.mutations[before:] == []


def test_concurrent_rollouts_run_one_after_the_other(sandbox: Sandbox) -> None:
    # Two Parameter Store changes in a row start two executions through EventBridge.
    ssm = sandbox.client("ssm")
    for name in ("cognito_auth_scope", "client_id"):
        parameter = f"/app/customersupport/agentcore/{name}"
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)
    arns = sandbox.events.started_executions
    assert len(arns) == 2
    executions = {arn: sandbox.wait(arn, timeout=180) for arn in arns}
    assert [e["status"] for e in executions.values()] == ["SUCCEEDED", "SUCCEEDED"], [
        e.get("cause") for e in executions.values()
    ]

    def waited_for_the_lock(arn: str) -> bool:
        return any(
            e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForLock"
            for e in sandbox.history(arn)
        )

    # Whichever reached the lock second (threads race; start order does not decide it) waited instead of racing...
    waiters = [arn for arn in arns if waited_for_the_lock(arn)]
    assert len(waiters) == 1, waiters
    (waiter,) = waiters
    (holder,) = [arn for arn in arns if arn != waiter]
    assert executions[waiter]["startDate"] <= executions[holder]["stopDate"]
    # ...then found nothing left to do.
    assert json.loads(executions[waiter]["output"])["changed"] is False
    assert json.loads(executions[holder]["output"])["changed"] is True
    assert [m for m in sandbox.behaviour.mutations if m.startswith("CreateGateway my-gateway-secure")] == [
        "CreateGateway my-gateway-secure"
    ]


def test_rollout_holds_even_if_an_update_clears_the_omitted_authorizer(sandbox: Sandbox) -> None:
    # Whether UpdateAgentRuntime clears an authorizer the request leaves out is unconfirmed; the rollout must end
    # secured either way. The switch leaves out the authorizer of a runtime that already has it, so it is re-asserted
    # after the switch is live.
    control = sandbox.client("bedrock-agentcore-control")
    current = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    scope = sandbox.client("ssm").get_parameter(Name="/app/customersupport/agentcore/cognito_auth_scope")
    desired = {
        "customJWTAuthorizer": {
            "discoveryUrl": sandbox.cognito.discovery_url(sandbox.seeded.pool_id),
            "allowedClients": [sandbox.seeded.client_id],
            "allowedScopes": [scope["Parameter"]["Value"]],
        }
    }
    with sandbox.behaviour.instantly():  # secured by hand before this rollout, not yet pointed at the new gateway
        control.update_agent_runtime(
            **{k: current[k] for k in ("agentRuntimeId", "agentRuntimeArtifact", "roleArn", "networkConfiguration")},
            environmentVariables=current["environmentVariables"],
            authorizerConfiguration=desired,
        )
    before = len(sandbox.behaviour.mutations)
    sandbox.behaviour.faults.omitted_authorizer_clears = True
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    assert runtime["authorizerConfiguration"] == desired
    assert json.loads(execution["output"])["smoke"]["withoutToken"]["status"] == 401
    updates = [m for m in sandbox.behaviour.mutations[before:] if m.startswith("UpdateAgentRuntime")]
    assert len(updates) == 2  # the switch (cleared it), the re-assert
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in sandbox.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    assert states.index("TrackReassert") < states.index("SmokeTest")


def test_reassert_is_a_no_op_when_the_authorizer_survives(sandbox: Sandbox) -> None:
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    updates = [m for m in sandbox.behaviour.mutations if m.startswith("UpdateAgentRuntime")]
    assert len(updates) == 1  # the switch; nothing re-asserted
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in sandbox.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    assert "ReassertRuntimeSecurity" in states
    assert "TrackReassert" not in states
