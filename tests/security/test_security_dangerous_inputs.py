"""Execution input is untrusted: valid-looking input must not reach another team's resources.

Anyone who may start an execution (or write an EventBridge event that becomes one) chooses the input. Each case
must fail with InvalidExecutionInput before anything is read or changed, leave the other team's resources exactly
as they were, and still reach the notification topic - including input the state machine itself cannot handle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.security.helpers import record, start_raw, status_events

CATEGORY = "dangerous-input"
OTHER_PREFIX = "/app/team-b/agentcore"
OTHER_SECRET_VALUE = "team-b-secure-string-value-7f3a9c"


@dataclass(frozen=True)
class TeamB:
    gateway_id: str
    runtime_id: str


@pytest.fixture(scope="module")
def team_b(secured: Sandbox) -> TeamB:
    """Another team's gateway (with a target), runtime and parameters in the same account."""
    control = secured.client("bedrock-agentcore-control")
    with secured.behaviour.instantly():  # set up long before this rollout
        gateway = control.create_gateway(
            name="team-b-gateway",
            roleArn=secured.seeded.gateway_role_arn,
            protocolType="MCP",
            authorizerType="NONE",
        )
    for _ in range(10):
        if control.get_gateway(gatewayIdentifier=gateway["gatewayId"])["status"] == "READY":
            break
    control.create_gateway_target(
        gatewayIdentifier=gateway["gatewayId"],
        name="TeamBTool",
        targetConfiguration={
            "mcp": {
                "lambda": {
                    "lambdaArn": secured.seeded.warranty_lambda_arn,
                    "toolSchema": {
                        "inlinePayload": [{"name": "b", "description": "b", "inputSchema": {"type": "object"}}]
                    },
                }
            }
        },
        credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    )
    runtime = control.create_agent_runtime(
        agentRuntimeName="TeamBAgent",
        agentRuntimeArtifact={
            "containerConfiguration": {"containerUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/b:1"}
        },
        roleArn=secured.seeded.runtime_role_arn,
        networkConfiguration={"networkMode": "PUBLIC"},
        environmentVariables={"AGENT_MODEL_PROVIDER": "bedrock"},
    )
    secured.client("ssm").put_parameter(Name=f"{OTHER_PREFIX}/client_id", Value=OTHER_SECRET_VALUE, Type="SecureString")
    return TeamB(gateway["gatewayId"], runtime["agentRuntimeId"])


def team_b_state(sandbox: Sandbox, team_b: TeamB) -> str:
    control = sandbox.client("bedrock-agentcore-control")
    gateway = control.get_gateway(gatewayIdentifier=team_b.gateway_id)
    targets = control.list_gateway_targets(gatewayIdentifier=team_b.gateway_id)["items"]
    runtime = control.get_agent_runtime(agentRuntimeId=team_b.runtime_id)
    ours = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    return json.dumps(
        [
            {k: gateway.get(k) for k in ("gatewayId", "authorizerType", "authorizerConfiguration", "status")},
            sorted(t["name"] for t in targets),
            {k: runtime.get(k) for k in ("agentRuntimeVersion", "authorizerConfiguration", "environmentVariables")},
            {k: ours.get(k) for k in ("agentRuntimeVersion", "environmentVariables", "authorizerConfiguration")},
        ],
        default=str,
        sort_keys=True,
    )


DANGEROUS: list[tuple[str, Callable[[TeamB], Any]]] = [
    ("oldGatewayName = another team's gateway", lambda b: {"oldGatewayName": "team-b-gateway"}),
    ("gatewayName = another team's gateway", lambda b: {"gatewayName": "team-b-gateway"}),
    ("runtimeName = another team's runtime", lambda b: {"runtimeName": "TeamBAgent"}),
    ("gatewayUrlEnvVar = AGENT_MODEL_PROVIDER", lambda b: {"gatewayUrlEnvVar": "AGENT_MODEL_PROVIDER"}),
    (
        "agentArtifact in a foreign bucket",
        lambda b: {"agentArtifact": {"s3Bucket": "attacker-code", "s3Key": "agent.zip"}},
    ),
    ("parameterPrefix = another application's prefix", lambda b: {"parameterPrefix": OTHER_PREFIX}),
    ("trigger of 200 KB", lambda b: {"trigger": {"source": "manual", "reason": "x" * 200_000}}),
    ("trigger with unknown fields", lambda b: {"trigger": {"source": "aws.ssm", "detail": {"x": 1}}}),
    ("unknown key", lambda b: {"dryrun": True}),
    ("input is an array", lambda b: [1, 2]),
    ("input is a string", lambda b: "rollout"),
]


@pytest.mark.parametrize(("case", "input_of"), DANGEROUS, ids=[d[0] for d in DANGEROUS])
def test_dangerous_input_is_refused_and_notified(
    secured: Sandbox, team_b: TeamB, case: str, input_of: Callable[[TeamB], Any]
) -> None:
    sandbox = secured
    before = team_b_state(sandbox, team_b)
    mutations = len(sandbox.behaviour.mutations)
    arn = start_raw(sandbox, input_of(team_b))
    execution = sandbox.wait(arn)
    history = json.dumps(sandbox.history(arn), default=str)
    notified = [e for e in status_events(sandbox) if e["execution"] == arn]
    observed = f"{execution['status']} {execution.get('error')}; {'notified' if notified else 'NOT notified'}"
    ok = (
        execution["status"] == "FAILED"
        and execution.get("error") == "InvalidExecutionInput"
        and [(n["status"], n["error"]) for n in notified] == [("FAILED", "InvalidExecutionInput")]
        and team_b_state(sandbox, team_b) == before
        and sandbox.behaviour.mutations[mutations:] == []
        and OTHER_SECRET_VALUE not in history
    )
    assert record(CATEGORY, case, "FAILED InvalidExecutionInput; notified; nothing touched", observed, ok), observed


def test_input_too_large_for_any_state_still_reaches_the_topic(secured: Sandbox) -> None:
    """255 KB of input: no Catch can see the States.DataLimitExceeded it causes; the status-change rule can."""
    sandbox = secured
    payload = {"trigger": {"source": "manual", "reason": "y" * (255 * 1024)}}
    arn = start_raw(sandbox, payload)
    execution = sandbox.wait(arn)
    notified = [e for e in status_events(sandbox) if e["execution"] == arn]
    observed = f"{execution['status']} {execution.get('error')}; {'notified' if notified else 'NOT notified'}"
    ok = execution["status"] == "FAILED" and [n["status"] for n in notified] == ["FAILED"]
    assert record(CATEGORY, "input of 255 KB", "FAILED (any error); notified", observed, ok), observed
