"""EventBridge Scheduler firing a schedule, as the service does when one is due (moto keeps schedules, never fires).

- Only an ENABLED schedule fires; a DISABLED one does nothing.
- The templated Step Functions target: StartExecution of the target's state machine with the target's `Input`, made
  with the schedule's execution role (`RoleArn`) - with IAM on, a role that may not start the state machine is denied
  with Step Functions' AccessDeniedException, as on AWS. Scheduler names the execution itself.
- Context attributes in the input (`<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>`,
  `<aws.scheduler.execution-id>`, `<aws.scheduler.attempt-number>`) are replaced by their values.
- A failed invocation is retried (the target's RetryPolicy.MaximumRetryAttempts) when the error is transient; then,
  or at once for any other error, the dead-letter event goes to the target's DeadLetterConfig queue, sent with the
  same role: the input as the body, the error and the schedule as message attributes.

Other target types (universal `arn:aws:scheduler:::aws-sdk:...` targets, Lambda, SQS, ...) are not modelled: firing
one raises NotImplementedError rather than pretending.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

# Errors a target answers that Scheduler tries again (throttling, the service's own failures).
TRANSIENT = frozenset({"ThrottlingException", "ServiceUnavailable", "InternalServerError", "InternalFailure"})


@dataclass
class Firing:
    """What one firing did: the execution it started, or the error that stopped it (and whether it was
    dead-lettered)."""

    schedule_arn: str
    fired: bool  # False: the schedule is DISABLED
    execution_arn: str | None = None
    error_code: str | None = None
    attempts: int = 0
    dead_lettered: bool = False
    input: dict[str, Any] | str | None = field(default=None, repr=False)


class Scheduler:
    """Fires the account's schedules on demand. `client_for_role(service, role_arn)` acts as the schedule's role
    (sandbox IAM); without it, the calls run with the harness's credentials."""

    def __init__(self, region: str, client_for_role: Callable[[str, str], Any] | None = None) -> None:
        self.region = region
        self.client_for_role = client_for_role
        self.firings: list[Firing] = []

    def _client(self, service: str, role_arn: str) -> Any:
        if self.client_for_role is not None:
            return self.client_for_role(service, role_arn)
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def fire(self, name: str, group: str = "default", at: datetime.datetime | None = None) -> Firing:
        """The schedule `name` is due now (or at `at`): invoke its target as Scheduler would."""
        schedule = boto3.client("scheduler", region_name=self.region).get_schedule(Name=name, GroupName=group)
        firing = Firing(schedule_arn=schedule["Arn"], fired=schedule.get("State", "ENABLED") == "ENABLED")
        self.firings.append(firing)
        if not firing.fired:
            return firing
        target = schedule["Target"]
        arn = str(target["Arn"])
        if arn.split(":")[2:3] != ["states"] or ":stateMachine:" not in arn:
            raise NotImplementedError(f"sandbox scheduler: only the Step Functions StartExecution target; got {arn}")
        moment = (at or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        invocation = uuid.uuid4().hex[:16]
        retries = int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185))
        stepfunctions = self._client("stepfunctions", target["RoleArn"])
        for attempt in range(1, retries + 2):
            payload = _with_context(
                target.get("Input", "{}"),
                {"schedule-arn": schedule["Arn"], "scheduled-time": moment, "execution-id": invocation},
                attempt,
            )
            firing.input, firing.attempts = payload, attempt
            try:
                started = stepfunctions.start_execution(stateMachineArn=arn, name=str(uuid.uuid4()), input=payload)
            except ClientError as exc:
                firing.error_code = exc.response.get("Error", {}).get("Code")
                if firing.error_code in TRANSIENT:
                    continue
                break
            firing.execution_arn, firing.error_code = str(started["executionArn"]), None
            return firing
        self._dead_letter(schedule, firing, payload)
        return firing

    def _dead_letter(self, schedule: dict[str, Any], firing: Firing, payload: str) -> None:
        queue_arn = ((schedule["Target"].get("DeadLetterConfig")) or {}).get("Arn")
        if not queue_arn:
            return
        _, _, _, region, account, name = str(queue_arn).split(":")
        sqs = self._client("sqs", schedule["Target"]["RoleArn"])
        attributes = {
            "ERROR_CODE": firing.error_code or "unknown",
            "RETRY_ATTEMPTS": str(firing.attempts - 1),
            "SCHEDULE_ARN": firing.schedule_arn,
            "TARGET_ARN": schedule["Target"]["Arn"],
        }
        try:
            sqs.send_message(
                QueueUrl=f"https://sqs.{region}.amazonaws.com/{account}/{name}",
                MessageBody=payload,
                MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
            )
        except ClientError:
            return  # the role may not send: the dead letter is lost, as on AWS
        firing.dead_lettered = True


def _with_context(template: str, values: dict[str, str], attempt: int) -> str:
    text = template
    for name, value in {**values, "attempt-number": str(attempt)}.items():
        text = text.replace(f"<aws.scheduler.{name}>", value)
    return text
