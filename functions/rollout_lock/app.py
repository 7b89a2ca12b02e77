"""The rollout lock (rollout_core/lock.py): step `acquire` at the start of every execution, before the configuration
is read; step `release` on every terminal path the execution can reach (success, failure, rejection).

`acquire` validates the execution input first (bad input fails here, before it queues), lets dry runs through
without queueing, and otherwise answers acquired, waiting (with the seconds to wait before asking again) or
coalesced (an identical rollout is next in line and will read the configuration after this change)."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import lock
from rollout_core.errors import InvalidConfiguration, InvalidExecutionInput
from rollout_core.observability import task_handler
from rollout_core.settings import deployment_from_environment, parse_execution_input
from rollout_core.state import LockRelease, LockResult, RolloutLockEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

logger = Logger()
tracer = Tracer()

TABLE_ENV_VAR = "LOCK_TABLE_NAME"


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="seconds")


def _execution_arn(event: Mapping[str, Any]) -> str:
    arn = event.get("executionArn")
    if not isinstance(arn, str) or ":execution:" not in arn:
        raise InvalidExecutionInput(f"rollout_lock needs this execution's ARN ($$.Execution.Id); got {arn!r}")
    return arn


def acquire_lock(
    event: Mapping[str, Any],
    env: Mapping[str, str],
    dynamodb: DynamoDBClient,
    table: str,
    status_of: Callable[[str], str],
    now: Callable[[], str] = _now,
) -> LockResult:
    me = _execution_arn(event)
    attempt = event.get("attempt", 0)
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
        raise InvalidExecutionInput(f"rollout_lock acquire needs a non-negative integer attempt; got {attempt!r}")
    settings = parse_execution_input(event.get("input"), deployment_from_environment(env))
    if settings.dryRun:
        return {"status": lock.BYPASSED, "execution": me, "reason": "a dry run changes nothing: it does not queue"}
    step = lock.acquire(dynamodb, table, me, lock.request_key(settings), status_of, now())
    result: LockResult = {
        "status": step.status,
        "execution": me,
        "owner": step.owner,
        "reason": step.reason,
        "attempt": attempt + 1,
        "waitSeconds": lock.lock_wait_seconds(settings.pollSeconds, attempt),
    }
    if step.coalescedInto is not None:
        result["coalescedInto"] = step.coalescedInto
    if step.tookOverFrom is not None:
        result["tookOverFrom"] = step.tookOverFrom
    return result


def release_lock(event: Mapping[str, Any], dynamodb: DynamoDBClient, table: str) -> LockRelease:
    me = _execution_arn(event)
    return {"released": lock.release(dynamodb, table, me), "execution": me}


def _table(env: Mapping[str, str]) -> str:
    table = env.get(TABLE_ENV_VAR, "")
    if not table:
        raise InvalidConfiguration(f"function setting {TABLE_ENV_VAR} (the stack's RolloutLockTable) is not set")
    return table


@task_handler(logger, tracer)
def lambda_handler(event: RolloutLockEvent, context: LambdaContext) -> LockResult | LockRelease:
    region = os.environ["AWS_REGION"]
    table = _table(os.environ)
    dynamodb: DynamoDBClient = boto3.client("dynamodb", region_name=region)
    step = event.get("step")
    result: LockResult | LockRelease
    if step == "release":
        result = release_lock(event, dynamodb, table)
    elif step == "acquire":
        states: SFNClient = boto3.client("stepfunctions", region_name=region)
        result = acquire_lock(event, os.environ, dynamodb, table, lock.execution_status(states))
    else:
        raise InvalidExecutionInput(f"rollout_lock step must be acquire or release; got {step!r}")
    logger.info("rollout lock", extra={"step": step, **{k: v for k, v in result.items() if k != "reason"}})
    return result
