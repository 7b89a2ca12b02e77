"""Step 4b: re-create every target the old gateway had on the new one (WarrantyCheck from the SSM Lambda ARN)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, lifecycle
from rollout_core.errors import GatewayTargetFailed
from rollout_core.observability import task_handler
from rollout_core.state import GatewayPlan, ProvisionTargetsEvent, TargetsHandle

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient

logger = Logger()
tracer = Tracer()


def provision_targets(
    client: BedrockAgentCoreControlClient, gateway_id: str, gateway_plan: GatewayPlan
) -> TargetsHandle:
    """Ready only when nothing was asked and every target of the gateway is READY: a target left FAILED by an
    earlier run is never taken for done (the plan replaces it; CheckTargets raises on it otherwise)."""
    # Names already present (e.g. a retried invocation) are not created twice.
    present = {t["name"]: t for t in agentcore.list_targets(client, gateway_id)}
    created: list[str] = []
    updated: list[str] = []
    for definition in gateway_plan["targetsToCreate"]:
        if definition["name"] in present:
            continue
        with agentcore.control_plane_errors(GatewayTargetFailed, f"CreateGatewayTarget {definition['name']}"):
            client.create_gateway_target(gatewayIdentifier=gateway_id, **definition)
        created.append(definition["name"])
    for definition in gateway_plan["targetsToUpdate"]:
        with agentcore.control_plane_errors(GatewayTargetFailed, f"UpdateGatewayTarget {definition['name']}"):
            client.update_gateway_target(gatewayIdentifier=gateway_id, **definition)
        updated.append(definition["name"])
    changed = bool(created or updated)
    all_ready = all(t.get("status") == lifecycle.READY for t in present.values())
    return {
        "kind": "targets",
        "id": gateway_id,
        "created": created,
        "updated": updated,
        "changed": changed,
        "ready": not changed and all_ready,
        "attempt": 0,
    }


@task_handler(logger, tracer)
def lambda_handler(event: ProvisionTargetsEvent, context: LambdaContext) -> TargetsHandle:
    result = provision_targets(agentcore.agentcore_control(), event["gateway"]["id"], event["plan"]["gateway"])
    logger.info("targets provisioned", extra={"targetsCreated": result["created"], "targetsUpdated": result["updated"]})
    return result
