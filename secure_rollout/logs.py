"""`secure-rollout logs`: the functions' log lines of one execution, in order. Every line a function logs for an
execution carries the execution ARN as its correlation id, so one FilterLogEvents per function log group, filtered
by that ARN, finds them all; a line that names the ARN but has another correlation id (another execution's, e.g.
the next one taking over the lock) is left out."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from secure_rollout.target import Target

MAX_PAGES_PER_GROUP = 100
# Powertools' standard keys: shown as columns or not at all; every other key is the line's own data.
STANDARD_KEYS = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "correlation_id",
    "xray_trace_id",
    "sampling_rate",
}


@dataclass(frozen=True)
class LogLine:
    timestamp: int  # ms
    function: str  # the function's logical id, without "Function"
    message: str
    order: int  # CloudWatch's order within equal timestamps

    def render(self, raw: bool = False) -> str:
        when = datetime.datetime.fromtimestamp(self.timestamp / 1000, datetime.UTC).strftime("%H:%M:%S.%f")[:-3]
        return f"{when}  {self.function:<16} {self.message if raw else readable(self.message)}"


def readable(message: str) -> str:
    """A Powertools JSON line as `LEVEL message key=value ...`; anything else as it is."""
    try:
        record: Any = json.loads(message)
    except ValueError:
        return message.rstrip()
    if not isinstance(record, dict) or "message" not in record:
        return message.rstrip()
    extra = " ".join(
        f"{k}={json.dumps(v, sort_keys=True) if not isinstance(v, str) else v}"
        for k, v in record.items()
        if k not in STANDARD_KEYS
    )
    text = f"{record.get('level', '')} {record['message']}"
    return f"{text}  {extra}" if extra else text


def correlated(message: str, execution_arn: str) -> bool:
    """The line belongs to the execution: its correlation id is the ARN (a line without one names it)."""
    try:
        record: Any = json.loads(message)
    except ValueError:
        return True
    return not isinstance(record, dict) or record.get("correlation_id", execution_arn) == execution_arn


def execution_lines(target: Target, execution_arn: str, start_ms: int | None = None) -> list[LogLine]:
    logs = target.client("logs")
    lines: list[LogLine] = []
    for logical_id, group in sorted(target.function_log_groups().items()):
        label = logical_id.removesuffix("Function")
        kwargs: dict[str, Any] = {"logGroupName": group, "filterPattern": json.dumps(execution_arn)}
        if start_ms is not None:
            kwargs["startTime"] = start_ms
        for _ in range(MAX_PAGES_PER_GROUP):
            try:
                page = logs.filter_log_events(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    break  # a function that never ran has no log group yet
                raise
            lines += [
                LogLine(int(e["timestamp"]), label, str(e["message"]), len(lines) + i)
                for i, e in enumerate(page.get("events", []))
                if correlated(str(e["message"]), execution_arn)
            ]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return sorted(lines, key=lambda line: (line.timestamp, line.order))
