"""The sandbox's AgentCore control plane read back, shared by the workflow tests that check what a run left."""

from __future__ import annotations

from typing import Any

from sandbox.core import Sandbox


def agentcore_control(sandbox: Sandbox) -> Any:
    return sandbox.client("bedrock-agentcore-control")


def gateways_by_name(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """name -> GetGateway of every gateway."""
    control = agentcore_control(sandbox)
    return {
        g["name"]: dict(control.get_gateway(gatewayIdentifier=g["gatewayId"])) for g in control.list_gateways()["items"]
    }


def target_statuses(sandbox: Sandbox, gateway_id: str) -> dict[str, str]:
    """name -> status of every target of the gateway."""
    items = agentcore_control(sandbox).list_gateway_targets(gatewayIdentifier=gateway_id)["items"]
    return {t["name"]: t["status"] for t in items}


def warranty_target_lambda(sandbox: Sandbox) -> str:
    """The Lambda ARN the secured gateway's WarrantyCheck target calls (what the last SSM value put there)."""
    control = sandbox.client("bedrock-agentcore-control")
    gateway = next(g for g in control.list_gateways()["items"] if g["name"] == "my-gateway-secure")
    summaries = control.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]
    warranty = next(t for t in summaries if t["name"] == "WarrantyCheck")
    target = control.get_gateway_target(gatewayIdentifier=gateway["gatewayId"], targetId=warranty["targetId"])
    return str(target["targetConfiguration"]["mcp"]["lambda"]["lambdaArn"])


def give_runtime_an_authorizer(sandbox: Sandbox, authorizer: dict[str, Any]) -> None:
    """Someone else's full-replace UpdateAgentRuntime that keeps the runtime's settings and sets `authorizer` (the
    update takes AgentCore's time: wrap it in `sandbox.behaviour.instantly()` for a READY runtime at once)."""
    control = agentcore_control(sandbox)
    current = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    control.update_agent_runtime(
        agentRuntimeId=sandbox.seeded.runtime_id,
        agentRuntimeArtifact=current["agentRuntimeArtifact"],
        roleArn=current["roleArn"],
        networkConfiguration=current["networkConfiguration"],
        environmentVariables=current["environmentVariables"],
        authorizerConfiguration=authorizer,
    )
