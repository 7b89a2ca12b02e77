"""Each failure branch ends in the RolloutFailed state (which releases the rollout lock, then fails) with a named
Error and a Cause that says what happened, and the execution's FAILED status event reaches the notification topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.behaviour import GATEWAY_MODEL
from sandbox.core import Sandbox
from tests.workflow.helpers.failure import failure_message
from tests.workflow.helpers.leaks import assert_no_credentials
from tests.workflow.helpers.queue import status_notifications


def _failed(sandbox: Sandbox, execution_input: dict | None = None) -> dict:
    execution = sandbox.wait(sandbox.start_rollout(execution_input or {}))
    assert execution["status"] == "FAILED"
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in sandbox.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    assert states[-2:] == ["RolloutFailed", "Failed"]
    notified = status_notifications(sandbox, execution["executionArn"])
    assert [(n["status"], n["error"]) for n in notified] == [("FAILED", execution["error"])]
    return execution


def _message(execution: dict[str, Any]) -> str:
    return failure_message(execution)


def test_malformed_parameter_fails_before_any_change(sandbox: Sandbox) -> None:
    sandbox.client("ssm").put_parameter(
        Name="/app/customersupport/agentcore/cognito_discovery_url",
        Value="http://login.example.com/pool/.well-known/openid-configuration",
        Type="String",
        Overwrite=True,
    )
    # The parameter change itself triggers a rollout through EventBridge; wait for that one too.
    triggered = list(sandbox.events.started_executions)
    before = len(sandbox.behaviour.mutations)
    execution = _failed(sandbox)
    assert execution["error"] == "InvalidConfiguration"
    message = _message(execution)
    assert "cognito_discovery_url" in message
    assert "http://login.example.com" in message
    assert sandbox.cognito.discovery_url(sandbox.seeded.pool_id) in message  # the value it must be
    for arn in triggered:
        assert sandbox.wait(arn)["error"] == "InvalidConfiguration"
    assert sandbox.behaviour.mutations[before:] == []


def test_missing_parameter_is_named(sandbox: Sandbox) -> None:
    sandbox.client("ssm").delete_parameter(Name="/app/customersupport/agentcore/pool_id")
    execution = _failed(sandbox)
    assert execution["error"] == "InvalidConfiguration"
    assert "/app/customersupport/agentcore/pool_id" in _message(execution)


def test_unknown_input_key_and_wrong_type(sandbox: Sandbox) -> None:
    execution = _failed(sandbox, {"runtimeNmae": "CustomerSupport"})
    assert execution["error"] == "InvalidExecutionInput"
    assert "runtimeNmae" in _message(execution)
    execution = _failed(sandbox, {"dryRun": "yes"})
    assert execution["error"] == "InvalidExecutionInput"
    assert "dryRun" in _message(execution)


def test_unknown_runtime_is_named() -> None:
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"RuntimeName": "NoSuchAgent"}) as sandbox:
        execution = _failed(sandbox)
        assert execution["error"] == "RuntimeNotFound"
        assert "NoSuchAgent" in _message(execution)


def test_another_runtime_in_the_input_is_refused(sandbox: Sandbox) -> None:
    execution = _failed(sandbox, {"runtimeName": "NoSuchAgent"})
    assert execution["error"] == "InvalidExecutionInput"
    assert "deployed for 'CustomerSupport'" in _message(execution)


@pytest.mark.denials_expected  # the denial is the point
def test_a_denied_read_is_named_as_a_read_failure_not_as_a_write(sandbox: Sandbox) -> None:
    """An explicit Deny of ListGateways on LoadConfig's role: the read fails at once (AccessDenied is not transient,
    no Retry), as AgentCoreReadFailed naming the call, the gateway it looked for and AWS's error code."""
    roles = sandbox.deployment.physical_ids_of("AWS::IAM::Role")
    sandbox.client("iam").put_role_policy(
        RoleName=roles["LoadConfigFunctionRole"],
        PolicyName="deny-list-gateways",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "bedrock-agentcore:ListGateways", "Resource": "*"}],
            }
        ),
    )
    before = len(sandbox.behaviour.mutations)
    execution = _failed(sandbox)
    assert execution["error"] == "AgentCoreReadFailed"
    message = _message(execution)
    assert "ListGateways (gateway 'my-gateway'): AccessDeniedException: " in message
    failed_calls = [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in sandbox.history(execution["executionArn"])
        if e["type"] == "LambdaFunctionFailed"
    ]
    assert failed_calls == ["AgentCoreReadFailed"]  # one attempt: a denial is not transient, no Retry
    assert sandbox.behaviour.mutations[before:] == []


