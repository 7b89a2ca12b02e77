"""Executions of the rollout state machine: start with a readable name, find, read, follow live, and find the task
token of a pending approval. Everything here is read from Step Functions itself."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from rollout_core import phases

from secure_rollout.errors import CliError
from secure_rollout.target import Target

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import (
        DescribeExecutionOutputTypeDef,
        ExecutionListItemTypeDef,
        HistoryEventTypeDef,
    )

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
APPROVAL_STATE = "RequestApproval"
WAIT_FOR_TASK_TOKEN = ".waitForTaskToken"
MAX_NAME_ATTEMPTS = 5
MAX_HISTORY_EVENTS = 25_000  # Step Functions keeps at most 25,000 events per execution

PHASES = tuple(phases.PHASES)  # in the rollout's order
PHASE_OF = phases.PHASE_OF  # the rollout report's map (rollout_core.phases)


def execution_name(kind: str, now: datetime.datetime | None = None, attempt: int = 0) -> str:
    """`apply-20260101T120000Z` (the backup key is `backups/<this name>.json`); `-2`, `-3` on a clash."""
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{kind}-{stamp}" + (f"-{attempt + 1}" if attempt else "")


def start(target: Target, kind: str, execution_input: Mapping[str, Any], name: str | None = None) -> str:
    states = target.client("stepfunctions")
    now = datetime.datetime.now(datetime.UTC)
    for attempt in range(MAX_NAME_ATTEMPTS if name is None else 1):
        try:
            response = states.start_execution(
                stateMachineArn=target.state_machine_arn,
                name=name or execution_name(kind, now, attempt),
                input=json.dumps(execution_input),
            )
            return str(response["executionArn"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
    raise CliError(f"an execution named {name or execution_name(kind, now)} already exists", "pass another --name")


def name_of(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def execution_arn(target: Target, reference: str) -> str:
    """An execution ARN or name of this stack's state machine -> its ARN."""
    machine = target.state_machine_arn
    prefix = machine.replace(":stateMachine:", ":execution:", 1) + ":"
    if reference.startswith("arn:"):
        if not reference.startswith(prefix):
            raise CliError(f"{reference} is not an execution of {target.describe()} (state machine {machine})")
        return reference
    return prefix + reference


def describe(target: Target, arn: str) -> DescribeExecutionOutputTypeDef:
    try:
        return target.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            raise CliError(
                f"unknown execution {name_of(arn)} on {target.describe()}",
                f"list recent ones with `secure-rollout status --list {target.flags()}`",
            ) from None
        raise


def recent(target: Target, limit: int = 20, status: str | None = None) -> list[ExecutionListItemTypeDef]:
    """The state machine's executions, newest first."""
    states = target.client("stepfunctions")
    kwargs: dict[str, Any] = {"stateMachineArn": target.state_machine_arn, "maxResults": min(limit, 1000)}
    if status:
        kwargs["statusFilter"] = status
    executions = states.list_executions(**kwargs)["executions"]
    return sorted(executions, key=lambda e: e["startDate"], reverse=True)[:limit]


def latest(target: Target) -> str:
    executions = recent(target, limit=1)
    if not executions:
        raise CliError(
            f"no executions yet on {target.describe()}", f"start one with `secure-rollout apply {target.flags()}`"
        )
    return str(executions[0]["executionArn"])


def resolve(target: Target, reference: str | None) -> tuple[str, DescribeExecutionOutputTypeDef]:
    arn = execution_arn(target, reference) if reference else latest(target)
    return arn, describe(target, arn)


