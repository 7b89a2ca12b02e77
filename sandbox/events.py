"""EventBridge as AWS runs it for this app, where moto has gaps.

- Parameter Store emits "Parameter Store Change" events on every put/delete (moto's SSM emits nothing).
- Step Functions emits "Step Functions Execution Status Change" events when an execution starts and ends (moto's
  executing interpreter emits nothing).
- CloudFormation emits "CloudFormation Stack Status Change" events on every stack status transition
  (emit_stack_status, called by sandbox/deploy.py; moto's CloudFormation emits nothing).
- CloudTrail delivers "AWS API Call via CloudTrail" events for AgentCore control-plane writes (emit_api_call, fed by
  sandbox/cloudtrail.py; moto has no CloudTrail-to-EventBridge delivery).
- Rules deliver to Step Functions and SNS targets (moto's rules raise for `states` targets and drop `sns` ones);
  the rule's event pattern is evaluated by moto, input transformers as EventBridge applies them (`transform`; moto's
  own parser pastes strings without quotes and leaves null values' placeholders in place). A DISABLED rule delivers
  nothing (moto's delivers anyway).

Resource policies (the topic policy, the KMS key policy) are not evaluated here: delivery succeeds whenever the
rule matches. docs/security.md lists this as a gap of the sandbox.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import boto3
from jsonpath_ng.ext import parse as jsonpath
from moto.events import models as events_models
from moto.events.models import events_backends
from moto.sns.models import sns_backends
from moto.ssm import models as ssm_models
from moto.stepfunctions.parser.backend import execution as sfn_execution

STATUS_CHANGE = "Step Functions Execution Status Change"
MAX_EVENT_DATA_BYTES = 248 * 1024
_MISSING = object()


def _millis(moment: Any) -> int | None:
    if not isinstance(moment, datetime.datetime):
        return None
    return int(moment.timestamp() * 1000)


def _as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to targets: moto keeps `time` as epoch seconds, AWS sends ISO 8601."""
    moment = event.get("time")
    if isinstance(moment, int | float | str) and not isinstance(moment, bool):
        try:
            seconds = float(moment)
        except ValueError:
            return event  # already a timestamp string
        iso = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {**event, "time": iso}
    return event


class InvalidTargetInput(ValueError):
    """An input transformer whose result is not the JSON its template promises: EventBridge does not deliver it."""


