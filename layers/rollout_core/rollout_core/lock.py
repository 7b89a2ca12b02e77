"""One rollout at a time, for any wait: a lock item in the stack's DynamoDB table.

The item (key `lockId` = "rollout") names the execution that holds the lock (`owner`) and the one next in line
(`pending`, with a hash of its request). Every write is a conditional put on the `version` that was read, so two
executions can never both believe they hold it.

- The lock never expires while its owner runs: it is only ever taken from an owner that Step Functions no longer
  reports RUNNING (DescribeExecution: SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or gone). Owners release it in every
  terminal state they can reach; an execution that times out or is aborted cannot, and its lock is taken over.
- Coalescing: a burst of Parameter Store changes starts one execution per change. The first holds the lock, the next
  takes the single pending place, and every later one whose request is the pending one's (same settings, same
  approval) ends at once as coalesced: the pending execution reads the configuration only after it got the lock,
  so after every change that was coalesced into it. Executions with another request (another agentArtifact, other
  knobs) wait without taking the place, each on its own.
- Waiting is the state machine's (Wait states, growing from pollSeconds to MAX_LOCK_WAIT_SECONDS): bounded only by
  the execution's own timeout, never by a retry budget.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from rollout_core.errors import QueueThrottled
from rollout_core.settings import RolloutSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_stepfunctions import SFNClient

LOCK_ID: Final = "rollout"
RUNNING: Final = "RUNNING"
GONE: Final = "GONE"  # DescribeExecution: ExecutionDoesNotExist (history expired): certainly not running

ACQUIRED: Final = "acquired"
WAITING: Final = "waiting"
COALESCED: Final = "coalesced"
BYPASSED: Final = "bypassed"  # dry runs change nothing and do not queue

# A waiting execution's Wait grows from pollSeconds to this: a standard execution's history holds 25,000 events and
# each lock poll costs 9, so waiting out an owner's longest approval (48 h) takes about a third of it, leaving the
# rest for this execution's own rollout; the lock is noticed free at most this long after its release.
MAX_LOCK_WAIT_SECONDS: Final = 180
HISTORY_EVENTS_PER_POLL: Final = 9  # Wait entered/exited, Task entered/scheduled/started/succeeded/exited, Choice x2
WRITE_ATTEMPTS: Final = 5  # conditional writes lost to another execution in one invocation before waiting instead

_TRANSIENT: Final = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


@dataclass(frozen=True)
class LockItem:
    version: int = 0
    owner: str | None = None
    ownerSince: str | None = None
    pending: str | None = None
    pendingRequest: str | None = None
    pendingSince: str | None = None
    exists: bool = False  # read from the table (False: no item yet)

    @classmethod
    def from_dynamodb(cls, item: Mapping[str, AttributeValueTypeDef] | None) -> LockItem:
        if not item:
            return cls()

        def text(name: str) -> str | None:
            value = item.get(name, {}).get("S")
            return str(value) if value else None

        return cls(
            version=int(item["version"]["N"]),
            owner=text("owner"),
            ownerSince=text("ownerSince"),
            pending=text("pending"),
            pendingRequest=text("pendingRequest"),
            pendingSince=text("pendingSince"),
            exists=True,
        )

    def to_dynamodb(self) -> dict[str, AttributeValueTypeDef]:
        item: dict[str, AttributeValueTypeDef] = {"lockId": {"S": LOCK_ID}, "version": {"N": str(self.version)}}
        for name in ("owner", "ownerSince", "pending", "pendingRequest", "pendingSince"):
            value = getattr(self, name)
            if value:
                item[name] = {"S": value}
        return item


@dataclass(frozen=True)
class Step:
    """What an execution's acquire attempt decided; `write` (if any) is put conditionally on the version read."""

    status: str
    reason: str
    write: LockItem | None = None
    owner: str | None = None
    coalescedInto: str | None = None
    tookOverFrom: dict[str, str] | None = None


def request_key(settings: RolloutSettings) -> str:
    """What an execution asks for, minus why it was started: equal keys may be coalesced."""
    wanted = {k: v for k, v in settings.to_dict().items() if k != "approvalReason"}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True, default=str).encode()).hexdigest()


def lock_wait_seconds(poll_seconds: int, attempt: int) -> int:
    """The Wait before the next lock poll: pollSeconds, doubling per poll, at most MAX_LOCK_WAIT_SECONDS. 0 stays 0
    (the offline sandbox's time control): the number of polls is never what ends a wait."""
    return min(MAX_LOCK_WAIT_SECONDS, poll_seconds * 2 ** min(max(attempt, 0), 8))


