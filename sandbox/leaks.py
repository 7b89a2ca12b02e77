"""Where a credential could leak in this account, and whether one did.

`published_texts` gathers everything the sandbox recorded that a person or another system could read: execution
histories and outputs, Lambda and CloudWatch logs, agent logs, data-plane records, notifications, the rollouts'
backups. `find_leaks` looks
for the real client secret and every token the Cognito stand-in issued (whole, or their signatures) in them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.core import Sandbox


def credentials(sandbox: Sandbox) -> list[str]:
    """The real secret values: the app client secret, every issued token and each token's signature."""
    client = sandbox.client("cognito-idp").describe_user_pool_client(
        UserPoolId=sandbox.seeded.pool_id, ClientId=sandbox.seeded.client_id
    )
    values = [str(client["UserPoolClient"]["ClientSecret"])]
    for token in sandbox.cognito.issued_tokens:
        values += [token, token.split(".")[2]]
    return values


def cloudwatch_text(sandbox: Sandbox) -> str:
    logs = sandbox.client("logs")
    lines = []
    for group in logs.describe_log_groups()["logGroups"]:
        for stream in logs.describe_log_streams(logGroupName=group["logGroupName"])["logStreams"]:
            events = logs.get_log_events(logGroupName=group["logGroupName"], logStreamName=stream["logStreamName"])
            lines += [e["message"] for e in events["events"]]
    return "\n".join(lines)


def backup_texts(sandbox: Sandbox) -> dict[str, str]:
    """Every version of every object in the stack's backup bucket (anyone who may read the bucket reads these)."""
    s3, bucket = sandbox.client("s3"), sandbox.deployment.outputs["BackupBucketName"]
    texts = {}
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        texts[f"backup {version['Key']} ({version['VersionId']})"] = body.decode(errors="replace")
    return texts


def published_texts(sandbox: Sandbox, execution_arns: Iterable[str]) -> dict[str, str]:
    texts = {
        "lambda logs": sandbox.lambdas.logs_of(),
        "cloudwatch logs": cloudwatch_text(sandbox),
        "agent logs": sandbox.agents.logs(),
        "runtime data plane records": json.dumps(sandbox.runtime_plane.invocations, default=str),
        "gateway data plane records": json.dumps(sandbox.gateway_plane.calls, default=str),
    }
    texts.update(backup_texts(sandbox))
    stepfunctions = sandbox.client("stepfunctions")
    for arn in execution_arns:
        description = stepfunctions.describe_execution(executionArn=arn)
        texts[f"execution {arn.rsplit(':', 1)[-1]} history"] = json.dumps(sandbox.history(arn), default=str)
        texts[f"execution {arn.rsplit(':', 1)[-1]} description"] = json.dumps(description, default=str)
    return texts


def find_leaks(texts: Mapping[str, str], secrets: Iterable[str]) -> list[str]:
    """Where each secret value was found (by place name only; the value itself is never returned)."""
    values = [s for s in secrets if s]
    return [
        f"secret #{i} in {where}" for where, text in texts.items() for i, value in enumerate(values) if value in text
    ]
