"""Backup, before the first change: the runtime, the gateways and their targets, as the control plane reports them,
written to the stack's backup bucket at backups/<execution name>.json. A rollback or a `{"restore": <key>}` run reads
it back; the key is in the report and in every failure after this step."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from rollout_core import agentcore, backup
from rollout_core.errors import BackupFailed, InvalidConfiguration
from rollout_core.observability import task_handler
from rollout_core.state import BackupEvent, BackupRef, Config

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_s3 import S3Client

logger = Logger()
tracer = Tracer()


def take_backup(
    client: BedrockAgentCoreControlClient,
    s3: S3Client,
    bucket: str,
    config: Config,
    execution_arn: str,
    execution_name: str,
) -> BackupRef:
    document = backup.snapshot(client, config, execution_arn)
    body = backup.encode(document)
    key = backup.key_for(execution_name)
    try:
        written = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        raise BackupFailed(f"cannot write the backup to s3://{bucket}/{key}: {code}; nothing was changed") from None
    live = document["liveRuntime"] or document["runtime"]
    return {
        "bucket": bucket,
        "key": key,
        "versionId": written.get("VersionId"),
        "sizeBytes": len(body),
        "runtimeVersion": document["runtime"].get("agentRuntimeVersion"),
        "liveVersion": live.get("agentRuntimeVersion"),
        "gateways": [
            {"name": g["gateway"]["name"], "id": g["gateway"]["gatewayId"], "targets": len(g["targets"])}
            for g in document["gateways"]
        ],
    }


@task_handler(logger, tracer)
def lambda_handler(event: BackupEvent, context: LambdaContext) -> BackupRef:
    bucket = os.environ.get(backup.BUCKET_ENV, "")
    if not bucket:
        raise InvalidConfiguration(f"function setting {backup.BUCKET_ENV} (the stack's backup bucket) is not set")
    result = take_backup(
        agentcore.agentcore_control(),
        boto3.client("s3"),
        bucket,
        event["config"],
        event["executionArn"],
        event["executionName"],
    )
    logger.info("backup written", extra={"key": result["key"], "sizeBytes": result["sizeBytes"]})
    return result
