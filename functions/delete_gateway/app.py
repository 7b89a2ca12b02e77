"""Step 4c: delete a gateway the AgentCore way: its targets first, then the gateway (asynchronous)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rollout_core import control
from rollout_core.errors import AgentCoreBusy, GatewayDeleteFailed

logger = Logger()
tracer = Tracer()


def delete_gateway(client: Any, gateway: dict[str, Any]) -> dict[str, Any]:
    gateway_id, name = gateway["id"], gateway["name"]
    result = {"kind": "gatewayDeleted", "id": gateway_id, "name": name, "changed": True, "ready": False, "attempt": 0}
    if control.get_gateway_or_none(client, gateway_id) is None:
        return {**result, "changed": False, "ready": True}  # already gone (e.g. a retried step)

    targets = control.list_targets(client, gateway_id)
    for target in targets:
        with control.control_plane_errors(GatewayDeleteFailed, f"DeleteGatewayTarget {target['name']}"):
            try:
                client.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target["targetId"])
            except ClientError as exc:
                if not control.is_not_found(exc):
                    raise
    remaining = control.list_targets(client, gateway_id)
    if remaining:
        # Target deletion may be asynchronous; the state machine retries this idempotent step with backoff.
        raise AgentCoreBusy(f"gateway {name} still has {len(remaining)} target(s) being deleted")
    with control.control_plane_errors(GatewayDeleteFailed, f"DeleteGateway {name}"):
        try:
            response = client.delete_gateway(gatewayIdentifier=gateway_id)
        except ClientError as exc:
            if not control.is_not_found(exc):
                raise
            return {**result, "ready": True}
    return {**result, "status": response.get("status"), "targetsDeleted": sorted(t["name"] for t in targets)}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = delete_gateway(control.agentcore_control(), event["gateway"])
    logger.info("gateway deletion requested", extra={"gateway": result["id"], "status": result.get("status")})
    return result
