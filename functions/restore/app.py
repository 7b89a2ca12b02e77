"""Rollback and restore: put a backup (rollout_core.backup) back.

Step "runtime" (a rollback after a failed switch, verify or bake; and the last change of a restore): one full-replace
UpdateAgentRuntime with the backed-up configuration of the version callers had - every setting as it was, URLs of
gateways the restore re-created rewritten to their new URLs. No API removes a runtime's authorizer and AgentCore
refuses any authorizer sent to a runtime that has one, so an authorizer the switch added stays (`authorizerKept`);
one the backup had that is gone now is sent back. Nothing differs (the switch was refused before any change): no
update.

Step "gateway" (a restore, `{"restore": "<key>"}`): brings the backed-up old gateway back if it is missing - created
with every setting CreateGateway takes and its own authorizer type, then its tags and the settings only UpdateGateway
takes, then every backed-up target that is missing - one action per call, the state machine calling again after
pollSeconds until everything is READY (bounded by maxPolls). What no call can restore is named (`notRestored`).

Step "report": reads the end state of a restore back and verifies it against the backup.

The bucket is always the stack's (ROLLOUT_BACKUP_BUCKET); only the key comes from the state.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, backup, desired, lifecycle
from rollout_core.errors import (
    AgentCoreBusy,
    GatewayCreateFailed,
    GatewayTargetFailed,
    InvalidConfiguration,
    InvalidExecutionInput,
    RestoreFailed,
    RolloutVerificationFailed,
)
from rollout_core.observability import task_handler
from rollout_core.state import (
    AwsRecord,
    AwsRequest,
    Config,
    RestoredGateway,
    RestoreEvent,
    RestoreGatewayHandle,
    RestoreReport,
    RestoreRuntimeHandle,
)
from rollout_core.summary import execution_name, restore_summary

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_s3 import S3Client

logger = Logger()
tracer = Tracer()

TARGET_FAILED = {"FAILED", "UPDATE_UNSUCCESSFUL", "SYNCHRONIZE_UNSUCCESSFUL"}


def load(s3: S3Client, key: Any) -> dict[str, Any]:
    bucket = os.environ.get(backup.BUCKET_ENV, "")
    if not bucket:
        raise InvalidConfiguration(f"function setting {backup.BUCKET_ENV} (the stack's backup bucket) is not set")
    return backup.read(s3, bucket, backup.parse_key(key, "backup key"))


# --- runtime --------------------------------------------------------------------------------------------------------


def restore_runtime(
    client: BedrockAgentCoreControlClient, document: dict[str, Any], runtime_id: str, urls: dict[str, str] | None = None
) -> RestoreRuntimeHandle:
    target = backup.live_runtime(document)
    if target.get("agentRuntimeId") != runtime_id:
        raise RestoreFailed(
            f"the backup is of runtime {target.get('agentRuntimeId')}, this stack manages runtime {runtime_id}"
        )
    current = agentcore.get_runtime(client, runtime_id)
    if current.get("status") in lifecycle.RUNTIME_PENDING:
        raise AgentCoreBusy(f"runtime {runtime_id} is {current.get('status')}; restoring once it has settled")
    request = desired.runtime_restore_request(current, target, urls or {})
    kept = bool(current.get("authorizerConfiguration")) and not target.get("authorizerConfiguration")
    result: RestoreRuntimeHandle = {
        "kind": "runtime",
        "id": runtime_id,
        "restoredVersion": target.get("agentRuntimeVersion"),
        "authorizerKept": kept,
        "changed": False,
        "ready": True,
        "attempt": 0,
    }
    endpoint = agentcore.get_default_endpoint(client, runtime_id)
    serving = current.get("status") == lifecycle.READY and endpoint.get("liveVersion") == current.get(
        "agentRuntimeVersion"
    )
    if serving and request == desired.runtime_update_request(current):
        return result  # nothing differs (e.g. the switch was refused before any change)
    return lifecycle.runtime_update_sent(result, agentcore.update_runtime(client, request, "restore"))


# --- gateway --------------------------------------------------------------------------------------------------------


def _create_request(record: AwsRecord, execution: str) -> AwsRequest:
    request = {f: record[f] for f in desired.gateway_clone_fields() if record.get(f) not in (None, "")}
    request.update(name=record["name"], authorizerType=record["authorizerType"])
    if record.get("authorizerConfiguration"):
        request["authorizerConfiguration"] = record["authorizerConfiguration"]
    request.setdefault("protocolType", "MCP")
    request["clientToken"] = hashlib.sha256(f"{execution}/restore/{record['name']}".encode()).hexdigest()[:48]
    return request


def _update_request(current: AwsRecord, settings: dict[str, Any]) -> AwsRequest:
    fields = desired.gateway_post_create_fields() | desired.gateway_clone_fields() | {"name", "authorizerType"}
    request = {f: current[f] for f in fields if current.get(f) not in (None, "")}
    if current.get("authorizerConfiguration"):
        request["authorizerConfiguration"] = current["authorizerConfiguration"]
    request.update(settings)
    request["gatewayIdentifier"] = current["gatewayId"]
    return request


def restore_gateway(
    client: BedrockAgentCoreControlClient,
    document: dict[str, Any],
    config: Config,
    execution: str,
    previous: RestoreGatewayHandle | dict[str, Any],
) -> RestoreGatewayHandle:
    settings = config["settings"]
    attempt, max_polls = int(previous.get("attempt") or 0), int(settings["maxPolls"])
    result: RestoreGatewayHandle = {"kind": "restoreGateway", "attempt": attempt + 1, "ready": False, "urls": {}}
    entry = backup.backed_up_gateway(document, settings["oldGatewayName"])
    if entry is None:
        return {**result, "ready": True, "gateway": None, "notRestored": []}  # the backup has no old gateway
    record, tags = entry["gateway"], entry["tags"]
    carry = desired.gateway_carry_plan(record, tags)
    result["notRestored"] = carry["notCarried"]

    def waiting(status: str, what: str) -> RestoreGatewayHandle:
        lifecycle.settle(status, {status}, None, attempt, max_polls, what)  # ResourceWaitTimeout once spent
        return {**result, "status": f"{what}: {status}"}

    found = agentcore.find_gateway(client, record["name"])
    if found is not None and found.get("authorizerType") != record.get("authorizerType"):
        raise RestoreFailed(
            f"gateway name {record['name']} is held by gateway {found['gatewayId']} ({found.get('authorizerType')}), "
            f"not by the backed-up {record.get('authorizerType')} gateway: delete it first, then restore again"
        )
    if found is None:
        with agentcore.control_plane_errors(GatewayCreateFailed, f"CreateGateway {record['name']} (restore)"):
            created = client.create_gateway(**_create_request(record, execution))
        return {**result, "gateway": {"id": created["gatewayId"], "recreated": True}, "status": "CREATING"}

    current = agentcore.get_gateway(client, found["gatewayId"])
    restored: RestoredGateway = {"id": current["gatewayId"], "recreated": current["gatewayId"] != record["gatewayId"]}
    result["gateway"] = restored
    if current["status"] in lifecycle.GATEWAY_FAILED:
        raise lifecycle.gateway_failure(current)
    if current["status"] != lifecycle.READY:
        return waiting(current["status"], f"gateway {current['name']}")

    after = carry["afterCreate"] or {"update": {}, "tags": {}}
    if restored["recreated"]:
        present_tags = agentcore.gateway_tags(client, current["gatewayArn"])
        missing_tags = {k: v for k, v in after["tags"].items() if present_tags.get(k) != v}
        if missing_tags:
            with agentcore.control_plane_errors(GatewayCreateFailed, f"TagResource {current['name']} (restore)"):
                client.tag_resource(resourceArn=current["gatewayArn"], tags=missing_tags)
        update = {f: v for f, v in after["update"].items() if current.get(f) != v}
        if update:
            with agentcore.control_plane_errors(GatewayCreateFailed, f"UpdateGateway {current['name']} (restore)"):
                client.update_gateway(**_update_request(current, update))
            return {**result, "status": "UPDATING"}

    present = {t["name"]: t for t in agentcore.list_targets(client, current["gatewayId"])}
    missing = [t for t in entry["targets"] if t["name"] not in present]
    for target in missing:
        with agentcore.control_plane_errors(GatewayTargetFailed, f"CreateGatewayTarget {target['name']} (restore)"):
            client.create_gateway_target(gatewayIdentifier=current["gatewayId"], **desired.target_definition(target))
    if missing:
        return {**result, "status": "creating targets " + ", ".join(t["name"] for t in missing)}
    for target in present.values():
        if target["status"] in TARGET_FAILED:
            raise lifecycle.target_failure(target)
    pending = sorted(n for n, t in present.items() if t["status"] != lifecycle.READY)
    if pending:
        return waiting(present[pending[0]]["status"], f"gateway target {pending[0]}")
    old_url, new_url = (desired.normalize_gateway_url(u) for u in (record["gatewayUrl"], current["gatewayUrl"]))
    return {**result, "ready": True, "status": "READY", "urls": {old_url: new_url} if old_url != new_url else {}}


# --- report ---------------------------------------------------------------------------------------------------------


def restore_report(
    client: BedrockAgentCoreControlClient, document: dict[str, Any], config: Config, key: str, state: RestoreEvent
) -> RestoreReport:
    gateway_step: Mapping[str, Any] = state.get("gateway") or {}
    runtime_step: Mapping[str, Any] = state.get("runtime") or {}
    runtime_id = config["runtime"]["id"]
    current = agentcore.get_runtime(client, runtime_id)
    endpoint = agentcore.get_default_endpoint(client, runtime_id)
    expected = desired.runtime_restore_request(current, backup.live_runtime(document), gateway_step.get("urls") or {})
    problems = []
    if (current.get("status"), endpoint.get("liveVersion")) != (lifecycle.READY, current.get("agentRuntimeVersion")):
        problems.append(
            f"runtime is {current.get('status')} and DEFAULT serves version {endpoint.get('liveVersion')}, expected "
            f"READY serving version {current.get('agentRuntimeVersion')}"
        )
    expected.pop("authorizerConfiguration", None)  # an authorizer the switch added cannot be removed
    actual = desired.runtime_update_request(current)
    differ = sorted(k for k in {*expected, *actual} if expected.get(k) != actual.get(k))
    if differ:
        problems.append(f"runtime settings differ from the backup: {', '.join(differ)}")
    entry = backup.backed_up_gateway(document, config["settings"]["oldGatewayName"])
    gateway_report = None
    if entry is not None:
        found = agentcore.find_gateway(client, entry["gateway"]["name"])
        targets = agentcore.list_targets(client, found["gatewayId"]) if found else []
        names = sorted(t["name"] for t in targets if t.get("status") == lifecycle.READY)
        wanted = sorted(t["name"] for t in entry["targets"])
        if found is None or found.get("status") != lifecycle.READY or not set(wanted) <= set(names):
            problems.append(f"gateway {entry['gateway']['name']} is not READY with READY targets {wanted}")
        gateway_report = {
            "name": entry["gateway"]["name"],
            "id": found["gatewayId"] if found else None,
            "recreated": bool((gateway_step.get("gateway") or {}).get("recreated")),
            "urls": gateway_step.get("urls") or {},
            "targets": names,
        }
    if problems:
        raise RolloutVerificationFailed("restored state differs from the backup: " + "; ".join(problems))
    return {
        "restored": True,
        "backup": {"key": key, "execution": document.get("execution"), "takenAt": document.get("takenAt")},
        "runtime": {
            "id": runtime_id,
            "version": current.get("agentRuntimeVersion"),
            "liveVersion": endpoint.get("liveVersion"),
            "restoredFromVersion": runtime_step.get("restoredVersion"),
            "authorizerKept": bool(runtime_step.get("authorizerKept")),
        },
        "gateway": gateway_report,
        "notRestored": gateway_step.get("notRestored") or [],
        "verified": True,
    }


@task_handler(logger, tracer)
def lambda_handler(
    event: RestoreEvent, context: LambdaContext
) -> RestoreRuntimeHandle | RestoreGatewayHandle | RestoreReport:
    step = event.get("step")
    key = (event.get("backup") or {}).get("key")
    document = load(boto3.client("s3"), key)
    client = agentcore.agentcore_control()
    result: RestoreRuntimeHandle | RestoreGatewayHandle | RestoreReport
    if step == "runtime":
        result = restore_runtime(client, document, event["runtimeId"], event.get("gatewayUrls"))
    elif step == "gateway":
        result = restore_gateway(client, document, event["config"], event["executionArn"], event.get("previous") or {})
    elif step == "report":
        result = restore_report(client, document, event["config"], str(key), event)
        summary = restore_summary(execution_name(event["executionArn"]), result, event["config"].get("trigger"))
        # First in the output, which the SUCCEEDED event carries.
        result = cast(RestoreReport, {"summary": summary, **result})
    else:
        raise InvalidExecutionInput(f"restore got step {step!r}; expected 'runtime', 'gateway' or 'report'")
    logger.info("restore step done", extra={"step": step, "key": key, "ready": result.get("ready")})
    return result
