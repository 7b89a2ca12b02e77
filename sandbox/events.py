"""EventBridge as AWS runs it for this app, where moto has gaps.

- Parameter Store emits "Parameter Store Change" events on every put/delete (moto's SSM emits nothing).
- Step Functions emits "Step Functions Execution Status Change" events when an execution starts and ends (moto's
  executing interpreter emits nothing).
- CloudFormation emits "CloudFormation Stack Status Change" events on every stack status transition
  (emit_stack_status, called by sandbox/deploy.py; moto's CloudFormation emits nothing).
- CloudTrail delivers "AWS API Call via CloudTrail" events for AgentCore control-plane writes (emit_api_call, fed by
  sandbox/cloudtrail.py; moto has no CloudTrail-to-EventBridge delivery).
- Rules deliver to Step Functions and SNS targets (moto's rules raise for `states` targets and drop `sns` ones);
  the rule's event pattern is evaluated by moto, input transformers as EventBridge applies them. A DISABLED rule
  delivers nothing (moto's delivers anyway).

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
from moto.events import models as events_models
from moto.events.models import events_backends
from moto.events.utils import EventTemplateParser
from moto.sns.models import sns_backends
from moto.ssm import models as ssm_models
from moto.stepfunctions.parser.backend import execution as sfn_execution

STATUS_CHANGE = "Step Functions Execution Status Change"
MAX_EVENT_DATA_BYTES = 248 * 1024


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


class EventBridge:
    """The sandbox's event sources and its delivery to `states` and `sns` targets. Install once per sandbox."""

    def __init__(self, account_id: str, region: str, client_for_role: Callable[[str, str], Any] | None = None) -> None:
        self.account_id = account_id
        self.region = region
        # IAM mode: (service, role ARN) -> a client acting as the target's role, as EventBridge delivers with it.
        self.client_for_role = client_for_role
        self.started_executions: list[str] = []
        self.delivered: list[tuple[str, str]] = []  # (rule name, target ARN) for every delivery
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
            bridge.emit_execution_status(execution)

        def reflect(communication: Any) -> None:
            original_reflect(communication)
            bridge.emit_execution_status(communication.execution)

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
                deliver(target, bridge.target_input(target, original_event))
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

    def emit_execution_status(self, execution: Any) -> None:
        """The event Step Functions sends on every status change (shape from the Step Functions event reference)."""
        status = execution.exec_status.value if execution.exec_status is not None else "RUNNING"
        terminal = status != "RUNNING"
        # Input and output share a 248 KiB budget in the event; what does not fit is left out, marked so.
        data_input = json.dumps(execution.input_data)
        data_output = json.dumps(execution.output) if terminal and execution.output is not None else None
        input_included = len(data_input.encode()) <= MAX_EVENT_DATA_BYTES
        output_included = data_output is not None and (
            len(data_output.encode()) + (len(data_input.encode()) if input_included else 0) <= MAX_EVENT_DATA_BYTES
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
            "outputDetails": {"included": output_included} if terminal else None,
            "error": execution.error if terminal else None,
            "cause": execution.cause if terminal else None,
        }
        self._put("aws.states", STATUS_CHANGE, detail, [execution.exec_arn])

    # -- targets ---------------------------------------------------------------------------------------------

    @staticmethod
    def target_input(target: dict[str, Any], event: Any) -> Any:
        transformer = target.get("InputTransformer") or {}
        if "Input" in target:
            return json.loads(target["Input"])
        if transformer:
            return EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate") or "",
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=event,
            )
        return event

    def start_execution(self, target: dict[str, Any], payload: Any) -> None:
        role_arn = target.get("RoleArn")
        if self.client_for_role is not None and role_arn:
            stepfunctions = self.client_for_role("stepfunctions", role_arn)
        else:
            stepfunctions = boto3.client("stepfunctions", region_name=self.region)
        response = stepfunctions.start_execution(
            # EventBridge names each execution itself (moto would name every one "None").
            stateMachineArn=target["Arn"],
            name=str(uuid.uuid4()),
            input=json.dumps(payload),
        )
        with self._lock:
            self.started_executions.append(response["executionArn"])

    def publish(self, target: dict[str, Any], payload: Any) -> None:
        message = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        sns_backends[self.account_id][self.region].publish(message=message, arn=target["Arn"])