def history(target: Target, arn: str) -> list[HistoryEventTypeDef]:
    paginator = target.client("stepfunctions").get_paginator("get_execution_history")
    events: list[HistoryEventTypeDef] = []
    for page in paginator.paginate(executionArn=arn, PaginationConfig={"MaxItems": MAX_HISTORY_EVENTS}):
        events += page["events"]
    return events


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def states_entered(events: Iterable[Mapping[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def current_state(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The state entered last (still running if the execution is)."""
    entered = states_entered(events)
    return entered[-1] if entered else None


def backup_key(description: Mapping[str, Any], events: Sequence[Mapping[str, Any]] | None = None) -> str | None:
    """The backup this execution took (report, failure cause, or - while it runs - the state after Backup)."""
    output = _json(description.get("output"))
    if isinstance(output, dict):
        backup = output.get("backup")
        if isinstance(backup, dict) and isinstance(backup.get("key"), str):
            return str(backup["key"]) if not output.get("restored") else None
    cause = _json(description.get("cause"))
    if isinstance(cause, dict) and isinstance(cause.get("backupKey"), str):
        return str(cause["backupKey"])
    for event in reversed(events or []):
        state = _json((event.get("stateExitedEventDetails") or {}).get("output"))
        backup = state.get("backup") if isinstance(state, dict) else None
        if isinstance(backup, dict) and isinstance(backup.get("key"), str):
            return str(backup["key"])
    return None


def execution_input(description: Mapping[str, Any]) -> dict[str, Any]:
    parsed = _json(description.get("input"))
    return parsed if isinstance(parsed, dict) else {}


@dataclass(frozen=True)
class PendingApproval:
    token: str
    request: dict[str, Any]  # the approval request as published (execution, why, actions, timeoutSeconds)


def pending_approval(events: Sequence[Mapping[str, Any]]) -> PendingApproval | None:
    """The approval request this execution waits for: the last waitForTaskToken task that has not ended. Its
    TaskScheduled event holds the resolved parameters, the published message with its task token included."""
    pending: PendingApproval | None = None
    for event in events:
        kind, details = event["type"], _details(event)
        if kind == "TaskScheduled" and str(details.get("resource", "")).endswith(WAIT_FOR_TASK_TOKEN):
            parameters = _json(details.get("parameters"))
            message = _json(parameters.get("Message")) if isinstance(parameters, dict) else None
            token = message.get("taskToken") if isinstance(message, dict) else None
            pending = (
                PendingApproval(str(token), message) if isinstance(token, str) and isinstance(message, dict) else None
            )
        elif kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskStartFailed"):
            pending = None
    return pending


# --- following an execution live ----------------------------------------------------------------------------


@dataclass
class Follower:
    """Prints one line per state entered and exited (elapsed since the start, duration), waits as waits, and the
    approval a rollout waits for with the commands that answer it."""

    target: Target
    arn: str
    echo: Callable[[str], None]
    poll_seconds: float = 1.0
    _seen: set[str] = field(default_factory=set)
    _approval_pending: bool = False
    _entered: dict[str, datetime.datetime] = field(default_factory=dict)
    _started: datetime.datetime | None = None
    _waits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self) -> DescribeExecutionOutputTypeDef:
        """Follow until the execution ends (bounded by its own timeout); returns its final description."""
        states = self.target.client("stepfunctions")
        self._waits = self._wait_states(states)
        while True:
            description = describe(self.target, self.arn)
            self._started = self._started or description["startDate"]
            for event in self._new_events(history(self.target, self.arn)):
                self._show(event)
            if description["status"] in TERMINAL:
                return description
            time.sleep(self.poll_seconds)

    def _wait_states(self, states: SFNClient) -> dict[str, dict[str, Any]]:
        """Wait states of the definition (to say how long each waits); empty if it cannot be read."""
        try:
            definition = json.loads(states.describe_state_machine_for_execution(executionArn=self.arn)["definition"])
        except (ClientError, ValueError, KeyError):
            return {}
        return {name: state for name, state in _all_states(definition.get("States", {})) if state.get("Type") == "Wait"}

    def _new_events(self, events: Sequence[HistoryEventTypeDef]) -> Iterator[HistoryEventTypeDef]:
        # Identified by content, not id: moto renumbers events of concurrent branches while an execution runs.
        for event in sorted(events, key=lambda e: (e["timestamp"], e["id"])):
            content = {k: v for k, v in event.items() if k not in ("id", "previousEventId")}
            fingerprint = json.dumps(content, default=str, sort_keys=True)
            if fingerprint not in self._seen:
                self._seen.add(fingerprint)
                yield event

    def _elapsed(self, stamp: datetime.datetime) -> str:
        seconds = (stamp - self._started).total_seconds() if self._started else 0.0
        return f"{max(seconds, 0.0):7.1f}s"

    def _show(self, event: Mapping[str, Any]) -> None:
        kind, stamp, details = event["type"], event["timestamp"], _details(event)
        at = self._elapsed(stamp)
        if kind.endswith("StateEntered"):
            name = details["name"]
            self._entered[name] = stamp
            if kind == "WaitStateEntered":
                self.echo(f"{at}  > {name}: {self._wait_text(name, details.get('input'))}")
            else:
                self.echo(f"{at}  > {name}")
        elif kind.endswith("StateExited"):
            name = details["name"]
            began = self._entered.pop(name, stamp)
            self.echo(f"{at}  < {name} ({(stamp - began).total_seconds():.1f}s)")
        elif kind == "TaskScheduled" and str(details.get("resource", "")).endswith(WAIT_FOR_TASK_TOKEN):
            message = _json((_json(details.get("parameters")) or {}).get("Message"))
            timeout = message.get("timeoutSeconds") if isinstance(message, dict) else None
            name, flags = name_of(self.arn), self.target.flags()
            self._approval_pending = True
            self.echo(f"{at}  ? waiting for an approval" + (f" (up to {timeout} s)" if timeout else ""))
            self.echo(f"{'':10}approve: secure-rollout approve {name} {flags}")
            self.echo(f'{"":10}reject:  secure-rollout reject {name} {flags} --reason "..."')
        elif kind == "TaskSucceeded" and self._approval_pending:
            self._approval_pending = False
            self.echo(f"{at}  ? approved")
        elif kind in ("TaskFailed", "TaskTimedOut") and self._approval_pending:
            self._approval_pending = False
            self.echo(f"{at}  ? not approved ({details.get('error') or kind})")
        elif kind in ("LambdaFunctionFailed", "TaskFailed", "LambdaFunctionTimedOut", "TaskTimedOut"):
            self.echo(f"{at}  ! {details.get('error') or kind}")

    def _wait_text(self, name: str, state_input: Any) -> str:
        state = self._waits.get(name, {})
        seconds = state.get("Seconds")
        if seconds is None and isinstance(state.get("SecondsPath"), str):
            seconds = _path_value(_json(state_input), state["SecondsPath"])
        what = "the rollout lock (another rollout runs)" if name == "WaitForLock" else None
        if name == "Bake":
            what = "the bake time (the new path serves alone)"
        text = f"waiting {seconds} s" if isinstance(seconds, int | float) else "waiting"
        return f"{text} for {what}" if what else text


def _all_states(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _all_states(branch.get("States", {}))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _all_states(processor.get("States", {}))


def _path_value(document: Any, path: str) -> Any:
    """A simple reference path ($.a.b) into a JSON document; None if it does not resolve."""
    if not path.startswith("$"):
        return None
    value = document
    for part in [p for p in path[1:].split(".") if p]:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
