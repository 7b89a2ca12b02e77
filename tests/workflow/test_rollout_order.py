"""The order of a rollout: backup -> expand -> switch (one runtime update) -> verify -> contract -> report, and a
caller is served by a gateway at every step of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.availability import AvailabilityProbe
from sandbox.core import Sandbox
from tests.workflow.helpers.control import give_runtime_an_authorizer
from tests.workflow.helpers.leaks import assert_no_credentials

PHASES = ["queue", "load", "backup", "expand", "switch", "verify", "contract", "report"]


def _states(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in sandbox.history(execution_arn) if "stateEnteredEventDetails" in e
    ]


def _backup(sandbox: Sandbox, report: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    body = sandbox.client("s3").get_object(Bucket=report["backup"]["bucket"], Key=report["backup"]["key"])["Body"]
    raw = body.read()
    return raw, json.loads(raw)


def test_the_old_gateway_serves_until_the_new_path_is_verified(sandbox: Sandbox) -> None:
    probe = AvailabilityProbe(sandbox, ask_agent=True)
    with probe.watching():
        execution = sandbox.run_rollout({})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")

    # At every step a caller's warranty question was answered through a READY gateway: never one that is missing.
    assert probe.observations
    assert probe.outages() == []
    assert probe.failed_warranty_calls() == []  # before the switch asked without a token, as the open runtime's callers
    steps = [o.function for o in probe.observations]
    smoke = steps.index("SmokeTestFunction")
    # The old gateway is READY until the smoke test has passed; only the contract phase deletes it.
    assert {o.old_gateway for o in probe.observations[: smoke + 1]} == {"READY"}
    assert steps.index("DeleteGatewayFunction") > smoke
    # The agent used the old gateway until the switch went live, then the new one.
    used = [o.gateway for o in probe.observations]
    switched = used.index("my-gateway-secure")
    assert set(used[:switched]) == {"my-gateway"}
    assert set(used[switched:]) == {"my-gateway-secure"}
    assert steps.index("SwitchRuntimeFunction") < switched <= smoke

    # The runtime was updated exactly once, after everything it points at was READY.
    mutations = sandbox.behaviour.mutations
    updates = [i for i, m in enumerate(mutations) if m.startswith("UpdateAgentRuntime")]
    assert len(updates) == 1
    created = [i for i, m in enumerate(mutations) if m.startswith(("CreateGateway ", "CreateGatewayTarget"))]
    deleted = [i for i, m in enumerate(mutations) if m.startswith(("DeleteGateway", "DeleteGatewayTarget"))]
    assert max(created) < updates[0] < min(deleted)

    states = _states(sandbox, execution["executionArn"])
    order = ["Backup", "ProvisionGateway", "ProvisionTargets", "SwitchRuntime", "SmokeTest", "DeleteOldTargets"]
    assert [states.index(s) for s in order] == sorted(states.index(s) for s in order)
    assert states[-3:] == ["Report", "ReleaseLock", "RolloutSucceeded"]

    report = json.loads(execution["output"])
    assert report["backup"]["key"] == f"backups/{execution['executionArn'].rsplit(':', 1)[-1]}.json"
    assert list(report["timings"]["seconds"]) == PHASES
    assert report["timings"]["total"] == sum(report["timings"]["seconds"].values()) or report["timings"]["total"] > 0


def test_the_probe_asks_as_a_caller_of_the_version_that_answers(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the update and DEFAULT moving to the new version, the record already names the JWT authorizer while
    the live version still takes SigV4 only: a bearer token would get the 403 mismatch there, and the open runtime's
    callers are still served. The probe must ask as those callers, as the data plane judges the live version."""
    now = sandbox.behaviour.clock()
    monkeypatch.setattr(sandbox.behaviour, "clock", lambda: now)  # no transition completes: DEFAULT stays on 1
    control = sandbox.client("bedrock-agentcore-control")
    discovery = sandbox.cognito.discovery_url(sandbox.seeded.pool_id)
    give_runtime_an_authorizer(
        sandbox, {"customJWTAuthorizer": {"discoveryUrl": discovery, "allowedClients": [sandbox.seeded.client_id]}}
    )
    assert control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)["authorizerConfiguration"]

    observation = AvailabilityProbe(sandbox, ask_agent=True).observe("AfterTheUpdate")

    assert (observation.live_version, observation.gateway) == ("1", "my-gateway")
    assert observation.agent_used_gateway_tool is True, observation.answer


def test_the_backup_holds_every_record_and_no_secret(sandbox: Sandbox) -> None:
    control = sandbox.client("bedrock-agentcore-control")
    runtime_before = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    old = control.get_gateway(gatewayIdentifier=sandbox.seeded.old_gateway_id)
    control.tag_resource(resourceArn=old["gatewayArn"], tags={"team": "customer-support"})
    targets_before = {
        t["name"]: control.get_gateway_target(gatewayIdentifier=old["gatewayId"], targetId=t["targetId"])
        for t in control.list_gateway_targets(gatewayIdentifier=old["gatewayId"])["items"]
    }
    execution = sandbox.run_rollout({})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    raw, backup = _backup(sandbox, json.loads(execution["output"]))

    assert backup["format"] == "agentcore-secure-rollout-backup/1"
    assert backup["execution"] == execution["executionArn"]
    runtime = backup["runtime"]
    for key in ("agentRuntimeId", "agentRuntimeVersion", "environmentVariables", "agentRuntimeArtifact", "roleArn"):
        assert runtime[key] == runtime_before[key]
    assert "authorizerConfiguration" not in runtime  # the tutorial's runtime, before the switch
    assert backup["liveRuntime"] is None  # DEFAULT served the latest version
    assert backup["defaultEndpoint"]["liveVersion"] == "1"
    (gateway,) = backup["gateways"]
    assert (gateway["role"], gateway["gateway"]["gatewayId"]) == ("old", old["gatewayId"])
    assert gateway["gateway"]["authorizerType"] == "NONE"
    assert gateway["tags"] == {"team": "customer-support"}
    assert {t["name"]: t["targetConfiguration"] for t in gateway["targets"]} == {
        name: t["targetConfiguration"] for name, t in targets_before.items()
    }
    assert_no_credentials(sandbox, {"backup": raw.decode()})


def test_the_backup_bucket_is_versioned_encrypted_private_tls_only_and_expires_old_backups(sandbox: Sandbox) -> None:
    s3 = sandbox.client("s3")
    bucket = sandbox.deployment.outputs["BackupBucketName"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()) == {True}
    (lifecycle,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (lifecycle["Status"], lifecycle["Expiration"]["Days"]) == ("Enabled", 90)
    assert lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert (statement["Effect"], statement["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_a_bake_checks_again_before_the_old_gateway_goes(sandbox: Sandbox) -> None:
    execution = sandbox.run_rollout({"bakeSeconds": 1})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    states = _states(sandbox, execution["executionArn"])
    assert (
        states.index("SmokeTest") < states.index("Bake") < states.index("BakeCheck") < states.index("DeleteOldTargets")
    )
    report = json.loads(execution["output"])
    assert report["bakeCheck"] is True
    assert report["timings"]["seconds"]["bake"] >= 1