def test_runtime_update_failed_reports_the_service_reason(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.runtime_update_failure = "Container failed health check on port 8080"
    execution = _failed(sandbox)
    assert execution["error"] == "RuntimeUpdateFailed"
    assert "UPDATE_FAILED" in _message(execution)
    assert "Container failed health check on port 8080" in _message(execution)


def test_gateway_failed_reports_the_service_reason(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.gateway_create_failure = "Invalid discovery URL: issuer unreachable"
    execution = _failed(sandbox)
    assert execution["error"] == "GatewayCreateFailed"
    assert "FAILED" in _message(execution)
    assert "issuer unreachable" in _message(execution)
    # The old gateway is untouched when its replacement failed: nothing lost.
    names = [g["name"] for g in sandbox.client("bedrock-agentcore-control").list_gateways()["items"]]
    assert "my-gateway" in names


def test_poll_budget_ends_in_named_timeout(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.stalled_models.add(GATEWAY_MODEL)
    execution = _failed(sandbox, {"maxPolls": 3})
    assert execution["error"] == "ResourceWaitTimeout"
    assert "still CREATING after 3 polls" in _message(execution)


def test_smoke_failure_when_the_agent_cannot_answer(sandbox: Sandbox) -> None:
    sandbox.agents.agent_entry = (Path(__file__).parent / "broken_agent" / "main.py").resolve()
    execution = _failed(sandbox)
    assert execution["error"] == "SmokeTestFailed"
    message = _message(execution)
    # AgentCore surfaces a failing agent as 424 (RuntimeClientError).
    assert "with a valid token: expected 2xx and a streamed answer without error events, got 424" in message
    # Security held even though the agent is broken: the other two calls were rejected as expected.
    assert "without a token" not in message
    assert "tampered" not in message
    assert_no_credentials(
        sandbox,
        {
            "execution history": json.dumps(sandbox.history(execution["executionArn"]), default=str),
            "failure cause": execution["cause"],
            "lambda logs": sandbox.lambdas.logs_of(),
        },
    )


def test_token_endpoint_rejection_is_named(sandbox: Sandbox) -> None:
    cognito = sandbox.client("cognito-idp")
    # The app client loses its client_credentials grant: Cognito answers unauthorized_client.
    cognito.update_user_pool_client(
        UserPoolId=sandbox.seeded.pool_id,
        ClientId=sandbox.seeded.client_id,
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["customersupport/invoke"],
        AllowedOAuthFlowsUserPoolClient=True,
        CallbackURLs=["https://example.com/callback"],
    )
    execution = _failed(sandbox)
    assert execution["error"] == "TokenRequestFailed"
    assert "400" in _message(execution)


def test_smoke_fails_when_the_agent_does_not_forward_the_token_to_the_gateway(sandbox: Sandbox) -> None:
    sandbox.agents.agent_entry = (Path(__file__).parent / "tokenless_agent" / "serve.py").resolve()
    # Only the strict agent-path check can see this: with `answer`, the agent's local-tools answer is enough.
    execution = _failed(sandbox, {"agentToolCheck": "require"})
    assert execution["error"] == "SmokeTestFailed"
    message = _message(execution)
    assert "warranty question (agentToolCheck=require)" in message
    assert "WarrantyCheck___check_warranty" in message
    assert "gateway tools/call" not in message  # the gateway itself works: the smoke test's own call got through
    # The secured gateway refused the tokenless agent; the only tool call is the smoke test's, with its token.
    new_gateway_calls = [c for c in sandbox.gateway_plane.calls if c.gateway_name == "my-gateway-secure"]
    anonymous = [c for c in new_gateway_calls if c.client_id is None]
    assert anonymous
    assert {c.status for c in anonymous} <= {401, 403}
    tool_calls = [(c.status, c.client_id) for c in new_gateway_calls if c.tool_name]
    assert tool_calls == [(200, sandbox.seeded.client_id)]
