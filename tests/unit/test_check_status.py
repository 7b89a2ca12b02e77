"""CheckStatus: one bounded poll of a runtime, endpoint, gateway or target set."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore
from rollout_core.errors import (
    GatewayCreateFailed,
    GatewayDeleteFailed,
    GatewayTargetFailed,
    InvalidExecutionInput,
    ResourceWaitTimeout,
    RuntimeUpdateFailed,
)
from rollout_core.state import CheckStatusEvent, PollHandle

from functions.check_status import app
from tests.unit.helpers import (
    RecordingClient,
    Seeded,
    as_agentcore,
    client_error,
    create_gateway_with_targets,
    default_endpoint,
    make_live,
    switch,
)


def check(client: Any, kind: str, resource_id: str, attempt: int = 0, max_polls: int = 5) -> Any:
    # Partial on purpose: a handle before its first poll has no status/ready yet, and `kind` may be a bad one.
    return app.check(client, cast(PollHandle, {"kind": kind, "id": resource_id, "attempt": attempt}), max_polls)


def test_check_runtime(client: Any, seeded: Seeded, backend: Any) -> None:
    ready = check(client, "runtime", seeded.runtime_id, attempt=2)
    assert ready == {"kind": "runtime", "id": seeded.runtime_id, "status": "READY", "ready": True, "attempt": 3}
    backend.agent_runtimes[seeded.runtime_id].status = "UPDATING"
    assert check(client, "runtime", seeded.runtime_id)["ready"] is False
    with pytest.raises(ResourceWaitTimeout, match="still UPDATING after 5 polls"):
        check(client, "runtime", seeded.runtime_id, attempt=4)
    backend.agent_runtimes[seeded.runtime_id].status = "UPDATE_FAILED"
    with pytest.raises(RuntimeUpdateFailed, match="runtime CustomerSupport is UPDATE_FAILED"):
        check(client, "runtime", seeded.runtime_id)


def check_live(client: Any, runtime_id: str, version: Any, attempt: int = 0) -> Any:
    resource = cast(PollHandle, {"kind": "runtimeLive", "id": runtime_id, "version": version, "attempt": attempt})
    return app.check(client, resource, 5)


def test_check_runtime_live_waits_for_default_to_serve_the_version(client: Any, seeded: Seeded, backend: Any) -> None:
    update = switch(client, seeded.runtime_id)
    backend.agent_runtimes[seeded.runtime_id].status = "READY"  # READY, but DEFAULT still serves version 1
    waiting = check_live(client, seeded.runtime_id, update["version"])
    default_endpoint(backend, seeded.runtime_id).update(agent_runtime_version=update["version"], description=None)
    moving = check_live(client, seeded.runtime_id, update["version"], attempt=1)
    make_live(backend, seeded.runtime_id)
    live = check_live(client, seeded.runtime_id, update["version"], attempt=2)

    assert [(r["ready"], r["attempt"]) for r in (waiting, moving, live)] == [(False, 1), (False, 2), (True, 3)]
    assert moving["status"] == "UPDATING (live version 1, waiting for 2)"
    assert live == {
        "kind": "runtimeLive",
        "id": seeded.runtime_id,
        "version": "2",
        "status": "READY (live version 2, waiting for 2)",
        "ready": True,
        "attempt": 3,
    }


def test_check_runtime_live_failures(client: Any, seeded: Seeded, backend: Any) -> None:
    endpoint = default_endpoint(backend, seeded.runtime_id)
    endpoint.update(agent_runtime_version="2", description=None)
    with pytest.raises(ResourceWaitTimeout, match="version 2 still not live after 5 polls"):
        check_live(client, seeded.runtime_id, "2", attempt=4)
    endpoint.status = "UPDATE_FAILED"
    with pytest.raises(RuntimeUpdateFailed, match="DEFAULT endpoint is UPDATE_FAILED"):
        check_live(client, seeded.runtime_id, "2")
    with pytest.raises(InvalidExecutionInput, match="runtimeLive needs the runtime version; got None"):
        check_live(client, seeded.runtime_id, None)


def test_check_gateway(client: Any, seeded: Seeded, backend: Any) -> None:
    assert check(client, "gateway", seeded.old_gateway_id)["status"] == "READY"
    backend.gateways[seeded.old_gateway_id].status = "UPDATING"
    assert check(client, "gateway", seeded.old_gateway_id, attempt=0, max_polls=2)["ready"] is False
    with pytest.raises(ResourceWaitTimeout):
        check(client, "gateway", seeded.old_gateway_id, attempt=1, max_polls=2)
    backend.gateways[seeded.old_gateway_id].status = "FAILED"
    with pytest.raises(GatewayCreateFailed, match="gateway my-gateway is FAILED"):
        check(client, "gateway", seeded.old_gateway_id)


def test_check_targets(client: Any, seeded: Seeded, backend: Any) -> None:
    ready = check(client, "targets", seeded.old_gateway_id)
    assert ready["ready"] is True
    assert ready["status"] == "WarrantyCheck=READY, ShippingEstimate=READY"
    shipping = backend.gateway_targets[(seeded.old_gateway_id, seeded.target_ids["ShippingEstimate"])]
    shipping.status = "SYNCHRONIZING"
    pending = check(client, "targets", seeded.old_gateway_id)
    assert pending["ready"] is False
    assert "ShippingEstimate=SYNCHRONIZING" in pending["status"]
    shipping.status = "FAILED"
    with pytest.raises(GatewayTargetFailed, match="gateway target ShippingEstimate is FAILED"):
        check(client, "targets", seeded.old_gateway_id)
    shipping.status = "CREATE_PENDING_AUTH"
    with pytest.raises(GatewayTargetFailed, match="OAuth consent"):
        check(client, "targets", seeded.old_gateway_id)


def test_check_targets_of_empty_gateway(client: Any, aws: None) -> None:
    gateway = create_gateway_with_targets(client, "empty")
    assert check(client, "targets", gateway["gatewayId"])["status"] == "no targets"


def test_check_gateway_deleted(client: Any, seeded: Seeded, backend: Any) -> None:
    with pytest.raises(GatewayDeleteFailed, match="gateway my-gateway was asked to delete but is READY"):
        check(client, "gatewayDeleted", seeded.old_gateway_id)
    backend.gateways[seeded.old_gateway_id].status = "DELETING"
    deleting = check(client, "gatewayDeleted", seeded.old_gateway_id)
    assert (deleting["status"], deleting["ready"], deleting["attempt"]) == ("DELETING", False, 1)
    with pytest.raises(ResourceWaitTimeout, match="deletion still DELETING after 5 polls"):
        check(client, "gatewayDeleted", seeded.old_gateway_id, attempt=4)
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    gone = check(client, "gatewayDeleted", seeded.old_gateway_id)
    assert (gone["status"], gone["ready"]) == ("DELETED", True)


def test_check_targets_deleted(client: Any, seeded: Seeded, backend: Any) -> None:
    records = {name: backend.gateway_targets[(seeded.old_gateway_id, tid)] for name, tid in seeded.target_ids.items()}
    for record in records.values():
        record.status = "DELETING"
    deleting = check(client, "targetsDeleted", seeded.old_gateway_id)
    assert (deleting["ready"], deleting["attempt"]) == (False, 1)
    assert deleting["status"] == "WarrantyCheck=DELETING, ShippingEstimate=DELETING"
    with pytest.raises(ResourceWaitTimeout, match=r"deletion of targets .* still DELETING after 5 polls"):
        check(client, "targetsDeleted", seeded.old_gateway_id, attempt=4)
    records["ShippingEstimate"].status = "FAILED"
    records["ShippingEstimate"].status_reasons = ["in use by a policy"]
    with pytest.raises(GatewayDeleteFailed, match="gateway target ShippingEstimate was asked to delete but is FAILED"):
        check(client, "targetsDeleted", seeded.old_gateway_id)
    for target_id in seeded.target_ids.values():
        client.delete_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=target_id)
    gone = check(client, "targetsDeleted", seeded.old_gateway_id)
    assert (gone["status"], gone["ready"]) == ("no targets", True)
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    assert check(client, "targetsDeleted", seeded.old_gateway_id)["ready"] is True


def test_list_targets_skips_a_target_gone_between_list_and_get(client: Any, seeded: Seeded) -> None:
    class Vanishing(RecordingClient):
        def __getattr__(self, name: str) -> Any:
            if name == "get_gateway_target":

                def get(**kwargs: Any) -> Any:
                    if kwargs["targetId"] == seeded.target_ids["WarrantyCheck"]:
                        raise client_error("ResourceNotFoundException", "gone", "GetGatewayTarget")
                    return self.inner.get_gateway_target(**kwargs)

                return get
            return super().__getattr__(name)

    assert [t["name"] for t in agentcore.list_targets(as_agentcore(Vanishing(client)), seeded.old_gateway_id)] == [
        "ShippingEstimate"
    ]


def test_check_unknown_kind(client: Any, aws: None) -> None:
    with pytest.raises(InvalidExecutionInput, match="check_status got resource kind 'endpoint'"):
        check(client, "endpoint", "x")


def test_check_status_handler(seeded: Seeded, context: LambdaContext) -> None:
    # As the Task passes it: maxPolls from the deployment's setting (a string), a handle not polled yet.
    event = cast(
        CheckStatusEvent, {"resource": {"kind": "gateway", "id": seeded.old_gateway_id, "attempt": 0}, "maxPolls": "3"}
    )
    result = app.lambda_handler(event, context)
    assert (result["ready"], result["attempt"]) == (True, 1)
