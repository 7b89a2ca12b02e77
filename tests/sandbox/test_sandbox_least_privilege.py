"""Least privilege in both directions: over every path the rollout can take (a rollback and a restore included), no
call any stack role makes is denied, and every permission the template grants is used by some path - or is on the
documented list of grants the sandbox cannot exercise (docs/security.md, "Least privilege")."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.behaviour import read_until
from sandbox.callers import redeploy_without_authorizer
from sandbox.codezip import build_codezip, upload_codezip
from sandbox.core import REPO_ROOT, Sandbox
from sandbox.iam import RoleUsage, format_usage
from sandbox.seed import CODE_BUCKET
from tests.workflow.helpers.queue import approval_request

PARAMETER = "/app/customersupport/agentcore/client_id"
BROKEN_AGENT = (REPO_ROOT / "tests" / "workflow" / "broken_agent" / "main.py").resolve()
XRAY_MANAGED = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
}
STATE_MACHINE_LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
# Granted but never exercisable offline, each with the reason (mirrored in docs/security.md):
# - AWSXrayWriteOnlyAccess (every function, the state machine): SAM's `Tracing: Active`; traces are sent by the
#   Lambda/Step Functions services and the X-Ray SDK, which the sandbox does not run.
# - log delivery (state machine role): CloudWatch Logs vended delivery is set up by Step Functions itself when the
#   state machine is created or updated with a LoggingConfiguration; moto does not call it.
# - workload identity (ProvisionGateway, Restore): CreateGateway creates the gateway's workload identity with the
#   caller's permissions on AWS (AgentCore Identity docs); moto's CreateGateway does not.
WORKLOAD_IDENTITY = {"bedrock-agentcore:CreateWorkloadIdentity", "bedrock-agentcore:GetWorkloadIdentity"}
# - dead letters (the drift watch schedule's role): Scheduler sends a check it could not start to the queue (KMS for
#   its key); the stack's role and state machine cannot be made to refuse StartExecution offline
#   (tests/workflow/test_drift.py dead-letters with a role that lacks StartExecution).
DRIFT_DEAD_LETTERS = {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}
NEVER_EXERCISED: dict[str, set[str]] = {
    "SecureRolloutStateMachineRole": STATE_MACHINE_LOG_DELIVERY,
    "DriftCheckScheduleRole": DRIFT_DEAD_LETTERS,
    "ProvisionGatewayFunctionRole": WORKLOAD_IDENTITY,
    "RestoreFunctionRole": WORKLOAD_IDENTITY,
}


def _unused(usage: RoleUsage) -> set[str]:
    inline = {grant.action_pattern for grant in usage.unused}
    managed = {grant.action_pattern for grant in usage.unused_managed} - XRAY_MANAGED
    return inline | managed


def _settled(read: Callable[[], dict[str, Any]], what: str) -> None:
    read_until(read, what, polls=600, between=lambda: time.sleep(0.05))  # the sandbox's clock: about 30 s


def _tag_old_gateway(sandbox: Sandbox) -> None:
    """The tutorial's gateway carries a cost-allocation tag and a WAF setting only UpdateGateway takes: the replacement
    must get them (TagResource and UpdateGateway after the create, ListTagsForResource when the report verifies it),
    and so must the old gateway when a restore re-creates it."""
    control = sandbox.client("bedrock-agentcore-control")
    old = control.get_gateway(gatewayIdentifier=sandbox.seeded.old_gateway_id)
    control.tag_resource(resourceArn=old["gatewayArn"], tags={"team": "customer-support"})
    keep = ("name", "roleArn", "protocolType", "authorizerType", "description", "protocolConfiguration")
    control.update_gateway(
        gatewayIdentifier=old["gatewayId"],
        **{k: old[k] for k in keep},
        wafConfiguration={"failureMode": "FAIL_OPEN"},
    )
    _settled(lambda: control.get_gateway(gatewayIdentifier=old["gatewayId"]), "old gateway with a WAF setting")


def _pin_code_version(sandbox: Sandbox) -> None:
    """A CodeZip pinned to an S3 object version (what a versioned artifact bucket gives): every full replace re-sends
    the versionId, so AgentCore reads it with s3:GetObjectVersion on the caller's behalf."""
    s3 = sandbox.client("s3")
    control = sandbox.client("bedrock-agentcore-control")
    runtime_id = sandbox.seeded.runtime_id
    runtime = control.get_agent_runtime(agentRuntimeId=runtime_id)
    code = runtime["agentRuntimeArtifact"]["codeConfiguration"]
    location = code["code"]["s3"]
    if CODE_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_bucket_versioning(Bucket=CODE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    try:
        body = s3.get_object(Bucket=CODE_BUCKET, Key=location["prefix"])["Body"].read()
    except s3.exceptions.NoSuchKey:
        body = b"PK\x05\x06" + b"\x00" * 18  # an empty zip: the IAM path only needs the object to exist
    version = s3.put_object(Bucket=CODE_BUCKET, Key=location["prefix"], Body=body)["VersionId"]
    location["versionId"] = version
    # A redeploy by another tool: the header allowlist and the gateway URL variable are not carried over, so the next
    # rollout runs both runtime updates with the pinned version.
    environment = {k: v for k, v in runtime["environmentVariables"].items() if not k.startswith("AGENTCORE_GATEWAY_")}
    control.update_agent_runtime(
        agentRuntimeId=runtime_id,
        agentRuntimeArtifact={"codeConfiguration": code},
        roleArn=runtime["roleArn"],
        networkConfiguration=runtime["networkConfiguration"],
        environmentVariables=environment,
        requestHeaderConfiguration={"requestHeaderAllowlist": ["X-Amzn-Bedrock-AgentCore-Runtime-Custom-Trace"]},
    )
    _settled(lambda: control.get_agent_runtime(agentRuntimeId=runtime_id), "pinned runtime")


def _drop_gateway_name(sandbox: Sandbox) -> None:
    """A redeploy by another tool drops AGENTCORE_GATEWAY_NAME (everything else as it was): the next rollout switches
    the runtime again, which already has its authorizer."""
    control = sandbox.client("bedrock-agentcore-control")
    runtime_id = sandbox.seeded.runtime_id
    runtime = control.get_agent_runtime(agentRuntimeId=runtime_id)
    environment = {k: v for k, v in runtime["environmentVariables"].items() if k != "AGENTCORE_GATEWAY_NAME"}
    keep = ("agentRuntimeArtifact", "roleArn", "networkConfiguration", "requestHeaderConfiguration")
    control.update_agent_runtime(
        agentRuntimeId=runtime_id, **{k: runtime[k] for k in keep}, environmentVariables=environment
    )
    _settled(lambda: control.get_agent_runtime(agentRuntimeId=runtime_id), "redeployed runtime")


def _publish_agent(sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    """A new agent package (`make agent-package` shape, with its manifest) in the artifact bucket: LoadConfig reads
    the manifest and the zip to verify them before the code switch."""
    zip_path = build_codezip(REPO_ROOT / "agent", tmp_path / "CustomerSupport.zip")
    return upload_codezip(sandbox.client("s3"), zip_path, CODE_BUCKET, "CustomerSupport/v2/code.zip")


def _drift_gateway_and_target(sandbox: Sandbox) -> None:
    """Someone narrows the secured gateway's scopes and edits the WarrantyCheck tool schema: the next rollout takes
    the update paths (UpdateGateway, UpdateGatewayTarget) instead of the create paths."""
    control = sandbox.client("bedrock-agentcore-control")
    secure = next(g for g in control.list_gateways()["items"] if g["name"] == "my-gateway-secure")
    gateway = control.get_gateway(gatewayIdentifier=secure["gatewayId"])
    authorizer = gateway["authorizerConfiguration"]
    authorizer["customJWTAuthorizer"]["allowedScopes"] = ["customersupport/other"]
    control.update_gateway(
        gatewayIdentifier=gateway["gatewayId"],
        name=gateway["name"],
        roleArn=gateway["roleArn"],
        protocolType=gateway["protocolType"],
        authorizerType="CUSTOM_JWT",
        authorizerConfiguration=authorizer,
    )
    _settled(lambda: control.get_gateway(gatewayIdentifier=gateway["gatewayId"]), "drifted gateway")
    summaries = control.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]
    warranty = next(t for t in summaries if t["name"] == "WarrantyCheck")
    target = control.get_gateway_target(gatewayIdentifier=gateway["gatewayId"], targetId=warranty["targetId"])
    configuration = target["targetConfiguration"]
    configuration["mcp"]["lambda"]["toolSchema"]["inlinePayload"][0]["description"] = "edited by hand"
    control.update_gateway_target(
        gatewayIdentifier=gateway["gatewayId"],
        targetId=warranty["targetId"],
        name="WarrantyCheck",
        targetConfiguration=configuration,
        credentialProviderConfigurations=target["credentialProviderConfigurations"],
    )
    _settled(
        lambda: control.get_gateway_target(gatewayIdentifier=gateway["gatewayId"], targetId=warranty["targetId"]),
        "drifted target",
    )


def _waits_for_the_lock(sandbox: Sandbox, execution_arn: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(
            e.get("stateEnteredEventDetails", {}).get("name") == "WaitForLock" for e in sandbox.history(execution_arn)
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} did not wait for the lock within {timeout} s")


@pytest.mark.slow
def test_every_grant_is_used_by_some_path_and_no_call_is_denied(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with Sandbox(poll_seconds=0, max_polls=30, enforce_iam=True) as sandbox:
        _tag_old_gateway(sandbox)
        # Create paths, tags carried, old gateway deleted - after an approval (sns:Publish to the encrypted topic),
        # while a second rollout waits for the lock (DescribeExecution of its owner), then finds nothing to do.
        approved = sandbox.start_rollout({"requireApproval": True})
        token = str(approval_request(sandbox, approved)["taskToken"])
        queued = sandbox.start_rollout({})
        _waits_for_the_lock(sandbox, queued)
        sandbox.client("stepfunctions").send_task_success(taskToken=token, output="{}")
        first = sandbox.wait(approved)
        outcomes = [first["status"], sandbox.wait(queued)["status"]]
        # The switch leaves out the authorizer the runtime has; were AWS to clear it then, the re-assert puts it back:
        # the only path that updates the runtime a second time (here with an unpinned CodeZip, below with a pinned one).
        _drop_gateway_name(sandbox)
        sandbox.behaviour.faults.omitted_authorizer_clears = True
        outcomes.append(sandbox.run_rollout({})["status"])
        sandbox.behaviour.faults.omitted_authorizer_clears = False  # the redeploy below keeps the authorizer
        _pin_code_version(sandbox)
        _drift_gateway_and_target(sandbox)
        artifact = _publish_agent(sandbox, tmp_path)
        sandbox.behaviour.faults.omitted_authorizer_clears = True
        outcomes.append(sandbox.run_rollout({"agentArtifact": artifact})["status"])  # update paths + code switch
        sandbox.behaviour.faults.omitted_authorizer_clears = False
        outcomes.append(sandbox.run_rollout({})["status"])  # no-op re-run
        # Rollback: the switch (pinned code) goes live, the agent fails the smoke test, the runtime is put back.
        _drop_gateway_name(sandbox)
        working_agent = sandbox.agents.agent_entry
        sandbox.agents.agent_entry = BROKEN_AGENT
        rolled_back = sandbox.run_rollout({})
        sandbox.agents.agent_entry = working_agent
        outcomes.append(f"{rolled_back['status']} {json.loads(rolled_back['cause']).get('rolledBack')}")
        # Restore of the first backup: the open gateway (tags, settings, targets) and the unpinned code come back.
        key = json.loads(first["output"])["backup"]["key"]
        outcomes.append(sandbox.run_rollout({"restore": key})["status"])
        client_id = sandbox.seeded.client_id
        sandbox.client("ssm").put_parameter(Name=PARAMETER, Value=client_id, Type="String", Overwrite=True)
        outcomes += [sandbox.wait(arn)["status"] for arn in sandbox.events.started_executions]  # EventBridge role
        drift_check = sandbox.fire_schedule().execution_arn  # the drift watch, as the schedule's role
        assert drift_check is not None
        outcomes.append(sandbox.wait(drift_check)["status"])
        # The stack's other two rules, each delivering as its own role: an out-of-band redeploy seen through CloudTrail
        # (a drift check that repairs), then a stack update once the stack-deploy trigger is on (a rollout).
        already = len(sandbox.events.started_executions)
        sandbox.cloudtrail.trail = True
        redeploy_without_authorizer(sandbox)
        sandbox.cloudtrail.trail = False
        # The sandbox deploys with the stack-deploy rule DISABLED and updates in place only (moto does not switch a
        # rule's State on update): the operator enables it, as TriggerOnStackDeploy=Enabled would, then deploys again.
        events = sandbox.client("events")
        stack_rule = next(r["Name"] for r in events.list_rules()["Rules"] if "StackDeployed" in r["Name"])
        events.enable_rule(Name=stack_rule)
        sandbox.update_stack(LogRetentionDays="60")
        outcomes += [sandbox.wait(arn)["status"] for arn in sandbox.events.started_executions[already:]]
        usage = sandbox.iam_usage()
    with capsys.disabled():
        print(f"\nleast privilege over {len(outcomes)} executions\n{format_usage(usage)}")

    assert outcomes == ["SUCCEEDED"] * 5 + ["FAILED True"] + ["SUCCEEDED"] * 5
    denied = {u.label: [(r.action, r.resource) for r in u.denied] for u in usage if u.denied}
    assert denied == {}
    unused = {u.label: _unused(u) for u in usage if _unused(u)}
    assert unused == NEVER_EXERCISED, "granted but unused: remove the grant or document why it cannot be exercised"
