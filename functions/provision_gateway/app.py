"""Step 4a: create the replacement gateway with the JWT authorizer (or fix a JWT gateway's authorizer in place), then
carry over what CreateGateway cannot take.

Step "provision" (the default) creates or updates the gateway. Step "carry" runs once a newly created gateway is READY:
it gives the new gateway the old one's tags (TagResource) and the settings only UpdateGateway accepts (e.g.
wafConfiguration, customTransformConfiguration), as listed in the plan's `afterCreate`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, desired, lifecycle
from rollout_core.errors import GatewayCreateFailed, InvalidExecutionInput
from rollout_core.observability import task_handler
from rollout_core.state import AwsRecord, GatewayHandle, GatewayPlan, ProvisionGatewayEvent

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient

logger = Logger()
tracer = Tracer()


def client_token(execution: str, purpose: str) -> str:
    """Idempotency token: a retried Lambda call within one execution creates nothing twice."""
    return hashlib.sha256(f"{execution}/{purpose}".encode()).hexdigest()[:48]


def _result(record: AwsRecord, changed: bool, settings_pending: bool = False) -> GatewayHandle:
    return {
        "kind": "gateway",
        "id": record["gatewayId"],
        "name": record["name"],
        "url": desired.normalize_gateway_url(record["gatewayUrl"]),
        "status": record.get("status"),
        "changed": changed,
        "ready": record.get("status") == lifecycle.READY and not changed,
        "attempt": 0,
        # The state machine runs step "carry" once the gateway is READY while this is true.
        "settingsPending": settings_pending,
    }


def provision_gateway(
    client: BedrockAgentCoreControlClient, gateway_plan: GatewayPlan, execution: str
) -> GatewayHandle:
    if gateway_plan["create"]:
        request = gateway_plan["createRequest"]
        if request is None:
            raise InvalidExecutionInput("provision_gateway: the plan creates a gateway but has no createRequest")
        carry = gateway_plan.get("afterCreate") is not None
        # A previous attempt of this execution may have created it already (Lambda retry after a timeout).
        found = agentcore.find_gateway(client, request["name"])
        if found is not None and found.get("authorizerType") == "CUSTOM_JWT":
            return _result(agentcore.get_gateway(client, found["gatewayId"]), changed=True, settings_pending=carry)
        with agentcore.control_plane_errors(GatewayCreateFailed, f"CreateGateway {request['name']}"):
            created: AwsRecord = dict(
                client.create_gateway(**request, clientToken=client_token(execution, request["name"]))
            )
        if not created.get("gatewayUrl"):  # optional in the CreateGateway response; GetGateway has it
            created = {**agentcore.get_gateway(client, created["gatewayId"]), "status": created.get("status")}
        return _result(created, changed=True, settings_pending=carry)

    existing = gateway_plan["existing"]
    if existing is None:
        raise InvalidExecutionInput("provision_gateway: the plan keeps a gateway but names no existing one")
    current = agentcore.get_gateway(client, existing["id"])
    if not gateway_plan["updateAuthorizer"]:
        return _result(current, changed=False)
    request = desired.gateway_update_request(current, gateway_plan["authorizerAfter"])
    with agentcore.control_plane_errors(GatewayCreateFailed, f"UpdateGateway {existing['name']}"):
        updated: AwsRecord = dict(client.update_gateway(**request))
    if not updated.get("gatewayUrl"):  # optional in the UpdateGateway response too
        updated["gatewayUrl"] = current["gatewayUrl"]
    return _result(updated, changed=True)


def carry_settings(
    client: BedrockAgentCoreControlClient, gateway: GatewayHandle, gateway_plan: GatewayPlan
) -> GatewayHandle:
    """Tags and UpdateGateway-only settings of the old gateway, applied to the new one (idempotent: a retry finds
    them in place and changes nothing)."""
    after = gateway_plan.get("afterCreate") or {"update": {}, "tags": {}}
    current = agentcore.get_gateway(client, gateway["id"])
    if after["tags"]:
        with agentcore.control_plane_errors(GatewayCreateFailed, f"TagResource {current['name']}"):
            client.tag_resource(resourceArn=current["gatewayArn"], tags=after["tags"])
    update = {field: value for field, value in after["update"].items() if current.get(field) != value}
    if not update:
        return _result(current, changed=False)
    request = desired.gateway_update_request(current, current["authorizerConfiguration"], update)
    with agentcore.control_plane_errors(GatewayCreateFailed, f"UpdateGateway {current['name']}"):
        updated: AwsRecord = dict(client.update_gateway(**request))
    return _result({**current, "status": updated.get("status")}, changed=True)


@task_handler(logger, tracer)
def lambda_handler(event: ProvisionGatewayEvent, context: LambdaContext) -> GatewayHandle:
    step = event.get("step", "provision")
    gateway_plan = event["plan"]["gateway"]
    if step == "provision":
        result = provision_gateway(agentcore.agentcore_control(), gateway_plan, event["executionArn"])
    elif step == "carry":
        result = carry_settings(agentcore.agentcore_control(), event["gateway"], gateway_plan)
    else:
        raise InvalidExecutionInput(f"provision_gateway got step {step!r}; expected 'provision' or 'carry'")
    logger.info("gateway provisioned", extra={"step": step, "gateway": result["id"], "changed": result["changed"]})
    return result
