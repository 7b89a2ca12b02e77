"""The rollout lock (rollout_core/lock.py) and its function (functions/rollout_lock): decisions, waits, DynamoDB."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rollout_core import lock
from rollout_core.errors import InvalidConfiguration, InvalidExecutionInput, QueueThrottled
from rollout_core.settings import MAX_APPROVAL_TIMEOUT_SECONDS, deployment_from_environment, parse_execution_input
from rollout_core.state import LockResult, RolloutLockEvent

from functions.rollout_lock import app
from tests.unit.helpers import DEFAULT_ENV, REGION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SM = f"arn:aws:states:{REGION}:123456789012:execution:stack-secure-rollout"
OWNER, PENDING, ME = f"{SM}:owner", f"{SM}:pending", f"{SM}:me"
NOW = "2026-01-01T00:00:00+00:00"
TABLE = "rollout-lock"
DEPLOYMENT = deployment_from_environment(DEFAULT_ENV)
PLAIN = lock.request_key(parse_execution_input({}, DEPLOYMENT))
OTHER = lock.request_key(parse_execution_input({"maxPolls": 3}, DEPLOYMENT))


def statuses(**by_arn: str) -> Callable[[str], str]:
    known = {f"{SM}:{name}": status for name, status in by_arn.items()}
    return lambda arn: known.get(arn, lock.GONE)


def held(owner: str | None = OWNER, pending: str | None = None, request: str | None = None) -> lock.LockItem:
    return lock.LockItem(
        version=3, owner=owner, ownerSince=NOW if owner else None, pending=pending, pendingRequest=request, exists=True
    )


# --- decisions (pure) --------------------------------------------------------------------------------------------


def test_a_free_lock_is_taken() -> None:
    step = lock.decide(lock.LockItem(), ME, PLAIN, statuses(), NOW)
    assert (step.status, step.owner, step.tookOverFrom) == (lock.ACQUIRED, ME, None)
    assert step.write == lock.LockItem(version=1, owner=ME, ownerSince=NOW)


def test_a_running_owner_keeps_the_lock_and_the_first_waiter_is_next_in_line() -> None:
    step = lock.decide(held(), ME, PLAIN, statuses(owner="RUNNING"), NOW)
    assert (step.status, step.owner) == (lock.WAITING, OWNER)
    assert step.write == replace(held(), version=4, pending=ME, pendingRequest=PLAIN, pendingSince=NOW)


def test_the_execution_next_in_line_keeps_waiting_without_writing() -> None:
    step = lock.decide(held(pending=ME, request=PLAIN), ME, PLAIN, statuses(owner="RUNNING"), NOW)
    assert (step.status, step.write) == (lock.WAITING, None)


def test_an_identical_request_is_coalesced_into_the_one_next_in_line() -> None:
    item = held(pending=PENDING, request=PLAIN)
    for owner in ("RUNNING", "SUCCEEDED"):  # also while the lock is free: the pending one takes it
        step = lock.decide(item, ME, PLAIN, statuses(owner=owner, pending="RUNNING"), NOW)
        assert (step.status, step.coalescedInto, step.write) == (lock.COALESCED, PENDING, None)
        assert "reads the configuration once it starts" in step.reason


def test_another_request_waits_without_taking_the_place_in_line() -> None:
    item = held(pending=PENDING, request=OTHER)
    step = lock.decide(item, ME, PLAIN, statuses(owner="RUNNING", pending="RUNNING"), NOW)
    assert (step.status, step.write, step.coalescedInto) == (lock.WAITING, None, None)
    assert PENDING in step.reason


def test_another_request_may_take_a_free_lock_and_the_one_in_line_keeps_its_place() -> None:
    item = held(owner=None, pending=PENDING, request=OTHER)
    step = lock.decide(item, ME, PLAIN, statuses(pending="RUNNING"), NOW)
    assert step.status == lock.ACQUIRED
    assert step.write == replace(item, version=4, owner=ME, ownerSince=NOW)


@pytest.mark.parametrize("ended", ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", lock.GONE])
def test_the_lock_of_an_owner_that_no_longer_runs_is_taken_over(ended: str) -> None:
    step = lock.decide(held(pending=ME, request=PLAIN), ME, PLAIN, statuses(owner=ended), NOW)
    assert step.status == lock.ACQUIRED
    assert step.tookOverFrom == {"execution": OWNER, "status": ended}
    assert step.write == lock.LockItem(version=4, owner=ME, ownerSince=NOW, exists=True)  # place in line freed
    assert f"took the lock over from {OWNER}, which is {ended}" == step.reason


@pytest.mark.parametrize("ended", ["ABORTED", "TIMED_OUT", lock.GONE])
def test_a_place_in_line_whose_holder_no_longer_runs_is_taken(ended: str) -> None:
    item = held(pending=PENDING, request=PLAIN)
    step = lock.decide(item, ME, PLAIN, statuses(owner="RUNNING", pending=ended), NOW)
    assert step.status == lock.WAITING
    assert step.write == replace(item, version=4, pending=ME, pendingRequest=PLAIN, pendingSince=NOW)


def test_an_owner_asking_again_holds_it_already() -> None:
    step = lock.decide(held(owner=ME), ME, PLAIN, statuses(), NOW)
    assert (step.status, step.write) == (lock.ACQUIRED, None)


def test_the_request_key_ignores_why_an_execution_started() -> None:
    ssm = {"trigger": {"source": "aws.ssm", "parameter": "/app/customersupport/agentcore/client_id"}}
    manual = {"trigger": {"source": "manual", "reason": "rotate"}}
    assert lock.request_key(parse_execution_input(ssm, DEPLOYMENT)) == PLAIN
    assert lock.request_key(parse_execution_input(manual, DEPLOYMENT)) == PLAIN
    asks = lock.request_key(parse_execution_input({"requireApproval": True}, DEPLOYMENT))
    assert len({PLAIN, OTHER, asks}) == 3


def test_waits_grow_to_a_cap_and_are_never_counted_out() -> None:
    assert [lock.lock_wait_seconds(10, attempt) for attempt in range(7)] == [10, 20, 40, 80, 160, 180, 180]
    assert [lock.lock_wait_seconds(0, attempt) for attempt in (0, 5, 10_000)] == [0, 0, 0]
    # The old queue gave up after ~460 s. Here waiting out an owner's longest approval (plus an hour of its rollout)
    # is just more polls, at the slowest pace (pollSeconds 1), within a standard execution's 25,000 history events.
    polls, waited = 0, 0
    while waited < MAX_APPROVAL_TIMEOUT_SECONDS + 3600:
        waited += lock.lock_wait_seconds(1, polls)
        polls += 1
    assert polls * lock.HISTORY_EVENTS_PER_POLL < 25_000 / 2


# --- DynamoDB and DescribeExecution (moto) -----------------------------------------------------------------------


@pytest.fixture
def table(aws: None) -> DynamoDBClient:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "lockId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lockId", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def test_acquire_wait_release_and_take_over_in_dynamodb(table: DynamoDBClient) -> None:
    running = {OWNER: "RUNNING", ME: "RUNNING"}
    status_of = running.__getitem__
    assert lock.acquire(table, TABLE, OWNER, PLAIN, status_of, NOW).status == lock.ACQUIRED
    assert lock.acquire(table, TABLE, ME, PLAIN, status_of, NOW).status == lock.WAITING
    assert lock.read(table, TABLE).pending == ME
    assert lock.release(table, TABLE, ME) is False  # only the owner releases
    assert lock.release(table, TABLE, OWNER) is True
    assert lock.release(table, TABLE, OWNER) is False  # idempotent
    step = lock.acquire(table, TABLE, ME, PLAIN, status_of, NOW)
    assert (step.status, step.tookOverFrom) == (lock.ACQUIRED, None)
    item = lock.read(table, TABLE)
    assert (item.owner, item.pending, item.version) == (ME, None, 4)
    # ME is aborted: nobody released; the next execution takes the lock over.
    running[ME] = "ABORTED"
    step = lock.acquire(table, TABLE, OWNER, OTHER, status_of, NOW)
    assert step.tookOverFrom == {"execution": ME, "status": "ABORTED"}


def test_a_write_lost_to_another_execution_is_decided_again(table: DynamoDBClient) -> None:
    lock.acquire(table, TABLE, OWNER, PLAIN, lambda _: "RUNNING", NOW)
    raced: list[str] = []

    def status_of(arn: str) -> str:
        if not raced:  # between this execution's read and its write, another one takes the place in line
            raced.append(arn)
            assert lock.acquire(table, TABLE, PENDING, PLAIN, lambda _: "RUNNING", NOW).status == lock.WAITING
        return "RUNNING"

    step = lock.acquire(table, TABLE, ME, PLAIN, status_of, NOW)
    assert (step.status, step.coalescedInto) == (lock.COALESCED, PENDING)


def test_throttling_is_a_named_transient_error() -> None:
    class Throttled:
        def get_item(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "GetItem")

    with pytest.raises(QueueThrottled, match="ProvisionedThroughputExceededException"):
        lock.read(cast("DynamoDBClient", Throttled()), TABLE)


def test_execution_status_reads_each_execution_once_and_knows_gone_ones(aws: None) -> None:
    calls: list[str] = []

    class States:
        def describe_execution(self, executionArn: str) -> dict[str, str]:
            calls.append(executionArn)
            if executionArn == ME:
                raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "x"}}, "DescribeExecution")
            return {"status": "RUNNING"}

    status_of = lock.execution_status(States())  # type: ignore[arg-type]
    assert [status_of(OWNER), status_of(OWNER), status_of(ME)] == ["RUNNING", "RUNNING", lock.GONE]
    assert calls == [OWNER, ME]


# --- the function --------------------------------------------------------------------------------------------------


def test_acquire_answers_with_the_wait_and_the_reason(table: DynamoDBClient) -> None:
    env = {**DEFAULT_ENV, "ROLLOUT_POLL_SECONDS": "10"}
    first = app.acquire_lock({"executionArn": OWNER, "input": {}}, env, table, TABLE, lambda _: "RUNNING")
    assert (first["status"], first["owner"], first["attempt"]) == ("acquired", OWNER, 1)
    second = app.acquire_lock({"executionArn": ME, "input": {}, "attempt": 3}, env, table, TABLE, lambda _: "RUNNING")
    assert (second["status"], second["attempt"], second["waitSeconds"]) == ("waiting", 4, 80)
    third = app.acquire_lock({"executionArn": PENDING, "input": {}}, env, table, TABLE, lambda _: "RUNNING")
    assert (third["status"], third["coalescedInto"]) == ("coalesced", ME)


def test_dry_runs_do_not_queue_and_bad_input_fails_before_it_does() -> None:
    class NoTable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the lock table was used: {name}")

    no_status: Any = None  # a dry run or bad input never asks for an execution's status
    no_table = cast("DynamoDBClient", NoTable())
    dry = app.acquire_lock({"executionArn": ME, "input": {"dryRun": True}}, DEFAULT_ENV, no_table, TABLE, no_status)
    assert dry["status"] == "bypassed"
    with pytest.raises(InvalidExecutionInput, match="unknown key"):
        app.acquire_lock({"executionArn": ME, "input": {"bogus": 1}}, DEFAULT_ENV, no_table, TABLE, no_status)
    with pytest.raises(InvalidExecutionInput, match="needs this execution's ARN"):
        app.acquire_lock({"executionArn": "x", "input": {}}, DEFAULT_ENV, no_table, TABLE, no_status)
    with pytest.raises(InvalidExecutionInput, match="non-negative integer attempt"):
        app.acquire_lock({"executionArn": ME, "input": {}, "attempt": -1}, DEFAULT_ENV, no_table, TABLE, no_status)


def test_handler_acquires_and_releases(
    table: DynamoDBClient, monkeypatch: pytest.MonkeyPatch, context: LambdaContext
) -> None:
    for name, value in {**DEFAULT_ENV, "AWS_REGION": REGION, "LOCK_TABLE_NAME": TABLE}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(lock, "execution_status", lambda _states: lambda _arn: "RUNNING")
    acquired = cast(
        LockResult, app.lambda_handler({"step": "acquire", "executionArn": ME, "input": {}, "attempt": 0}, context)
    )
    assert acquired["status"] == "acquired"
    assert app.lambda_handler({"step": "release", "executionArn": ME}, context) == {"released": True, "execution": ME}
    with pytest.raises(InvalidExecutionInput, match="acquire or release"):
        app.lambda_handler(cast(RolloutLockEvent, {"step": "steal", "executionArn": ME}), context)
    monkeypatch.delenv("LOCK_TABLE_NAME")
    with pytest.raises(InvalidConfiguration, match="LOCK_TABLE_NAME"):
        app.lambda_handler({"step": "release", "executionArn": ME}, context)
