"""Runtime versions and authorizers as AWS has them: an update is live only once DEFAULT serves its version, and an
authorizer can only be added to a runtime that has none (the sandbox's strict reading of "Authorizer already
exists")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.behaviour import ENDPOINT_MODEL, LatencyProfile
from sandbox.core import Sandbox
from tests.workflow.helpers.control import give_runtime_an_authorizer
from tests.workflow.helpers.failure import failure_message

SECURE_ENV = "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"


def _states(sandbox: Sandbox, execution: dict[str, Any]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in sandbox.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]


def _message(execution: dict[str, Any]) -> str:
    return failure_message(execution)


def test_smoke_test_reaches_the_version_the_rollout_made_live() -> None:
    # DEFAULT takes far longer to move than anything else: a smoke test run as soon as the runtime is READY would
    # meet the version before the gateway URL (and, before that, the one without the authorizer).
    lagging = LatencyProfile(endpoint_update=3000.0)  # 3 s at the test scale; every other transition milliseconds
    with Sandbox(poll_seconds=1, max_polls=30, latency=lagging) as sandbox:
        execution = sandbox.wait(sandbox.start_rollout({}), timeout=240)
        assert execution["status"] == "SUCCEEDED", execution.get("cause")

        control = sandbox.client("bedrock-agentcore-control")
        runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
        default = control.get_agent_runtime_endpoint(agentRuntimeId=sandbox.seeded.runtime_id, endpointName="DEFAULT")
        smoke_calls = [r for r in sandbox.runtime_plane.invocations if r.runtime_id == sandbox.seeded.runtime_id]
        report = json.loads(execution["output"])
        states = _states(sandbox, execution)

    assert runtime["agentRuntimeVersion"] == "2"  # 1 (tutorial) -> 2 (the switch: secured and pointed, one update)
    assert (default["status"], default["liveVersion"]) == ("READY", "2")
    assert smoke_calls
    assert {r.version for r in smoke_calls} == {"2"}  # every smoke call met the version this rollout made live
    assert report["smoke"]["withoutToken"]["status"] == 401
    assert report["runtime"]["liveVersion"] == "2"
    assert states.index("CheckSwitchLive") < states.index("SmokeTest")


def test_a_version_that_never_goes_live_is_never_smoke_tested(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.stalled_models.add(ENDPOINT_MODEL)
    execution = sandbox.wait(sandbox.start_rollout({"maxPolls": 3}))

    assert execution["status"] == "FAILED"
    # DEFAULT never moves: neither the switch's version nor the rollback's goes live (callers keep version 1), so the
    # rollback cannot be confirmed either - its own named error, with the switch's failure and the backup in it.
    assert execution["error"] == "RollbackFailed"
    cause = json.loads(execution["cause"])
    assert (cause["originalError"], cause["rollbackError"]) == ("ResourceWaitTimeout", "ResourceWaitTimeout")
    switch_failure = json.loads(cause["originalCause"])["errorMessage"]
    assert "DEFAULT endpoint is UPDATING (live version 1, target 2)" in switch_failure
    assert "version 2 still not live after 3 polls" in switch_failure
    assert cause["restoreInput"] == {"restore": cause["backupKey"]}
    assert "SmokeTest" not in _states(sandbox, execution)
    assert not [r for r in sandbox.runtime_plane.invocations if r.runtime_id == sandbox.seeded.runtime_id]


def test_a_default_endpoint_that_fails_to_move_is_a_runtime_update_failure(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.endpoint_update_failure = "Version 2 failed its health check"
    execution = sandbox.wait(sandbox.start_rollout({}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "RuntimeUpdateFailed"
    message = _message(execution)
    assert "DEFAULT endpoint is UPDATE_FAILED" in message
    assert "Version 2 failed its health check" in message
    assert "SmokeTest" not in _states(sandbox, execution)


def _give_runtime_an_authorizer(sandbox: Sandbox, authorizer: dict[str, Any]) -> None:
    """Someone secured the runtime before this rollout (with other settings)."""
    control = sandbox.client("bedrock-agentcore-control")
    with sandbox.behaviour.instantly():
        give_runtime_an_authorizer(sandbox, authorizer)
        assert control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)["status"] == "READY"


def test_a_runtime_with_a_different_authorizer_fails_in_plan_before_any_change(sandbox: Sandbox) -> None:
    other_pool = "us-east-1_OtherPool1"
    foreign = {
        "customJWTAuthorizer": {
            "discoveryUrl": f"{sandbox.cognito.base_url}/{other_pool}/.well-known/openid-configuration",
            "allowedClients": ["other-team-client"],
            "allowedScopes": ["other/read"],
        }
    }
    _give_runtime_an_authorizer(sandbox, foreign)
    before = len(sandbox.behaviour.mutations)

    execution = sandbox.wait(sandbox.start_rollout({}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "AuthorizerConflict"
    assert _states(sandbox, execution)[-3:] == ["Plan", "RolloutFailed", "Failed"]
    assert sandbox.behaviour.mutations[before:] == []
    message = _message(execution)
    assert f"current [discoveryUrl {sandbox.cognito.base_url}/{other_pool}/.well-known/openid-configuration" in message
    assert "allowedClients ['other-team-client']" in message
    desired_url = sandbox.cognito.discovery_url(sandbox.seeded.pool_id)
    assert f"desired [discoveryUrl {desired_url}, allowedClients ['{sandbox.seeded.client_id}']" in message
    assert "Authorizer already exists" in message
    assert "run the rollout again" in message
    runtime = sandbox.client("bedrock-agentcore-control").get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    assert runtime["authorizerConfiguration"] == foreign


def test_same_pool_other_client_is_a_conflict_too(sandbox: Sandbox) -> None:
    # Adding our client to the existing list would mean sending an authorizer to a runtime that has one.
    discovery = sandbox.cognito.discovery_url(sandbox.seeded.pool_id)
    _give_runtime_an_authorizer(
        sandbox, {"customJWTAuthorizer": {"discoveryUrl": discovery, "allowedClients": ["another-app-client"]}}
    )
    before = len(sandbox.behaviour.mutations)

    execution = sandbox.wait(sandbox.start_rollout({"dryRun": True}))

    assert (execution["status"], execution["error"]) == ("FAILED", "AuthorizerConflict")
    assert "allowedClients ['another-app-client']" in _message(execution)
    assert sandbox.behaviour.mutations[before:] == []


def test_a_runtime_already_holding_the_desired_authorizer_is_never_sent_one(sandbox: Sandbox) -> None:
    scope = sandbox.client("ssm").get_parameter(Name="/app/customersupport/agentcore/cognito_auth_scope")
    desired = {
        "customJWTAuthorizer": {
            "discoveryUrl": sandbox.cognito.discovery_url(sandbox.seeded.pool_id),
            "allowedClients": [sandbox.seeded.client_id],
            "allowedScopes": [scope["Parameter"]["Value"]],
        }
    }
    _give_runtime_an_authorizer(sandbox, desired)  # secured, but the Authorization header is not forwarded yet

    execution = sandbox.wait(sandbox.start_rollout({}))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    runtime = sandbox.client("bedrock-agentcore-control").get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    assert runtime["authorizerConfiguration"] == desired
    assert runtime["requestHeaderConfiguration"]["requestHeaderAllowlist"] == ["Authorization"]
    assert SECURE_ENV in runtime["environmentVariables"]


@pytest.mark.denials_expected  # it probes the role's limits: the denials are the point
def test_check_status_may_read_only_the_runtimes_default_endpoint(sandbox: Sandbox) -> None:
    assert sandbox.iam is not None
    role = next(arn for arn, label in sandbox.stack_roles().items() if label == "CheckStatusFunctionRole")
    control = sandbox.iam.client_for_role("bedrock-agentcore-control", role, "probe")
    with sandbox.behaviour.instantly():
        other = sandbox.client("bedrock-agentcore-control").create_agent_runtime(
            agentRuntimeName="OtherTeamAgent",
            agentRuntimeArtifact={"containerConfiguration": {"containerUri": f"{sandbox.account_id}.dkr.ecr.x/b:1"}},
            roleArn=sandbox.seeded.runtime_role_arn,
            networkConfiguration={"networkMode": "PUBLIC"},
        )

    default = control.get_agent_runtime_endpoint(agentRuntimeId=sandbox.seeded.runtime_id, endpointName="DEFAULT")
    assert default["liveVersion"] == "1"
    for runtime_id, endpoint_name in ((sandbox.seeded.runtime_id, "canary"), (other["agentRuntimeId"], "DEFAULT")):
        with pytest.raises(control.exceptions.AccessDeniedException, match="bedrock-agentcore:GetAgentRuntimeEndpoint"):
            control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName=endpoint_name)
