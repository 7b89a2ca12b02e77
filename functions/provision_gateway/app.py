"""Step 4a: create the replacement gateway with the JWT authorizer (or fix a JWT gateway's authorizer in place)."""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import control
from rollout_core.errors import GatewayCreateFailed

logger = Logger()
tracer = Tracer()


def client_token(execution: str, purpose: str) -> str:
    """Idempotency token: a retried Lambda call within one execution creates nothing twice."""
    return hashlib.sha256(f"{execution}/{purpose}".encode()).hexdigest()[:48]


def _result(record: dict[str, Any], changed: bool) -> dict[str, Any]:
    return {
        "kind": "gateway",
        "id": record["gatewayId"],
        "name": record["name"],
        "url": control.normalize_gateway_url(record["gatewayUrl"]),
        "status": record.get("status"),
        "changed": changed,
        "ready": record.get("status") == control.READY and not changed,
        "attempt": 0,
    }


def provision_gateway(client: Any, gateway_plan: dict[str, Any], execution: str) -> dict[str, Any]:
    if gateway_plan["create"]:
        request = gateway_plan["createRequest"]
        # A previous attempt of this execution may have created it already (Lambda retry after a timeout).
        found = control.find_gateway(client, request["name"])
        if found is not None and found.get("authorizerType") == "CUSTOM_JWT":
            return _result(control.get_gateway(client, found["gatewayId"]), changed=True)
        with control.control_plane_errors(GatewayCreateFailed, f"CreateGateway {request['name']}"):
            created = dict(client.create_gateway(**request, clientToken=client_token(execution, request["name"])))
        if not created.get("gatewayUrl"):  # optional in the CreateGateway response; GetGateway has it
            created = {**control.get_gateway(client, created["gatewayId"]), "status": created.get("status")}
        return _result(created, changed=True)

    existing = gateway_plan["existing"]
    current = control.get_gateway(client, existing["id"])
    if not gateway_plan["updateAuthorizer"]:
        return _result(current, changed=False)
    request = control.gateway_update_request(current, gateway_plan["authorizerAfter"])
    with control.control_plane_errors(GatewayCreateFailed, f"UpdateGateway {existing['name']}"):
        updated = dict(client.update_gateway(**request))
    if not updated.get("gatewayUrl"):  # optional in the UpdateGateway response too
        updated["gatewayUrl"] = current["gatewayUrl"]
    return _result(updated, changed=True)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = provision_gateway(control.agentcore_control(), event["plan"]["gateway"], event["execution"])
    logger.info("gateway provisioned", extra={"gateway": result["id"], "changed": result["changed"]})
    return result
