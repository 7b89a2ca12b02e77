"""DeleteGateway: the old gateway's targets, then the gateway itself."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore
from rollout_core.errors import (
    GatewayDeleteFailed,
    InvalidExecutionInput,
)
from rollout_core.state import DeletedGateway, DeleteGatewayEvent

from functions.check_status import app as check_status
from functions.delete_gateway import app
from tests.unit.helpers import (
    RecordingClient,
    Seeded,
    as_agentcore,
    client_error,
    create_gateway_with_targets,
    target_names,
)


def test_delete_gateway_deletes_targets_then_gateway(client: Any, seeded: Seeded) -> None:
    recording = RecordingClient(client)
    gateway: DeletedGateway = {"id": seeded.old_gateway_id, "name": "my-gateway"}
    targets = app.delete_targets(as_agentcore(recording), gateway)
    assert recording.calls == [
        ("delete_gateway_target", seeded.target_ids["WarrantyCheck"]),
        ("delete_gateway_target", seeded.target_ids["ShippingEstimate"]),
    ]
    assert targets["kind"] == "targetsDeleted"
    assert (targets["changed"], targets["ready"]) == (True, False)  # the state machine polls until none is left
    assert targets["targetsDeleted"] == ["ShippingEstimate", "WarrantyCheck"]

    deleted = app.delete_gateway(as_agentcore(recording), gateway)
    assert recording.calls[-1] == ("delete_gateway", seeded.old_gateway_id)
    assert (deleted["kind"], deleted["changed"], deleted["ready"]) == ("gatewayDeleted", True, False)
    assert agentcore.get_gateway_or_none(client, seeded.old_gateway_id) is None


class DeletingTargets(RecordingClient):
    """AWS's asynchronous target deletion: targets listed with a status; DeleteGatewayTarget refuses DELETING ones."""

    def __init__(self, inner: Any, statuses: dict[str, str]) -> None:
        super().__init__(inner)
        self.statuses = statuses  # target id -> status

    def __getattr__(self, name: str) -> Any:
        if name == "get_gateway_target":

            def get(**kwargs: Any) -> Any:
                return {**self.inner.get_gateway_target(**kwargs), "status": self.statuses[kwargs["targetId"]]}

            return get
        if name == "delete_gateway_target":

            def delete(**kwargs: Any) -> Any:
                self.calls.append((name, kwargs["targetId"]))
                if self.statuses[kwargs["targetId"]] == "DELETING":
                    raise client_error("ConflictException", "already being deleted", "DeleteGatewayTarget")
                self.statuses[kwargs["targetId"]] = "DELETING"
                return {"status": "DELETING"}

            return delete
        return super().__getattr__(name)


def test_delete_targets_never_asks_again_for_a_deleting_target(client: Any, seeded: Seeded) -> None:
    warranty, shipping = seeded.target_ids["WarrantyCheck"], seeded.target_ids["ShippingEstimate"]
    aws = DeletingTargets(client, {warranty: "DELETING", shipping: "FAILED"})
    result = app.delete_targets(as_agentcore(aws), {"id": seeded.old_gateway_id, "name": "my-gateway"})
    assert aws.calls == [("delete_gateway_target", shipping)]  # a FAILED target is asked again, DELETING never
    assert result["targetsDeleted"] == ["ShippingEstimate"]
    assert result["ready"] is False
    # A retried step (every target DELETING) asks for nothing.
    again = app.delete_targets(as_agentcore(aws), {"id": seeded.old_gateway_id, "name": "my-gateway"})
    assert aws.calls == [("delete_gateway_target", shipping)]
    assert (again["changed"], again["ready"], again["status"]) == (
        False,
        False,
        "WarrantyCheck=DELETING, ShippingEstimate=DELETING",
    )


def test_delete_targets_of_a_gateway_without_targets_is_ready(client: Any, aws: None) -> None:
    gateway = create_gateway_with_targets(client, "empty")
    result = app.delete_targets(client, {"id": gateway["gatewayId"], "name": "empty"})
    assert (result["changed"], result["ready"], result["status"]) == (False, True, "no targets")


def test_delete_targets_by_name_deletes_only_those(client: Any, seeded: Seeded) -> None:
    """The plan replaces a FAILED target: only it is deleted, and only it is polled until gone."""
    recording = RecordingClient(client)
    gateway: DeletedGateway = {"id": seeded.old_gateway_id, "name": "my-gateway"}
    result = app.delete_targets(as_agentcore(recording), gateway, ["ShippingEstimate"])
    assert result["targetsDeleted"] == ["ShippingEstimate"]
    assert result["names"] == ["ShippingEstimate"]
    assert recording.calls == [("delete_gateway_target", seeded.target_ids["ShippingEstimate"])]
    assert target_names(client, seeded.old_gateway_id) == ["WarrantyCheck"]  # plain moto deletes at once
    assert check_status.check(client, result, 5)["ready"] is True  # WarrantyCheck (READY) is not waited for


def test_delete_gateway_noop_when_gone(client: Any, seeded: Seeded) -> None:
    for target_id in seeded.target_ids.values():
        client.delete_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=target_id)
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    recording = RecordingClient(client)
    for step in ("delete_targets", "delete_gateway"):
        result = getattr(app, step)(as_agentcore(recording), {"id": seeded.old_gateway_id, "name": "my-gateway"})
        assert (result["changed"], result["ready"]) == (False, True)
    assert recording.calls == []


def test_delete_gateway_never_asks_again_while_deleting(client: Any, seeded: Seeded, backend: Any) -> None:
    backend.gateways[seeded.old_gateway_id].status = "DELETING"
    recording = RecordingClient(client)
    result = app.delete_gateway(as_agentcore(recording), {"id": seeded.old_gateway_id, "name": "my-gateway"})
    assert recording.calls == []
    assert (result["changed"], result["ready"], result["status"]) == (False, False, "DELETING")


def test_delete_gateway_refused(client: Any, seeded: Seeded) -> None:
    class Refusing(RecordingClient):
        def __getattr__(self, name: str) -> Any:
            if name == "delete_gateway":

                def refuse(**kwargs: Any) -> Any:
                    raise client_error("ValidationException", "gateway has targets", "DeleteGateway")

                return refuse
            return super().__getattr__(name)

    with pytest.raises(GatewayDeleteFailed, match="DeleteGateway my-gateway: ValidationException: gateway has targets"):
        app.delete_gateway(as_agentcore(Refusing(client)), {"id": seeded.old_gateway_id, "name": "my-gateway"})


def test_delete_gateway_handler(client: Any, seeded: Seeded, context: LambdaContext) -> None:
    gateway: DeletedGateway = {"id": seeded.old_gateway_id, "name": "my-gateway"}
    targets = app.lambda_handler({"gateway": gateway, "step": "targets", "executionArn": "arn:execution"}, context)
    assert targets["kind"] == "targetsDeleted"
    deleted = app.lambda_handler({"gateway": gateway, "step": "gateway", "executionArn": "arn:execution"}, context)
    assert deleted["kind"] == "gatewayDeleted"
    assert agentcore.find_gateway(client, "my-gateway") is None
    with pytest.raises(InvalidExecutionInput, match="delete_gateway got step None; expected one of"):
        app.lambda_handler(cast(DeleteGatewayEvent, {"gateway": gateway}), context)  # no step: refused
