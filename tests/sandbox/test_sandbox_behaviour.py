"""AgentCore's control-plane behaviour in the sandbox: time-based transitions, runtime versions and the DEFAULT
endpoint that serves them, the strict authorizer rule, and the runtime data plane serving the live version.

Time is a ManualClock: every transition happens exactly when a test moves the clock past it (nothing is timed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.behaviour import (
    ENDPOINT_MODEL,
    GATEWAY_MODEL,
    RUNTIME_MODEL,
    AgentCoreBehaviour,
    LatencyProfile,
    ManualClock,
)
from sandbox.cognito import CognitoServer
from sandbox.runtime_dataplane import RuntimeDataPlane
from tests.sandbox.helpers import ACCOUNT_ID, REGION, Pool, fetch_token, invoke_headers, jwt_authorizer, signed

PROFILE = LatencyProfile()
ARTIFACT = {
    "codeConfiguration": {
        "code": {"s3": {"bucket": "agent-code", "prefix": "agent/code.zip"}},
        "runtime": "PYTHON_3_13",
        "entryPoint": ["main.py"],
    }
}
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreRuntimeRole"
DISCOVERY = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool/.well-known/openid-configuration"
OTHER_DISCOVERY = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other/.well-known/openid-configuration"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def behaviour(aws: None, clock: ManualClock) -> Iterator[AgentCoreBehaviour]:
    agentcore = AgentCoreBehaviour(clock=clock)
    agentcore.install()
    try:
        yield agentcore
    finally:
        agentcore.uninstall()


def create_runtime(control: Any, name: str, **settings: Any) -> dict[str, Any]:
    response: dict[str, Any] = control.create_agent_runtime(
        agentRuntimeName=name,
        agentRuntimeArtifact=ARTIFACT,
        roleArn=ROLE,
        networkConfiguration={"networkMode": "PUBLIC"},
        **settings,
    )
    return response


def update_runtime(control: Any, runtime_id: str, **settings: Any) -> dict[str, Any]:
    """A full-replace update as the rollout sends it (every current setting back, plus `settings`)."""
    current = control.get_agent_runtime(agentRuntimeId=runtime_id)
    request = {
        "agentRuntimeArtifact": current["agentRuntimeArtifact"],
        "roleArn": current["roleArn"],
        "networkConfiguration": current["networkConfiguration"],
        **{k: current[k] for k in ("environmentVariables", "requestHeaderConfiguration") if k in current},
        **settings,
    }
    response: dict[str, Any] = control.update_agent_runtime(agentRuntimeId=runtime_id, **request)
    return response


def endpoint(control: Any, runtime_id: str) -> tuple[str, str | None, str | None]:
    record = control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName="DEFAULT")
    return record["status"], record.get("liveVersion"), record.get("targetVersion")


def status(control: Any, runtime_id: str) -> str:
    return str(control.get_agent_runtime(agentRuntimeId=runtime_id)["status"])


def settled_runtime(control: Any, clock: ManualClock, name: str, **settings: Any) -> str:
    runtime_id = str(create_runtime(control, name, **settings)["agentRuntimeId"])
    clock.advance(PROFILE.runtime_create + PROFILE.endpoint_create)
    assert endpoint(control, runtime_id) == ("READY", "1", "1")
    return runtime_id


# -- time-based transitions ------------------------------------------------------------------------------------


def test_status_changes_with_time_not_with_reads(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    gateway_id = control.create_gateway(name="timed-gateway", roleArn=ROLE, authorizerType="NONE", protocolType="MCP")[
        "gatewayId"
    ]
    statuses = [control.get_gateway(gatewayIdentifier=gateway_id)["status"] for _ in range(20)]
    clock.advance(PROFILE.gateway_create - 1)
    almost = control.get_gateway(gatewayIdentifier=gateway_id)["status"]
    clock.advance(1)
    assert (set(statuses), almost) == ({"CREATING"}, "CREATING")
    assert control.get_gateway(gatewayIdentifier=gateway_id)["status"] == "READY"


def test_latency_scale_shortens_every_transition_in_proportion(aws: None, control: Any) -> None:
    clock = ManualClock()
    behaviour = AgentCoreBehaviour(LatencyProfile(runtime_create=40.0), latency_scale=0.01, clock=clock)
    behaviour.install()
    try:
        runtime_id = create_runtime(control, "ScaledAgent")["agentRuntimeId"]
        clock.advance(0.39)
        before = status(control, runtime_id)
        clock.advance(0.01)
        assert (before, status(control, runtime_id)) == ("CREATING", "READY")
    finally:
        behaviour.uninstall()


def test_instantly_settles_what_starts_inside_it(control: Any, behaviour: AgentCoreBehaviour) -> None:
    with behaviour.instantly():
        runtime_id = create_runtime(control, "SeededAgent")["agentRuntimeId"]
    assert status(control, runtime_id) == "READY"
    assert endpoint(control, runtime_id) == ("READY", "1", "1")
    update_runtime(control, runtime_id, description="after the seed")
    assert status(control, runtime_id) == "UPDATING"  # outside it, time matters again


def test_stalled_models_never_settle(control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock) -> None:
    behaviour.faults.stalled_models.update({GATEWAY_MODEL, RUNTIME_MODEL})
    gateway_id = control.create_gateway(
        name="stalled-gateway", roleArn=ROLE, authorizerType="NONE", protocolType="MCP"
    )["gatewayId"]
    runtime_id = create_runtime(control, "StalledAgent")["agentRuntimeId"]
    clock.advance(3600)
    assert control.get_gateway(gatewayIdentifier=gateway_id)["status"] == "CREATING"
    assert status(control, runtime_id) == "CREATING"
    assert endpoint(control, runtime_id) == ("CREATING", None, "1")  # nothing to serve before version 1 is READY


def _gateway_ids(control: Any) -> set[str]:
    return {g["gatewayId"] for g in control.list_gateways()["items"]}


def _deleted_gateway(control: Any, clock: ManualClock, name: str) -> str:
    gateway_id = str(
        control.create_gateway(name=name, roleArn=ROLE, authorizerType="NONE", protocolType="MCP")["gatewayId"]
    )
    clock.advance(PROFILE.gateway_create)
    control.delete_gateway(gatewayIdentifier=gateway_id)
    return gateway_id


def test_a_slow_gateway_deletion_stays_deleting_then_is_gone(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    behaviour.faults.gateway_delete_seconds = 3600
    gateway_id = _deleted_gateway(control, clock, "slow-delete")
    clock.advance(3599)
    assert control.get_gateway(gatewayIdentifier=gateway_id)["status"] == "DELETING"
    with pytest.raises(ClientError) as again:  # already being deleted: a second request is refused
        control.delete_gateway(gatewayIdentifier=gateway_id)
    assert again.value.response["Error"]["Code"] == "ConflictException"
    clock.advance(1)
    assert gateway_id not in _gateway_ids(control)
    # Consumed: the next deletion takes the profile's time again.
    other = _deleted_gateway(control, clock, "normal-delete")
    clock.advance(PROFILE.gateway_delete)
    assert other not in _gateway_ids(control)


def test_a_gateway_deletion_aws_gives_up_on_ends_failed_and_can_be_deleted_again(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    behaviour.faults.gateway_delete_seconds = 7200
    behaviour.faults.gateway_delete_failure = "Deletion timed out"
    gateway_id = _deleted_gateway(control, clock, "failed-delete")
    behaviour.elapse(7200)  # AWS time passes without the clock moving (e.g. between two runs)
    gateway = control.get_gateway(gatewayIdentifier=gateway_id)
    assert (gateway["status"], gateway["statusReasons"]) == ("FAILED", ["Deletion timed out"])
    control.delete_gateway(gatewayIdentifier=gateway_id)
    clock.advance(PROFILE.gateway_delete)
    assert gateway_id not in _gateway_ids(control)


def test_elapse_is_scaled_like_every_transition(aws: None, control: Any) -> None:
    clock = ManualClock()
    behaviour = AgentCoreBehaviour(latency_scale=0.001, clock=clock)
    behaviour.install()
    try:
        gateway_id = control.create_gateway(
            name="scaled-elapse", roleArn=ROLE, authorizerType="NONE", protocolType="MCP"
        )["gatewayId"]
        behaviour.elapse(PROFILE.gateway_create - 1)
        before = control.get_gateway(gatewayIdentifier=gateway_id)["status"]
        behaviour.elapse(1)
        assert (before, control.get_gateway(gatewayIdentifier=gateway_id)["status"]) == ("CREATING", "READY")
        with pytest.raises(ValueError, match="seconds must be >= 0, got -1"):
            behaviour.elapse(-1)
    finally:
        behaviour.uninstall()


def test_a_slow_default_endpoint_keeps_serving_the_previous_version_until_its_time(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    runtime_id = settled_runtime(control, clock, "SlowEndpoint")
    behaviour.faults.endpoint_update_seconds = 3600
    update_runtime(control, runtime_id, description="slow to go live")
    clock.advance(PROFILE.runtime_update + 3599)
    assert (status(control, runtime_id), endpoint(control, runtime_id)) == ("READY", ("UPDATING", "1", "2"))
    clock.advance(1)
    assert endpoint(control, runtime_id) == ("READY", "2", "2")


def test_a_named_target_fails_and_the_others_do_not(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    gateway_id = control.create_gateway(name="targets", roleArn=ROLE, authorizerType="NONE", protocolType="MCP")[
        "gatewayId"
    ]
    clock.advance(PROFILE.gateway_create)
    behaviour.faults.target_create_failure = "Lambda function not found"
    behaviour.faults.target_create_failure_name = "Second"
    schema = {"inlinePayload": [{"name": "tool", "description": "a tool", "inputSchema": {"type": "object"}}]}
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:f"
    lambda_target = {"mcp": {"lambda": {"lambdaArn": function, "toolSchema": schema}}}
    ids = {
        name: control.create_gateway_target(
            gatewayIdentifier=gateway_id,
            name=name,
            targetConfiguration=lambda_target,
            credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
        )["targetId"]
        for name in ("First", "Second", "Third")
    }
    clock.advance(PROFILE.target_create)
    statuses = {
        name: control.get_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id)["status"]
        for name, target_id in ids.items()
    }
    assert statuses == {"First": "READY", "Second": "FAILED", "Third": "READY"}


def test_a_refused_write_answers_with_the_declared_error_and_changes_nothing(
    boto_session: boto3.session.Session, behaviour: AgentCoreBehaviour
) -> None:
    # Without botocore's own retries, which would absorb a throttled call.
    control = boto_session.client("bedrock-agentcore-control", config=Config(retries={"total_max_attempts": 1}))
    before = _gateway_ids(control)
    behaviour.faults.refuse("CreateGateway", "AccessDeniedException")
    behaviour.faults.refuse("CreateGateway", "ThrottlingException", times=2)
    request: dict[str, Any] = {"name": "refused", "roleArn": ROLE, "authorizerType": "NONE", "protocolType": "MCP"}
    codes = []
    for _ in range(3):
        with pytest.raises(ClientError) as refused:
            control.create_gateway(**request)
        codes.append(
            (refused.value.response["Error"]["Code"], refused.value.response["ResponseMetadata"]["HTTPStatusCode"])
        )
    assert codes == [("AccessDeniedException", 403), ("ThrottlingException", 429), ("ThrottlingException", 429)]
    assert _gateway_ids(control) == before
    assert (
        behaviour.refusals[0]
        == "CreateGateway (injected): AccessDeniedException: User is not authorized to perform this action"
    )
    created = control.create_gateway(**request)  # consumed: the next call goes through
    assert _gateway_ids(control) == before | {created["gatewayId"]}
    with pytest.raises(ValueError, match="CreateGateway does not declare NoSuchError"):
        behaviour.faults.refuse("CreateGateway", "NoSuchError")


def test_runtime_update_failure_keeps_the_live_version(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    runtime_id = settled_runtime(control, clock, "FailingUpdate")
    behaviour.faults.runtime_update_failure = "Container failed health check on port 8080"
    update_runtime(control, runtime_id, description="broken")
    clock.advance(3600)
    record = control.get_agent_runtime(agentRuntimeId=runtime_id)
    assert (record["status"], record["failureReason"]) == (
        "UPDATE_FAILED",
        "Container failed health check on port 8080",
    )
    assert endpoint(control, runtime_id) == ("READY", "1", "1")


# -- versions and the DEFAULT endpoint -------------------------------------------------------------------------


def test_default_endpoint_goes_live_on_a_new_version_only_after_the_runtime_is_ready(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    created = create_runtime(control, "VersionedAgent")
    runtime_id, arn = created["agentRuntimeId"], created["agentRuntimeArn"]
    assert arn == f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT_ID}:runtime/{runtime_id}"
    first = control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName="DEFAULT")
    assert first["agentRuntimeEndpointArn"] == f"{arn}/runtime-endpoint/DEFAULT"
    assert (first["status"], first.get("liveVersion"), first["agentRuntimeArn"]) == ("CREATING", None, arn)
    clock.advance(PROFILE.runtime_create)
    assert (status(control, runtime_id), endpoint(control, runtime_id)) == ("READY", ("CREATING", None, "1"))
    clock.advance(PROFILE.endpoint_create)
    assert endpoint(control, runtime_id) == ("READY", "1", "1")

    updated = update_runtime(control, runtime_id, environmentVariables={"STAGE": "two"})
    assert (updated["agentRuntimeVersion"], updated["agentRuntimeArn"]) == ("2", arn)
    timeline = [(status(control, runtime_id), endpoint(control, runtime_id))]
    clock.advance(PROFILE.runtime_update)
    timeline.append((status(control, runtime_id), endpoint(control, runtime_id)))
    clock.advance(PROFILE.endpoint_update - 1)
    timeline.append((status(control, runtime_id), endpoint(control, runtime_id)))
    clock.advance(1)
    timeline.append((status(control, runtime_id), endpoint(control, runtime_id)))

    assert timeline == [
        ("UPDATING", ("READY", "1", "1")),  # the update is rolling out; version 1 serves
        ("READY", ("UPDATING", "1", "2")),  # READY is not live: DEFAULT starts moving to version 2
        ("READY", ("UPDATING", "1", "2")),
        ("READY", ("READY", "2", "2")),  # live
    ]
    versions = control.list_agent_runtime_versions(agentRuntimeId=runtime_id)["agentRuntimes"]
    assert [(v["agentRuntimeVersion"], v["agentRuntimeArn"]) for v in versions] == [("2", arn), ("1", arn)]


def test_endpoint_that_fails_to_move_reports_why(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    runtime_id = settled_runtime(control, clock, "EndpointFailure")
    behaviour.faults.endpoint_update_failure = "New version failed its health check"
    update_runtime(control, runtime_id, description="v2")
    clock.advance(PROFILE.runtime_update + PROFILE.endpoint_update)
    record = control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName="DEFAULT")
    assert (record["status"], record["liveVersion"], record["targetVersion"]) == ("UPDATE_FAILED", "1", "2")
    assert record["failureReason"] == "New version failed its health check"


def test_stalled_endpoint_stays_on_the_old_version(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    runtime_id = settled_runtime(control, clock, "StalledEndpoint")
    behaviour.faults.stalled_models.add(ENDPOINT_MODEL)
    update_runtime(control, runtime_id, description="v2")
    clock.advance(3600)
    assert (status(control, runtime_id), endpoint(control, runtime_id)) == ("READY", ("UPDATING", "1", "2"))


# -- the strict authorizer rule --------------------------------------------------------------------------------


def _jwt(discovery: str, clients: list[str]) -> dict[str, Any]:
    return {"customJWTAuthorizer": {"discoveryUrl": discovery, "allowedClients": clients}}


@pytest.mark.parametrize(
    "again",
    [
        pytest.param(_jwt(DISCOVERY, ["client-a"]), id="identical"),
        pytest.param(_jwt(DISCOVERY, ["client-a", "client-b"]), id="other-clients"),
        pytest.param(_jwt(OTHER_DISCOVERY, ["client-a"]), id="other-pool"),
    ],
)
def test_any_authorizer_sent_to_a_runtime_that_has_one_is_refused(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock, again: dict[str, Any]
) -> None:
    runtime_id = settled_runtime(control, clock, "Authorized", authorizerConfiguration=_jwt(DISCOVERY, ["client-a"]))
    arn = control.get_agent_runtime(agentRuntimeId=runtime_id)["agentRuntimeArn"]
    mutations = len(behaviour.mutations)

    with pytest.raises(ClientError) as refused:
        update_runtime(control, runtime_id, authorizerConfiguration=again)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == f"Authorizer already exists for resourceId: {arn}"
    assert behaviour.mutations[mutations:] == []
    assert control.get_agent_runtime(agentRuntimeId=runtime_id)["agentRuntimeVersion"] == "1"


def test_an_omitted_authorizer_is_kept_and_a_runtime_without_one_accepts_one(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    kept_id = settled_runtime(control, clock, "KeepsIt", authorizerConfiguration=_jwt(DISCOVERY, ["client-a"]))
    update_runtime(control, kept_id, description="no authorizer in the request")
    open_id = settled_runtime(control, clock, "OpenAgent")
    update_runtime(control, open_id, authorizerConfiguration=_jwt(DISCOVERY, ["client-a"]))

    after = [control.get_agent_runtime(agentRuntimeId=i).get("authorizerConfiguration") for i in (kept_id, open_id)]
    assert after == [_jwt(DISCOVERY, ["client-a"]), _jwt(DISCOVERY, ["client-a"])]


def test_omitted_authorizer_clears_fault_still_clears_it(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    runtime_id = settled_runtime(control, clock, "Cleared", authorizerConfiguration=_jwt(DISCOVERY, ["client-a"]))
    behaviour.faults.omitted_authorizer_clears = True
    update_runtime(control, runtime_id, description="leaves it out")
    clock.advance(PROFILE.runtime_update)
    assert "authorizerConfiguration" not in control.get_agent_runtime(agentRuntimeId=runtime_id)
    update_runtime(control, runtime_id, authorizerConfiguration=_jwt(DISCOVERY, ["client-a"]))  # accepted again


# -- the runtime data plane serves the live version ------------------------------------------------------------


def _ask(
    http: httpx.Client, plane: RuntimeDataPlane, arn: str, token: str | None, *, sigv4: bool = False
) -> tuple[int, dict[str, Any]]:
    """(status, first event: what the agent process saw) of one invocation (`sigv4`: signed, for an IAM runtime)."""
    url, body = plane.invocation_url(arn), json.dumps({"prompt": "hi", "env": ["STAGE"]}).encode()
    headers = signed(url, invoke_headers(), body) if sigv4 else invoke_headers(token)
    response = http.post(url, headers=headers, content=body)
    if response.status_code != 200:
        return response.status_code, {}
    first = next(line for line in response.text.splitlines() if line.startswith("data: "))
    event: dict[str, Any] = json.loads(first[len("data: ") :])
    return 200, {"STAGE": event["env"]["STAGE"], "authorization": "authorization" in event["headers"]}


def test_data_plane_serves_the_version_live_on_default_not_the_latest_update(
    control: Any,
    behaviour: AgentCoreBehaviour,
    clock: ManualClock,
    dataplane: RuntimeDataPlane,
    http: httpx.Client,
    cognito: CognitoServer,
    pool: Pool,
) -> None:
    created = create_runtime(control, "LiveAgent", environmentVariables={"STAGE": "one"})
    runtime_id, arn = created["agentRuntimeId"], created["agentRuntimeArn"]
    token = fetch_token(http, cognito, pool)
    observed = {"endpoint creating": _ask(http, dataplane, arn, None, sigv4=True)}
    clock.advance(PROFILE.runtime_create + PROFILE.endpoint_create)
    observed["version 1 live"] = _ask(http, dataplane, arn, None, sigv4=True)

    update_runtime(
        control,
        runtime_id,
        authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id]),
        requestHeaderConfiguration={"requestHeaderAllowlist": ["Authorization"]},
        environmentVariables={"STAGE": "two"},
    )
    observed["version 2 updating"] = _ask(http, dataplane, arn, None, sigv4=True)
    clock.advance(PROFILE.runtime_update)
    observed["version 2 READY, not live"] = _ask(http, dataplane, arn, None, sigv4=True)
    clock.advance(PROFILE.endpoint_update)
    observed["version 2 live, no token"] = _ask(http, dataplane, arn, None)
    observed["version 2 live, token"] = _ask(http, dataplane, arn, token)

    assert observed == {
        "endpoint creating": (409, {}),
        "version 1 live": (200, {"STAGE": "one", "authorization": False}),
        "version 2 updating": (200, {"STAGE": "one", "authorization": False}),
        "version 2 READY, not live": (200, {"STAGE": "one", "authorization": False}),
        "version 2 live, no token": (401, {}),
        "version 2 live, token": (200, {"STAGE": "two", "authorization": True}),
    }
    answered = [r.version for r in dataplane.invocations if r.runtime_id == runtime_id and r.status == 200]
    assert answered == ["1", "1", "1", "2"]


# -- full replace ------------------------------------------------------------------------------------------------------

EXTRAS = {
    "allowedPorts": [{"port": 8080}],
    "filesystemConfigurations": [{"sessionStorage": {"mountPath": "/mnt/session"}}],
    "platformVersion": "2025.1",
    "resourceConfigurations": [{"minimumMemoryInMiB": 2048}],
}


def test_update_agent_runtime_is_a_full_replace_of_every_member(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    from rollout_core import desired as product

    runtime_id = settled_runtime(
        control,
        clock,
        "FullReplace",
        description="tutorial agent",
        environmentVariables={"LOG_LEVEL": "INFO"},
        requestHeaderConfiguration={"requestHeaderAllowlist": ["X-Trace"]},
        **EXTRAS,
    )
    created = control.get_agent_runtime(agentRuntimeId=runtime_id)
    assert {k: created.get(k) for k in EXTRAS} == EXTRAS  # every member of the output shape comes back
    assert set(EXTRAS) <= product.runtime_update_fields()

    # The rollout's full replace sends everything back: nothing is lost.
    request = product.runtime_update_request(created, allowlist=["X-Trace", "Authorization"])
    control.update_agent_runtime(**request)
    clock.advance(PROFILE.runtime_update)
    kept = control.get_agent_runtime(agentRuntimeId=runtime_id)
    assert {k: kept.get(k) for k in EXTRAS} == EXTRAS
    assert (kept["description"], kept["environmentVariables"]) == ("tutorial agent", {"LOG_LEVEL": "INFO"})
    assert kept["requestHeaderConfiguration"] == {"requestHeaderAllowlist": ["X-Trace", "Authorization"]}

    # A caller that sends only the required members clears every optional one (AWS's full replace).
    control.update_agent_runtime(
        agentRuntimeId=runtime_id,
        agentRuntimeArtifact=kept["agentRuntimeArtifact"],
        roleArn=kept["roleArn"],
        networkConfiguration=kept["networkConfiguration"],
    )
    clock.advance(PROFILE.runtime_update)
    bare = control.get_agent_runtime(agentRuntimeId=runtime_id)
    cleared = ["description", "environmentVariables", "requestHeaderConfiguration", *EXTRAS]
    assert [k for k in cleared if bare.get(k)] == []
    assert bare["lifecycleConfiguration"] == {"idleRuntimeSessionTimeout": 900, "maxLifetime": 28800}


def test_get_agent_runtime_answers_for_the_version_asked(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    """GetAgentRuntime(agentRuntimeVersion=N) returns version N's own record, not the latest (moto ignores it)."""
    runtime_id = settled_runtime(control, clock, "Versioned", environmentVariables={"STAGE": "one"})
    behaviour.faults.runtime_update_failure = "Container failed health check"
    update_runtime(control, runtime_id, environmentVariables={"STAGE": "two"})
    clock.advance(PROFILE.runtime_update)
    update_runtime(control, runtime_id, environmentVariables={"STAGE": "three"})
    clock.advance(PROFILE.runtime_update)

    latest = control.get_agent_runtime(agentRuntimeId=runtime_id)
    first = control.get_agent_runtime(agentRuntimeId=runtime_id, agentRuntimeVersion="1")
    failed = control.get_agent_runtime(agentRuntimeId=runtime_id, agentRuntimeVersion="2")
    assert (latest["agentRuntimeVersion"], latest["environmentVariables"]) == ("3", {"STAGE": "three"})
    assert (first["agentRuntimeVersion"], first["status"], first["environmentVariables"]) == (
        "1",
        "READY",
        {"STAGE": "one"},
    )
    assert (failed["status"], failed["failureReason"]) == ("UPDATE_FAILED", "Container failed health check")
    assert first["agentRuntimeArn"] == latest["agentRuntimeArn"]
    assert first["agentRuntimeArtifact"] == ARTIFACT
    asked_latest = control.get_agent_runtime(agentRuntimeId=runtime_id, agentRuntimeVersion="3")
    assert {**asked_latest, "ResponseMetadata": None} == {**latest, "ResponseMetadata": None}
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        control.get_agent_runtime(agentRuntimeId=runtime_id, agentRuntimeVersion="9")


