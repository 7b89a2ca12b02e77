"""The backup a rollout takes before its first change, and what a rollback or a restore reads back from it.

One JSON object per execution in the stack's backup bucket, at `backups/<execution name>.json`: the runtime record
(full GetAgentRuntime output, and the record of the version its DEFAULT endpoint serves when that is not the latest),
and every gateway of the deployment that exists (full GetGateway output, its tags and every target's full
GetGatewayTarget output). Identifiers and settings only: the rollout never reads a secret before the smoke test, so
none can be in it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from rollout_core import agentcore
from rollout_core.errors import InvalidExecutionInput, RestoreFailed
from rollout_core.state import AwsRecord, Config

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_s3 import S3Client

FORMAT = "agentcore-secure-rollout-backup/1"
PREFIX = "backups/"
BUCKET_ENV = "ROLLOUT_BACKUP_BUCKET"  # the stack's backup bucket (only the functions that read or write it)
MAX_BYTES = 8 * 1024 * 1024  # a backup larger than this is not one of ours
# Step Functions execution names allow more than S3 keys should carry: anything else is replaced, and a hash of the
# whole name keeps keys of different names apart.
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")
KEY_PATTERN = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9._-]{1,100}\.json")
KEY_DESCRIPTION = (
    f"the key of one of this stack's backups, {PREFIX}<execution name>.json (letters, digits, '.', '_', '-'), as a "
    "rollout's report or failure names it"
)


def key_for(execution_name: str) -> str:
    if _SAFE_NAME.fullmatch(execution_name) and execution_name not in (".", ".."):
        return f"{PREFIX}{execution_name}.json"
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", execution_name)[:60]
    return f"{PREFIX}{readable}-{hashlib.sha256(execution_name.encode()).hexdigest()[:16]}.json"


def parse_key(value: Any, where: str) -> str:
    """An execution-input backup key: under this stack's prefix, nothing else (the bucket is the stack's)."""
    if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value) or "/../" in value or value.endswith("/..json"):
        shown = f"{type(value).__name__} {value!r}"[:140] if not isinstance(value, str) else repr(value)[:140]
        raise InvalidExecutionInput(f"{where} must be {KEY_DESCRIPTION}; got {shown}")
    return value


def _record(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _gateway_entry(client: BedrockAgentCoreControlClient, role: str, gateway_id: str) -> dict[str, Any] | None:
    record = agentcore.get_gateway_or_none(client, gateway_id)
    if record is None:
        return None
    return {
        "role": role,
        "gateway": _record(record),
        "tags": agentcore.gateway_tags(client, record["gatewayArn"]),
        "targets": [_record(t) for t in agentcore.list_targets(client, record["gatewayId"])],
    }


def snapshot(client: BedrockAgentCoreControlClient, config: Config, execution_arn: str) -> dict[str, Any]:
    """Everything a rollout of this deployment may change, as the control plane reports it now."""
    runtime = _record(agentcore.get_runtime(client, config["runtime"]["id"]))
    endpoint = _record(agentcore.get_default_endpoint(client, runtime["agentRuntimeId"]))
    live = endpoint.get("liveVersion")
    # What callers get is the version DEFAULT serves; after a failed update the latest record is not it.
    live_runtime = (
        None
        if live in (None, runtime.get("agentRuntimeVersion"))
        else _record(agentcore.get_runtime(client, runtime["agentRuntimeId"], version=str(live)))
    )
    gateways: list[dict[str, Any]] = []
    seen: set[str] = set()
    for role, ref in (("old", config.get("oldGateway")), ("new", config.get("newGateway"))):
        if ref and ref["id"] not in seen:
            seen.add(ref["id"])
            if (entry := _gateway_entry(client, role, ref["id"])) is not None:
                gateways.append(entry)
    return {
        "format": FORMAT,
        "execution": execution_arn,
        "takenAt": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "deployment": {
            "runtimeName": config["settings"]["runtimeName"],
            "oldGatewayName": config["settings"]["oldGatewayName"],
            "gatewayName": config["settings"]["gatewayName"],
        },
        "runtime": runtime,
        "defaultEndpoint": endpoint,
        "liveRuntime": live_runtime,
        "gateways": gateways,
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, default=_json_default, sort_keys=True, indent=1).encode()


def _json_default(value: Any) -> str:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    raise TypeError(f"backup: cannot encode {type(value).__name__}")


def read(s3: S3Client, bucket: str, key: str) -> dict[str, Any]:
    """A backup of this stack, checked for shape (a key that holds anything else is refused, never acted on)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore ClientError: NoSuchKey, AccessDenied
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise RestoreFailed(f"cannot read backup s3://{bucket}/{key}: {code}") from None
    if int(response.get("ContentLength") or 0) > MAX_BYTES:
        raise RestoreFailed(f"backup s3://{bucket}/{key} is larger than {MAX_BYTES} bytes: not a rollout backup")
    try:
        document = json.loads(response["Body"].read())
    except ValueError:
        raise RestoreFailed(f"backup s3://{bucket}/{key} is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RestoreFailed(f"backup s3://{bucket}/{key} is not a rollout backup (format {FORMAT} expected)")
    if not isinstance(document.get("runtime"), dict) or not isinstance(document.get("gateways"), list):
        raise RestoreFailed(f"backup s3://{bucket}/{key} lacks the runtime record or the gateway list")
    return document


def live_runtime(document: dict[str, Any]) -> AwsRecord:
    """The runtime configuration callers had when the backup was taken."""
    live = document.get("liveRuntime") or document["runtime"]
    return dict(live)


def backed_up_gateway(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((g for g in document["gateways"] if g["gateway"].get("name") == name), None)
