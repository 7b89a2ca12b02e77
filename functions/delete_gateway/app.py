"""Step 4c: delete a gateway the AgentCore way, in two polled steps: its targets, then the gateway.

Both deletions are asynchronous on AWS (the resource stays listed as DELETING until it is gone). Step "targets" asks
for the deletion of every target not already DELETING (a DELETING target is never asked again) and the state machine
polls `targetsDeleted` until none is left; step "gateway" then deletes the gateway (refused while any target exists)
and the state machine polls `gatewayDeleted`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rollout_core import agentcore
from rollout_core.errors import GatewayDeleteFailed, InvalidExecutionInput
from rollout_core.observability import task_handler
from rollout_core.state import DeletedGateway, DeleteGatewayEvent, DeletionHandle

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient

logger = Logger()
tracer = Tracer()

DELETING = "DELETING"


def delete_targets(
    client: BedrockAgentCoreControlClient, gateway: DeletedGateway, names: list[str] | None = None
) -> DeletionHandle:
    """Every target of the gateway, or only those named (`names`: targets the plan replaces)."""
    gateway_id, name = gateway["id"], gateway["name"]
    result: DeletionHandle = {
        "kind": "targetsDeleted",
        "id": gateway_id,
        "name": name,
        "changed": False,
        "ready": True,
        "attempt": 0,
        "targetsDeleted": [],
    }
    if names is not None:
        result["names"] = sorted(names)
    if agentcore.get_gateway_or_none(client, gateway_id) is None:
        return {**result, "status": "DELETED"}  # already gone (e.g. a retried step)

    targets = [t for t in agentcore.list_targets(client, gateway_id) if names is None or t["name"] in names]
    requested = []
    for target in targets:
        if target["status"] == DELETING:
            continue  # its deletion is under way: asking again is refused, and pointless
        with agentcore.control_plane_errors(GatewayDeleteFailed, f"DeleteGatewayTarget {target['name']}"):
            try:
                client.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target["targetId"])
            except ClientError as exc:
                if not agentcore.is_not_found(exc):
                    raise
        requested.append(target["name"])
    summary = ", ".join(f"{t['name']}={DELETING}" for t in targets) or "no targets"
    return {
        **result,
        "changed": bool(requested),
        "ready": not targets,  # every target listed is now being deleted: poll until none is left
        "status": summary,
        "targetsDeleted": sorted(requested),
    }


def delete_gateway(client: BedrockAgentCoreControlClient, gateway: DeletedGateway) -> DeletionHandle:
    gateway_id, name = gateway["id"], gateway["name"]
    result: DeletionHandle = {
        "kind": "gatewayDeleted",
        "id": gateway_id,
        "name": name,
        "changed": True,
        "ready": False,
        "attempt": 0,
    }
    current = agentcore.get_gateway_or_none(client, gateway_id)
    if current is None:
        return {**result, "changed": False, "ready": True, "status": "DELETED"}  # already gone (a retried step)
    if current.get("status") == DELETING:
        return {**result, "changed": False, "status": DELETING}  # already asked: poll it
    with agentcore.control_plane_errors(GatewayDeleteFailed, f"DeleteGateway {name}"):
        try:
            response = client.delete_gateway(gatewayIdentifier=gateway_id)
        except ClientError as exc:
            if not agentcore.is_not_found(exc):
                raise
            return {**result, "ready": True, "status": "DELETED"}
    return {**result, "status": response.get("status")}


STEPS = {"targets": delete_targets, "gateway": delete_gateway}


@task_handler(logger, tracer)
def lambda_handler(event: DeleteGatewayEvent, context: LambdaContext) -> DeletionHandle:
    step = event.get("step")
    if step not in STEPS:
        raise InvalidExecutionInput(f"delete_gateway got step {step!r}; expected one of {sorted(STEPS)}")
    client = agentcore.agentcore_control()
    if step == "targets" and event.get("targets") is not None:
        result = delete_targets(client, event["gateway"], [t["name"] for t in event["targets"]])
    else:
        result = STEPS[step](client, event["gateway"])
    logger.info("deletion requested", extra={"step": step, "gateway": result["id"], "status": result.get("status")})
    return result