def test_list_agent_runtime_endpoints_items_carry_the_versions_get_reports(
    control: Any, behaviour: AgentCoreBehaviour, clock: ManualClock
) -> None:
    """ListAgentRuntimeEndpoints items (botocore shape AgentRuntimeEndpoint) have liveVersion/targetVersion as
    GetAgentRuntimeEndpoint does, read from the same record at the same moment."""

    def listed() -> list[tuple[str, str | None, str | None]]:
        items = control.list_agent_runtime_endpoints(agentRuntimeId=runtime_id)["runtimeEndpoints"]
        return [(i["status"], i.get("liveVersion"), i.get("targetVersion")) for i in items if i["name"] == "DEFAULT"]

    runtime_id = str(create_runtime(control, "ListedAgent")["agentRuntimeId"])
    clock.advance(PROFILE.runtime_create)
    timeline = [(listed(), [endpoint(control, runtime_id)])]  # CREATING: nothing live yet, no liveVersion
    clock.advance(PROFILE.endpoint_create)
    timeline.append((listed(), [endpoint(control, runtime_id)]))
    update_runtime(control, runtime_id, environmentVariables={"STAGE": "two"})
    clock.advance(PROFILE.runtime_update)
    timeline.append((listed(), [endpoint(control, runtime_id)]))
    clock.advance(PROFILE.endpoint_update)
    timeline.append((listed(), [endpoint(control, runtime_id)]))

    assert timeline == [
        ([("CREATING", None, "1")], [("CREATING", None, "1")]),
        ([("READY", "1", "1")], [("READY", "1", "1")]),
        ([("UPDATING", "1", "2")], [("UPDATING", "1", "2")]),
        ([("READY", "2", "2")], [("READY", "2", "2")]),
    ]
