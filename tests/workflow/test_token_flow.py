"""The caller's token travels caller -> runtime -> agent -> secured gateway -> WarrantyCheck, and nowhere else."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sandbox.callers import ask
from sandbox.core import Sandbox
from tests.workflow.helpers.leaks import assert_no_credentials

WARRANTY_TOOL = "WarrantyCheck___check_warranty"


def session() -> str:
    return f"token-flow-test-session-{uuid.uuid4()}"


def tool_calls(sandbox: Sandbox, gateway_name: str) -> list[Any]:
    return [c for c in sandbox.gateway_plane.calls if c.gateway_name == gateway_name and c.tool_name == WARRANTY_TOOL]


def second_client(sandbox: Sandbox) -> tuple[str, str]:
    """Another M2M app client of the pool, allowed on the secured runtime and gateway."""
    from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

    client = sandbox.client("cognito-idp").create_user_pool_client(
        UserPoolId=sandbox.seeded.pool_id,
        ClientName="PartnerPortalM2M",
        GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=["customersupport/invoke"],
        AllowedOAuthFlowsUserPoolClient=True,
    )["UserPoolClient"]
    backend = bedrockagentcorecontrol_backends[sandbox.account_id][sandbox.region]
    records = [backend.agent_runtimes[sandbox.seeded.runtime_id]] + [
        g for g in backend.gateways.values() if g.name == "my-gateway-secure"
    ]
    for record in records:
        assert record.authorizer_configuration is not None
        record.authorizer_configuration["customJWTAuthorizer"]["allowedClients"].append(client["ClientId"])
    return client["ClientId"], sandbox.cognito.mint_token(client["ClientId"], pool_id=sandbox.seeded.pool_id)


def test_before_the_rollout_anyone_reaches_the_open_gateway(sandbox: Sandbox) -> None:
    # The runtime has no authorizer: AgentCore takes IAM (SigV4) callers only, never an anonymous call or a token.
    token = sandbox.cognito.mint_token(sandbox.seeded.client_id, pool_id=sandbox.seeded.pool_id)
    assert ask(sandbox, "Check the warranty for PROD-002", session(), None, unsigned=True)[0] == 403
    assert ask(sandbox, "Check the warranty for PROD-002", session(), token)[0] == 403  # method mismatch
    status, text, tools = ask(sandbox, "Check the warranty for PROD-002", session(), None)  # signed by the IAM caller
    assert status == 200
    assert tools == [WARRANTY_TOOL]
    assert "PROD-002" in text
    calls = tool_calls(sandbox, "my-gateway")
    assert [(c.status, c.client_id) for c in calls] == [(200, None)]


def test_each_caller_sharing_a_session_reaches_the_gateway_with_its_own_token(sandbox: Sandbox) -> None:
    assert sandbox.wait(sandbox.start_rollout({}))["status"] == "SUCCEEDED"
    calls_after_rollout = len(tool_calls(sandbox, "my-gateway-secure"))
    alice_id = sandbox.seeded.client_id
    alice = sandbox.cognito.mint_token(alice_id, pool_id=sandbox.seeded.pool_id)
    bob_id, bob = second_client(sandbox)
    shared = session()

    for token in (alice, bob, alice):
        status, text, tools = ask(sandbox, "Check the warranty for PROD-001", shared, token)
        assert status == 200
        assert tools == [WARRANTY_TOOL]
        assert "PROD-001" in text
    callers = [c.client_id for c in tool_calls(sandbox, "my-gateway-secure")[calls_after_rollout:]]
    assert callers == [alice_id, bob_id, alice_id]

    # A token that expired mid-session is stopped at the runtime: the agent and the gateway never see it.
    expired = sandbox.cognito.mint_token(alice_id, pool_id=sandbox.seeded.pool_id, lifetime=-60)
    before = len(sandbox.gateway_plane.calls)
    status, _, _ = ask(sandbox, "Check the warranty for PROD-001", shared, expired)
    assert status == 403
    assert len(sandbox.gateway_plane.calls) == before

    # A new token in the same session works again, through a new gateway connection.
    fresh = sandbox.cognito.mint_token(alice_id, pool_id=sandbox.seeded.pool_id)
    status, _, tools = ask(sandbox, "Check the warranty for PROD-003", shared, fresh)
    assert (status, tools) == (200, [WARRANTY_TOOL])

    # Nothing the run wrote down contains any of the tokens.
    assert sandbox.agents.logs(), "agent logs were captured (the scan is not vacuous)"
    assert_no_credentials(
        sandbox,
        {
            "agent logs": sandbox.agents.logs(),
            "lambda logs": sandbox.lambdas.logs_of(),
            "gateway records": json.dumps([vars(c) for c in sandbox.gateway_plane.calls], default=str),
            "data plane records": json.dumps([vars(i) for i in sandbox.runtime_plane.invocations], default=str),
        },
    )