def decide(item: LockItem, me: str, request: str, status_of: Callable[[str], str], now: str) -> Step:
    """The lock decision for execution `me` on the item as read (pure: `status_of` answers DescribeExecution)."""
    if item.owner == me:
        return Step(ACQUIRED, "this execution already holds the lock", owner=me)
    owner_status = status_of(item.owner) if item.owner else None
    pending_alive = item.pending is not None and item.pending != me and status_of(item.pending) == RUNNING
    same_as_pending = pending_alive and item.pendingRequest == request
    if same_as_pending:
        # The pending execution has not read the configuration yet: it will, after this execution's change.
        return Step(
            COALESCED,
            f"an identical rollout ({item.pending}) is next in line and reads the configuration once it starts, "
            "after the change that started this execution",
            owner=item.owner,
            coalescedInto=item.pending,
        )
    if owner_status != RUNNING:
        took_over = {"execution": item.owner, "status": str(owner_status)} if item.owner else None
        keep_pending = pending_alive  # another request keeps its place in line
        write = replace(
            item,
            version=item.version + 1,
            owner=me,
            ownerSince=now,
            pending=item.pending if keep_pending else None,
            pendingRequest=item.pendingRequest if keep_pending else None,
            pendingSince=item.pendingSince if keep_pending else None,
        )
        reason = f"took the lock over from {item.owner}, which is {owner_status}" if took_over else "the lock was free"
        return Step(ACQUIRED, reason, write=write, owner=me, tookOverFrom=took_over)
    if item.pending == me:
        return Step(WAITING, f"next in line after {item.owner}", owner=item.owner)
    if not pending_alive:
        write = replace(item, version=item.version + 1, pending=me, pendingRequest=request, pendingSince=now)
        return Step(WAITING, f"next in line after {item.owner}", write=write, owner=item.owner)
    return Step(
        WAITING,
        f"waiting for {item.owner}; {item.pending} (another request) is next in line",
        owner=item.owner,
    )


@contextmanager
def _lock_errors(action: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT:
            raise QueueThrottled(f"{action}: {code}") from None
        raise


def execution_status(states: SFNClient) -> Callable[[str], str]:
    """DescribeExecution's status by ARN, read once per invocation; GONE for an execution that no longer exists."""
    seen: dict[str, str] = {}

    def status_of(execution_arn: str) -> str:
        if execution_arn not in seen:
            try:
                with _lock_errors(f"DescribeExecution {execution_arn}"):
                    seen[execution_arn] = states.describe_execution(executionArn=execution_arn)["status"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                    raise
                seen[execution_arn] = GONE
        return seen[execution_arn]

    return status_of


def read(dynamodb: DynamoDBClient, table: str) -> LockItem:
    with _lock_errors(f"GetItem {table}"):
        response = dynamodb.get_item(TableName=table, Key={"lockId": {"S": LOCK_ID}}, ConsistentRead=True)
    return LockItem.from_dynamodb(response.get("Item"))


def _put(dynamodb: DynamoDBClient, table: str, read_as: LockItem, write: LockItem) -> bool:
    """Conditional on the item being as it was read; False when another execution wrote first."""
    condition: dict[str, Any] = (
        {"ConditionExpression": "#v = :read", "ExpressionAttributeValues": {":read": {"N": str(read_as.version)}}}
        if read_as.exists
        else {"ConditionExpression": "attribute_not_exists(#v)"}
    )
    try:
        with _lock_errors(f"PutItem {table}"):
            dynamodb.put_item(
                TableName=table, Item=write.to_dynamodb(), ExpressionAttributeNames={"#v": "version"}, **condition
            )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def acquire(
    dynamodb: DynamoDBClient,
    table: str,
    me: str,
    request: str,
    status_of: Callable[[str], str],
    now: str,
) -> Step:
    for _ in range(WRITE_ATTEMPTS):
        item = read(dynamodb, table)
        step = decide(item, me, request, status_of, now)
        if step.write is None or _put(dynamodb, table, item, step.write):
            return step
    return Step(WAITING, "the lock changed under every attempt; polling again")


def release(dynamodb: DynamoDBClient, table: str, me: str) -> bool:
    """Gives the lock up if `me` holds it (idempotent; a no-op for an execution that never held it)."""
    try:
        with _lock_errors(f"UpdateItem {table}"):
            dynamodb.update_item(
                TableName=table,
                Key={"lockId": {"S": LOCK_ID}},
                UpdateExpression="REMOVE #owner, #since SET #v = #v + :one",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner", "#since": "ownerSince", "#v": "version"},
                ExpressionAttributeValues={":me": {"S": me}, ":one": {"N": "1"}},
            )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
