"""Poll step used by every wait loop: one status read, bounded by maxPolls, failures raised by name."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, lifecycle
from rollout_core.errors import InvalidExecutionInput, RolloutError
from rollout_core.observability import task_handler
from rollout_core.state import AwsRecord, CheckStatusEvent, PollHandle

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient

logger = Logger()
tracer = Tracer()


def _settled(
    record: AwsRecord,
    pending: set[str],
    failure: Callable[[AwsRecord], RolloutError],
    resource: PollHandle,
    max_polls: int,
    what: str,
) -> tuple[str, bool]:
    status = record["status"]
    ready = lifecycle.settle(
        status, pending, functools.partial(failure, record), resource["attempt"], max_polls, f"{what} {resource['id']}"
    )
    return status, ready


def _runtime_ready(client: BedrockAgentCoreControlClient, resource: PollHandle, max_polls: int) -> tuple[str, bool]:
    record = agentcore.get_runtime(client, resource["id"])
    return _settled(record, lifecycle.RUNTIME_PENDING, lifecycle.runtime_failure, resource, max_polls, "runtime")


def _runtime_live(client: BedrockAgentCoreControlClient, resource: PollHandle, max_polls: int) -> tuple[str, bool]:
    """The version an update created (`version`) is served by the runtime's DEFAULT endpoint."""
    version = resource.get("version")
    if not isinstance(version, str) or not version:
        raise InvalidExecutionInput(f"check_status runtimeLive needs the runtime version; got {version!r}")
    endpoint = agentcore.get_default_endpoint(client, resource["id"])
    ready = lifecycle.version_live(endpoint, version, resource["attempt"], max_polls, f"runtime {resource['id']}")
    return f"{endpoint.get('status')} (live version {endpoint.get('liveVersion')}, waiting for {version})", ready


def _gateway_ready(client: BedrockAgentCoreControlClient, resource: PollHandle, max_polls: int) -> tuple[str, bool]:
    record = agentcore.get_gateway(client, resource["id"])
    return _settled(record, lifecycle.GATEWAY_PENDING, lifecycle.gateway_failure, resource, max_polls, "gateway")


def _targets_ready(client: BedrockAgentCoreControlClient, resource: PollHandle, max_polls: int) -> tuple[str, bool]:
    statuses = []
    for target in agentcore.list_targets(client, resource["id"]):
        done = lifecycle.settle(
            target["status"],
            lifecycle.TARGET_PENDING,
            functools.partial(lifecycle.target_failure, target),
            resource["attempt"],
            max_polls,
            f"gateway target {target['name']}",
        )
        statuses.append((target["name"], target["status"], done))
    summary = ", ".join(f"{name}={status}" for name, status, _ in statuses) or "no targets"
    return summary, all(done for _, _, done in statuses)


def _gateway_gone(client: BedrockAgentCoreControlClient, resource: PollHandle, max_polls: int) -> tuple[str, bool]:
    record = agentcore.get_gateway_or_none(client, resource["id"])
    if record is None:
        return "DELETED", True
    if record["status"] != "DELETING":
        raise lifecycle.gateway_delete_failure(record)  # only DELETING -> gone is a deletion in progress
    what = f"gateway {resource.get('name') or resource['id']} ({resource['id']}) deletion"
    lifecycle.settle("DELETING", {"DELETING"}, None, resource["attempt"], max_polls, what)
    return "DELETING", False


def _targets_gone(client: BedrockAgentCoreControlClient, resource: PollHandle, max_polls: int) -> tuple[str, bool]:
    """Target deletion is asynchronous: each target stays DELETING until it is gone. Anything else it shows (FAILED,
    READY again) means its deletion did not happen, and the gateway cannot be deleted after it."""
    if agentcore.get_gateway_or_none(client, resource["id"]) is None:
        return "no targets", True
    names = resource.get("names")  # only these targets are being deleted (a replacement), when given
    remaining = [t for t in agentcore.list_targets(client, resource["id"]) if names is None or t["name"] in names]
    for target in remaining:
        if target["status"] != "DELETING":
            raise lifecycle.target_delete_failure(target)
    if not remaining:
        return "no targets", True
    summary = ", ".join(f"{t['name']}=DELETING" for t in remaining)
    lifecycle.settle("DELETING", {"DELETING"}, None, resource["attempt"], max_polls, f"deletion of targets {summary}")
    return summary, False


CHECKS = {
    "runtime": _runtime_ready,
    "runtimeLive": _runtime_live,
    "gateway": _gateway_ready,
    "targets": _targets_ready,
    "targetsDeleted": _targets_gone,
    "gatewayDeleted": _gateway_gone,
}


def check(client: BedrockAgentCoreControlClient, resource: PollHandle, max_polls: int) -> PollHandle:
    kind = resource.get("kind")
    if kind not in CHECKS:
        raise InvalidExecutionInput(f"check_status got resource kind {kind!r}; expected one of {sorted(CHECKS)}")
    status, ready = CHECKS[kind](client, resource, max_polls)
    return {**resource, "status": status, "ready": ready, "attempt": resource["attempt"] + 1}


@task_handler(logger, tracer)
def lambda_handler(event: CheckStatusEvent, context: LambdaContext) -> PollHandle:
    result = check(agentcore.agentcore_control(), event["resource"], int(event["maxPolls"]))
    logger.debug("status polled", extra={"kind": result["kind"], "status": result["status"], "ready": result["ready"]})
    return result