def _raw(value: Any) -> str:
    """A value pasted inside a template's string literal: as is, not escaped (EventBridge's documented behaviour)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def transform(template: str, paths: dict[str, str], event: dict[str, Any], rule: Any = None) -> str:
    """An input transformer as EventBridge applies it. A placeholder outside quotes gets the value as JSON (a string
    quoted and escaped, null as null, objects as objects); inside a string literal it gets the raw text, unescaped -
    so a value with a quote breaks the JSON. A path that matches nothing creates no variable: its placeholder is
    left out. A JSON template whose result is not JSON is not delivered."""
    values: dict[str, Any] = {}
    for name, path in paths.items():
        matches = jsonpath(path).find(event)
        values[name] = matches[0].value if matches else _MISSING
    values.update(
        {
            "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
            "aws.events.event.json": event,
            "aws.events.event.ingestion-time": event.get("time"),
        }
    )
    if rule is not None:
        values["aws.events.rule-name"] = rule.name
        values["aws.events.rule-arn"] = rule.arn
    out: list[str] = []
    in_string, i = False, 0
    while i < len(template):
        char = template[i]
        if char == "<":
            end = template.find(">", i)
            name = template[i + 1 : end] if end > i else ""
            if name in values:
                value = values[name]
                if value is not _MISSING:
                    out.append(_raw(value) if in_string else json.dumps(value))
                i = end + 1
                continue
        if in_string and char == "\\":
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        i += 1
    result = "".join(out)
    if template.lstrip().startswith(("{", "[")):
        try:
            json.loads(result)
        except ValueError as exc:
            raise InvalidTargetInput(f"input transformer produced invalid JSON ({exc}): {result[:200]}") from None
    return result


class EventBridge:
    """The sandbox's event sources and its delivery to `states` and `sns` targets. Install once per sandbox."""

    def __init__(self, account_id: str, region: str, client_for_role: Callable[[str, str], Any] | None = None) -> None:
        self.account_id = account_id
        self.region = region
        # IAM mode: (service, role ARN) -> a client acting as the target's role, as EventBridge delivers with it.
        self.client_for_role = client_for_role
        self.started_executions: list[str] = []
        self.delivered: list[tuple[str, str]] = []  # (rule name, target ARN) for every delivery
        self.failed_deliveries: list[tuple[str, str, str]] = []  # (rule name, target ARN, why): input not valid
        # Executions whose end event went through the rules. Step Functions sends it after the status changes, so a
        # caller that saw the end in DescribeExecution may still be ahead of the event; Sandbox.wait waits for it.
        self.ended_executions: set[str] = set()
        self._lock = threading.Lock()
        self._patches: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------------------------

    def install(self) -> None:
        bridge = self
        original_put = ssm_models.SimpleSystemManagerBackend.put_parameter
        original_delete = ssm_models.SimpleSystemManagerBackend.delete_parameter
        original_send = events_models.Rule.send_to_targets
        original_start = sfn_execution.Execution.start
        original_reflect = sfn_execution.BaseExecutionWorkerCommunication._reflect_execution_status

        def put_parameter(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            existed = backend.get_parameter(name) is not None
            parameter = original_put(backend, name, *args, **kwargs)
            bridge.emit_parameter_change(name, "Update" if existed else "Create", parameter.parameter_type)
            return parameter

        def delete_parameter(backend: Any, name: str) -> Any:
            result = original_delete(backend, name)
            bridge.emit_parameter_change(name, "Delete", "String")
            return result

        def start(execution: Any) -> None:
            original_start(execution)
            bridge.emit_execution_status(execution, "RUNNING")

        def reflect(communication: Any) -> None:
            original_reflect(communication)
            try:
                ended = communication.execution.exec_status
                bridge.emit_execution_status(communication.execution, ended.value if ended is not None else "RUNNING")
            finally:
                with bridge._lock:
                    bridge.ended_executions.add(communication.execution.exec_arn)

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            if rule.state != "ENABLED" or not rule.event_pattern.matches_event(original_event):
                return
            original_event = _as_delivered(original_event)
            handled = {"states": bridge.start_execution, "sns": bridge.publish}
            others = []
            for target in rule.targets:
                deliver = handled.get(target["Arn"].split(":")[2])
                if deliver is None:
                    others.append(target)
                    continue
                try:
                    payload = bridge.target_input(target, original_event, rule)
                except InvalidTargetInput as exc:
                    # EventBridge counts a FailedInvocation and sends the event to the target's dead-letter queue.
                    with bridge._lock:
                        bridge.failed_deliveries.append((rule.name, target["Arn"], str(exc)))
                    continue
                deliver(target, payload)
                with bridge._lock:
                    bridge.delivered.append((rule.name, target["Arn"]))
            if others:
                saved, rule.targets = rule.targets, others
                try:
                    original_send(rule, original_event, transform_input)
                finally:
                    rule.targets = saved

        patches: list[tuple[Any, str, Callable[..., Any]]] = [
            (ssm_models.SimpleSystemManagerBackend, "put_parameter", put_parameter),
            (ssm_models.SimpleSystemManagerBackend, "delete_parameter", delete_parameter),
            (events_models.Rule, "send_to_targets", send_to_targets),
            (sfn_execution.Execution, "start", start),
            (sfn_execution.BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect),
        ]
        self._patches = [mock.patch.object(owner, name, replacement) for owner, name, replacement in patches]
        for patch in self._patches:
            patch.start()

    def uninstall(self) -> None:
        for patch in reversed(self._patches):
            patch.stop()
        self._patches = []

    # -- sources ---------------------------------------------------------------------------------------------

    def _put(
        self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str], time: str | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "Resources": resources,
        }
        if time is not None:
            entry["Time"] = time
        events_backends[self.account_id][self.region].put_events([entry])

    def emit_stack_status(self, stack_id: str, status: str, reason: str = "", token: str = "") -> None:
        """CloudFormation's event on every stack status transition (shape: the CloudFormation events detail
        reference, "Stack Status Change event detail")."""
        detail = {
            "stack-id": stack_id,
            "status-details": {"status": status, "status-reason": reason},
            "client-request-token": token,
        }
        self._put("aws.cloudformation", "CloudFormation Stack Status Change", detail, [stack_id])

    def emit_api_call(self, record: dict[str, Any]) -> None:
        """A CloudTrail management event as EventBridge receives it: the record is the detail, the source is
        aws.<service> of its eventSource, the time is the call's."""
        service = str(record["eventSource"]).removesuffix(".amazonaws.com")
        self._put(f"aws.{service}", "AWS API Call via CloudTrail", record, [], record.get("eventTime"))

    def emit_parameter_change(self, name: str, operation: str, parameter_type: str) -> None:
        detail = {"name": name, "type": parameter_type, "operation": operation}
        self._put(
            "aws.ssm",
            "Parameter Store Change",
            detail,
            [f"arn:aws:ssm:{self.region}:{self.account_id}:parameter{name}"],
        )

    def emit_execution_status(self, execution: Any, status: str) -> None:
        """The event Step Functions sends on every status change (shape from the Step Functions event reference).
        The status is the change's, not the execution's now: a start event sent after the execution already ended
        still says RUNNING."""
        terminal = status != "RUNNING"
        # Step Functions' rule: the escaped output is left out when it alone exceeds 248 KB; the escaped input is left
        # out when it and the (included) output together exceed it. The output wins.
        data_input = json.dumps(execution.input_data)
        data_output = json.dumps(execution.output) if terminal and execution.output is not None else None
        escaped_output = len(json.dumps(data_output).encode()) if data_output is not None else 0
        output_included = data_output is not None and escaped_output <= MAX_EVENT_DATA_BYTES
        input_included = (
            len(json.dumps(data_input).encode()) + (escaped_output if output_included else 0) <= MAX_EVENT_DATA_BYTES
        )
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": _millis(execution.start_date),
            "stopDate": _millis(execution.stop_date) if terminal else None,
            "input": data_input if input_included else None,
            "output": data_output if output_included else None,
            "inputDetails": {"included": input_included},
            # Only a succeeded execution has an output to include or not; the others send null, like error and
            # cause on a success: every field is present, so a rule's input transformer always finds its paths.
            "outputDetails": {"included": output_included} if data_output is not None else None,
            "error": execution.error if terminal else None,
            "cause": execution.cause if terminal else None,
        }
        self._put("aws.states", STATUS_CHANGE, detail, [execution.exec_arn])

    # -- targets ---------------------------------------------------------------------------------------------

    @staticmethod
    def target_input(target: dict[str, Any], event: dict[str, Any], rule: Any = None) -> str:
        """The text EventBridge hands the target: the constant Input, the transformed event, or the event itself."""
        if "Input" in target:
            return str(target["Input"])
        transformer = target.get("InputTransformer")
        if transformer:
            return transform(
                transformer.get("InputTemplate") or "", transformer.get("InputPathsMap") or {}, event, rule
            )
        return json.dumps(event)

    def start_execution(self, target: dict[str, Any], payload: str) -> None:
        role_arn = target.get("RoleArn")
        if self.client_for_role is not None and role_arn:
            stepfunctions = self.client_for_role("stepfunctions", role_arn)
        else:
            stepfunctions = boto3.client("stepfunctions", region_name=self.region)
        response = stepfunctions.start_execution(
            # EventBridge names each execution itself (moto would name every one "None").
            stateMachineArn=target["Arn"],
            name=str(uuid.uuid4()),
            input=payload,
        )
        with self._lock:
            self.started_executions.append(response["executionArn"])

    def publish(self, target: dict[str, Any], payload: str) -> None:
        sns_backends[self.account_id][self.region].publish(message=payload, arn=target["Arn"])
