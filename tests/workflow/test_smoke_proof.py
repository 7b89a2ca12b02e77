"""The smoke test proves the secured gateway itself, whatever tool the model picks for the agent-path question.

A real Bedrock model may answer "Check the warranty for PROD-001" from the local product catalogue instead of the
gateway's WarrantyCheck tool. The rollout therefore calls the new gateway directly (MCP initialize, tools/list,
tools/call with the minted token; no token -> 401; tampered -> 401/403), and `agentToolCheck` says how strict the
agent-path question is: `require` (the answer must come from the gateway tool) or `answer` (a 2xx answer suffices).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.core import Sandbox
from sandbox.lambdas import FunctionCode
from tests.workflow.helpers.failure import failure_message
from tests.workflow.helpers.leaks import assert_no_credentials

WARRANTY_TOOL = "WarrantyCheck___check_warranty"
LOCAL_ANSWER_AGENT = (Path(__file__).parent / "local_answer_agent" / "serve.py").resolve()
WARRANTY_FUNCTION = "CustomerSupportWarrantyCheck"


def _message(execution: dict[str, Any]) -> str:
    return failure_message(execution)


def _published(sandbox: Sandbox, execution: dict) -> dict[str, str]:
    return {
        "execution history": json.dumps(sandbox.history(execution["executionArn"]), default=str),
        "execution result": json.dumps({k: execution.get(k) for k in ("output", "cause")}, default=str),
        "lambda logs": sandbox.lambdas.logs_of(),
    }


def _smoke_calls(sandbox: Sandbox) -> list:
    """The new gateway's requests made with the rollout's own app client (the agent's and the smoke test's)."""
    return [c for c in sandbox.gateway_plane.calls if c.gateway_name == "my-gateway-secure"]


def test_strict_tool_check_fails_by_name_when_the_agent_answers_from_a_local_tool(sandbox: Sandbox) -> None:
    sandbox.agents.agent_entry = LOCAL_ANSWER_AGENT
    execution = sandbox.wait(sandbox.start_rollout({"agentToolCheck": "require"}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SmokeTestFailed"
    message = _message(execution)
    assert "warranty question (agentToolCheck=require)" in message
    assert WARRANTY_TOOL in message
    assert "get_product_info" in message  # what the agent did use
    # Only the agent-path question failed: the gateway itself was proven.
    assert "gateway" not in message.split("warranty question")[0]
    assert_no_credentials(sandbox, _published(sandbox, execution))


def test_lenient_tool_check_still_proves_the_gateway_directly(sandbox: Sandbox) -> None:
    sandbox.agents.agent_entry = LOCAL_ANSWER_AGENT
    execution = sandbox.wait(sandbox.start_rollout({"agentToolCheck": "answer"}))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    smoke = json.loads(execution["output"])["smoke"]
    assert smoke["agentToolCheck"] == "answer"
    assert smoke["warranty"]["status"] == 200
    assert smoke["warranty"]["toolsUsed"] == ["get_product_info"]
    assert "12 months" in smoke["warranty"]["answerExcerpt"]
    gateway = smoke["gateway"]
    control = sandbox.client("bedrock-agentcore-control")
    new = next(g for g in control.list_gateways()["items"] if g["name"] == "my-gateway-secure")
    assert gateway["url"] == control.get_gateway(gatewayIdentifier=new["gatewayId"])["gatewayUrl"]
    assert gateway["expectedTool"] == WARRANTY_TOOL
    checks = {name: gateway[name] for name in ("initialize", "toolsList", "toolsCall", "withoutToken", "tamperedToken")}
    assert {check["endpoint"] for check in checks.values()} == {"gateway"}
    assert all(check["expected"] for check in checks.values())
    assert checks["initialize"]["status"] == 200
    assert WARRANTY_TOOL in checks["toolsList"]["tools"]
    assert checks["toolsCall"]["status"] == 200
    assert checks["toolsCall"]["tools"] == [WARRANTY_TOOL]
    assert checks["toolsCall"]["isError"] is False
    assert "PROD-001" in checks["toolsCall"]["answerExcerpt"]
    assert checks["withoutToken"]["status"] == 401
    assert checks["withoutToken"]["wwwAuthenticate"] is True
    assert checks["tamperedToken"]["status"] in (401, 403)
    # The gateway's own record: the tool ran once - for the smoke test's direct call, with the rollout's client.
    tool_calls = [c for c in _smoke_calls(sandbox) if c.tool_name == WARRANTY_TOOL]
    assert [(c.status, c.client_id) for c in tool_calls] == [(200, sandbox.seeded.client_id)]
    assert sorted(c.status for c in _smoke_calls(sandbox) if c.client_id is None) == [401, 403]
    assert_no_credentials(sandbox, _published(sandbox, execution))


def test_a_broken_target_lambda_fails_the_direct_tool_call_even_when_the_agent_answers(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    broken = tmp_path / "broken_warranty"
    broken.mkdir()
    (broken / "app.py").write_text(
        "def lambda_handler(event, context):\n    raise RuntimeError('warranty database unreachable')\n"
    )
    sandbox.lambdas.register(WARRANTY_FUNCTION, FunctionCode(broken))
    execution = sandbox.wait(sandbox.start_rollout({}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SmokeTestFailed"
    message = _message(execution)
    assert "gateway tools/call" in message
    assert WARRANTY_TOOL in message
    assert "warranty question" not in message  # the agent answered (2xx) - only the direct check caught it
    assert_no_credentials(sandbox, _published(sandbox, execution))


def test_a_missing_target_lambda_fails_the_direct_tool_call(sandbox: Sandbox) -> None:
    sandbox.client("lambda").delete_function(FunctionName=WARRANTY_FUNCTION)
    execution = sandbox.wait(sandbox.start_rollout({"agentToolCheck": "answer"}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SmokeTestFailed"
    message = _message(execution)
    assert "gateway tools/call" in message
    assert "warranty question" not in message


def test_a_gateway_with_mcp_sessions_is_checked_inside_the_session_it_issues(sandbox: Sandbox) -> None:
    """The tutorial's gateway has sessions enabled; the new gateway inherits its protocol configuration."""
    from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

    old = bedrockagentcorecontrol_backends[sandbox.account_id][sandbox.region].gateways[sandbox.seeded.old_gateway_id]
    assert old.protocol_configuration is not None
    old.protocol_configuration["mcp"]["sessionConfiguration"] = {"sessionTimeoutInSeconds": 900}
    execution = sandbox.wait(sandbox.start_rollout({"agentToolCheck": "require"}))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    gateway = json.loads(execution["output"])["smoke"]["gateway"]
    assert gateway["initialize"]["sessionIssued"] is True
    assert gateway["toolsCall"]["status"] == 200
    calls = _smoke_calls(sandbox)
    # Every MCP request of the rollout's client was admitted: the smoke test and the agent sent the session id back
    # (the agent's MCP client also probes the 2026-era server/discover first, which this gateway version refuses).
    admitted = [(c.method, c.status) for c in calls if c.client_id == sandbox.seeded.client_id]
    assert [(m, s) for m, s in admitted if s not in (200, 202) and m != "server/discover"] == []
    assert ("tools/call", 200) in admitted
    assert any(c.reason == "session ended" for c in calls)  # and ended its session
