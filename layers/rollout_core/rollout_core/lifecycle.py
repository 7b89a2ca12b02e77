"""Where a resource is in its lifecycle: the status sets AgentCore reports, one poll's verdict (`settle`,
`version_live`: done, poll again, or fail), and the named failures a status means, with the service's reasons."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rollout_core.errors import (
    GatewayCreateFailed,
    GatewayDeleteFailed,
    GatewayTargetFailed,
    ResourceWaitTimeout,
    RolloutError,
    RuntimeUpdateFailed,
)
from rollout_core.state import AwsRecord, RuntimeHandle

RuntimeHandleT = TypeVar("RuntimeHandleT", bound=RuntimeHandle)

READY = "READY"
RUNTIME_PENDING = {"CREATING", "UPDATING"}
RUNTIME_FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "DELETING"}
GATEWAY_PENDING = {"CREATING", "UPDATING"}
GATEWAY_FAILED = {"FAILED", "UPDATE_UNSUCCESSFUL", "DELETING"}
TARGET_PENDING = {"CREATING", "UPDATING", "SYNCHRONIZING"}
ENDPOINT_FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "DELETING", "DELETE_FAILED"}
ENDPOINT_PENDING = {"CREATING", "UPDATING"}


def reasons(record: AwsRecord) -> str:
    """The service's reasons for a status (statusReasons or failureReason), for messages."""
    given = record.get("statusReasons") or ([record["failureReason"]] if record.get("failureReason") else [])
    return "; ".join(str(r) for r in given) or "no reason given by the service"


def settle(
    status: str,
    pending: set[str],
    failed: Callable[[], RolloutError] | None,
    attempt: int,
    max_polls: int,
    what: str,
) -> bool:
    """True when done, False to poll again; raises on failure or when the poll budget is spent."""
    if status == READY:
        return True
    if status in pending:
        if attempt + 1 >= max_polls:
            raise ResourceWaitTimeout(f"{what} still {status} after {attempt + 1} polls (maxPolls={max_polls})")
        return False
    if failed is not None:
        raise failed()
    raise ResourceWaitTimeout(f"{what} is in unexpected status {status}")


def _newer(version: Any, than: str) -> bool:
    return str(version).isdigit() and than.isdigit() and int(str(version)) > int(than)


def version_live(endpoint: AwsRecord, version: str, attempt: int, max_polls: int, what: str) -> bool:
    """True once the DEFAULT endpoint serves `version` (READY, liveVersion == version); False to poll again.

    Raises RuntimeUpdateFailed when it never will (the endpoint failed, or moved on to a later version someone else
    created) and ResourceWaitTimeout when the poll budget is spent.
    """
    status, live, target = endpoint.get("status"), endpoint.get("liveVersion"), endpoint.get("targetVersion")
    where = f"{what}: DEFAULT endpoint is {status} (live version {live}, target {target})"
    if status == READY and live == version:
        return True
    if status in ENDPOINT_FAILED:
        raise RuntimeUpdateFailed(f"{where}; version {version} did not go live: {reasons(endpoint)}")
    if _newer(live, version) or _newer(target, version):
        raise RuntimeUpdateFailed(
            f"{where}; it moved past version {version}, which this rollout created: another update of the runtime "
            "ran meanwhile - run the rollout again"
        )
    if attempt + 1 >= max_polls:
        raise ResourceWaitTimeout(
            f"{where}; version {version} still not live after {attempt + 1} polls (maxPolls={max_polls})"
        )
    return False


def runtime_update_sent(handle: RuntimeHandleT, response: Mapping[str, Any]) -> RuntimeHandleT:
    """The poll handle once an UpdateAgentRuntime was accepted: changed and not ready, with the version it created.
    READY is not live: that version serves callers only once the DEFAULT endpoint has moved to it (`runtimeLive`)."""
    sent = copy.copy(handle)
    sent["changed"], sent["ready"] = True, False
    sent["status"], sent["version"] = response.get("status"), response["agentRuntimeVersion"]
    return sent


def runtime_failure(record: AwsRecord) -> RuntimeUpdateFailed:
    return RuntimeUpdateFailed(
        f"runtime {record.get('agentRuntimeName', record.get('agentRuntimeId'))} is {record.get('status')}: "
        f"{reasons(record)}"
    )


def gateway_failure(record: AwsRecord) -> GatewayCreateFailed:
    return GatewayCreateFailed(f"gateway {record.get('name')} is {record.get('status')}: {reasons(record)}")


def target_failure(record: AwsRecord) -> GatewayTargetFailed:
    status = record.get("status", "")
    hint = " (targets waiting for OAuth consent cannot be completed by the rollout)" if "PENDING_AUTH" in status else ""
    return GatewayTargetFailed(f"gateway target {record.get('name')} is {status}{hint}: {reasons(record)}")


def gateway_delete_failure(record: AwsRecord) -> GatewayDeleteFailed:
    return GatewayDeleteFailed(
        f"gateway {record.get('name')} was asked to delete but is {record.get('status')}: {reasons(record)}"
    )


def target_delete_failure(record: AwsRecord) -> GatewayDeleteFailed:
    return GatewayDeleteFailed(
        f"gateway target {record.get('name')} was asked to delete but is {record.get('status')}: {reasons(record)}"
    )
