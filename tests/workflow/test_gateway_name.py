"""A stack deployed with another GatewayName still gives a working agent: the agent learns the gateway URL's variable
from AGENTCORE_GATEWAY_NAME, which the rollout sets next to AGENTCORE_GATEWAY_<NAME>_URL."""

from __future__ import annotations

import json
import uuid

from sandbox.callers import ask
from sandbox.core import Sandbox

WARRANTY_TOOL = "WarrantyCheck___check_warranty"


def test_a_rollout_with_another_gateway_name_gives_a_working_agent() -> None:
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"GatewayName": "other-gw"}) as sandbox:
        execution = sandbox.run_rollout({})

        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        smoke = json.loads(execution["output"])["smoke"]
        assert smoke["passed"] is True
        control = sandbox.client("bedrock-agentcore-control")
        (gateway,) = [g for g in control.list_gateways()["items"] if g["name"] == "other-gw"]
        url = control.get_gateway(gatewayIdentifier=gateway["gatewayId"])["gatewayUrl"]
        env = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)["environmentVariables"]
        assert env["AGENTCORE_GATEWAY_OTHER_GW_URL"] == url
        assert env["AGENTCORE_GATEWAY_NAME"] == "other-gw"
        # The tutorial's variable is still there, pointing at the deleted open gateway: the agent must not use it.
        assert env["AGENTCORE_GATEWAY_MY_GATEWAY_URL"] == sandbox.seeded.old_gateway_url

        token = sandbox.cognito.mint_token(sandbox.seeded.client_id, pool_id=sandbox.seeded.pool_id)
        status, text, tools = ask(sandbox, "Check the warranty for PROD-001", f"gw-name-{uuid.uuid4()}", token)

        assert status == 200
        assert tools == [WARRANTY_TOOL]
        assert '"warranty_months": 12' in text
        calls = [c for c in sandbox.gateway_plane.calls if c.tool_name == WARRANTY_TOOL and c.status == 200]
        assert calls
        assert {c.gateway_name for c in calls} == {"other-gw"}
