"""ProvisionTargets: the new gateway's Lambda targets, created or updated to the desired schema."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, desired
from rollout_core.errors import (
    GatewayTargetFailed,
)
from rollout_core.planner import build_plan
from rollout_core.state import Config, GatewayPlan

from functions.check_status import app as check_status
from functions.provision_gateway import app as provision_gateway
from functions.provision_targets import app
from tests.unit.helpers import (
    WARRANTY_ARN,
    as_agentcore,
    client_error,
    target_names,
)


def test_provision_targets_skips_existing_names(client: Any, config: Config, backend: Any) -> None:
    plan = build_plan(client, config)
    gateway = provision_gateway.provision_gateway(client, plan["gateway"], "execution-1")
    first = app.provision_targets(client, gateway["id"], plan["gateway"])
    assert first["created"] == ["ShippingEstimate", "WarrantyCheck"]
    assert first["changed"] is True
    assert first["ready"] is False
    second = app.provision_targets(client, gateway["id"], plan["gateway"])
    assert second["created"] == []
    assert second["changed"] is False
    assert second["ready"] is True
    assert target_names(client, gateway["id"]) == ["ShippingEstimate", "WarrantyCheck"]
    warranty = next(t for t in agentcore.list_targets(client, gateway["id"]) if t["name"] == "WarrantyCheck")
    assert desired.target_lambda_arn(warranty) == WARRANTY_ARN


def test_provision_targets_never_takes_a_failed_target_for_done(client: Any, config: Config, backend: Any) -> None:
    plan = build_plan(client, config)
    gateway = provision_gateway.provision_gateway(client, plan["gateway"], "execution-1")
    app.provision_targets(client, gateway["id"], plan["gateway"])
    for target in backend.gateway_targets.values():
        if target.gateway_id == gateway["id"] and target.name == "ShippingEstimate":
            target.status = "FAILED"
    # Nothing to ask (the names exist), yet not ready: CheckTargets reads the FAILED target and fails by name.
    again = app.provision_targets(client, gateway["id"], plan["gateway"])
    assert (again["changed"], again["ready"]) == (False, False)
    with pytest.raises(GatewayTargetFailed, match="gateway target ShippingEstimate is FAILED"):
        check_status.check(client, again, 5)


def test_provision_targets_updates_drifted(client: Any, config: Config) -> None:
    plan = build_plan(client, config)
    gateway = provision_gateway.provision_gateway(client, plan["gateway"], "execution-1")
    app.provision_targets(client, gateway["id"], plan["gateway"])
    warranty = next(t for t in agentcore.list_targets(client, gateway["id"]) if t["name"] == "WarrantyCheck")
    fixed = desired.warranty_target_definition("WarrantyCheck", WARRANTY_ARN + "V2")
    drifted = {"targetsToCreate": [], "targetsToUpdate": [{**fixed, "targetId": warranty["targetId"]}]}
    result = app.provision_targets(client, gateway["id"], cast(GatewayPlan, drifted))  # the part it reads
    assert result["updated"] == ["WarrantyCheck"]
    after = client.get_gateway_target(gatewayIdentifier=gateway["id"], targetId=warranty["targetId"])
    assert desired.target_lambda_arn(after) == WARRANTY_ARN + "V2"


def test_provision_targets_refused() -> None:
    class Refusing:
        def list_gateway_targets(self, **kwargs: Any) -> Any:
            return {"items": []}

        def create_gateway_target(self, **kwargs: Any) -> Any:
            raise client_error("ValidationException", "bad schema", "CreateGatewayTarget")

    plan = cast(GatewayPlan, {"targetsToCreate": [{"name": "WarrantyCheck"}], "targetsToUpdate": []})
    with pytest.raises(GatewayTargetFailed, match="CreateGatewayTarget WarrantyCheck: ValidationException: bad schema"):
        app.provision_targets(as_agentcore(Refusing()), "gw", plan)


def test_provision_targets_handler(client: Any, config: Config, context: LambdaContext) -> None:
    plan = build_plan(client, config)
    gateway = provision_gateway.provision_gateway(client, plan["gateway"], "execution-1")
    result = app.lambda_handler({"gateway": gateway, "plan": plan, "executionArn": "arn:exec"}, context)
    assert sorted(result["created"]) == target_names(client, gateway["id"])
