"""EventBridge as AWS runs it for this app: Parameter Store emits "Parameter Store Change" events, and rules deliver
to Step Functions targets (moto has neither: its SSM emits nothing and its rules raise for `states` targets)."""

from __future__ import annotations

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
from moto.ssm import models as ssm_models


class ParameterStoreEvents:
    def __init__(self, account_id: str, region: str, client_for_role: Callable[[str, str], Any] | None = None) -> None:
        self.account_id = account_id
        self.region = region
        # IAM mode: (service, role ARN) -> a client acting as the target's role, as EventBridge delivers with it.
        self.client_for_role = client_for_role
        self.started_executions: list[str] = []
        self._lock = threading.Lock()
        self._patches: list[Any] = []

    def install(self) -> None:
        bridge = self
        original_put = ssm_models.SimpleSystemManagerBackend.put_parameter
        original_delete = ssm_models.SimpleSystemManagerBackend.delete_parameter
        original_send = events_models.Rule.send_to_targets

        def put_parameter(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            existed = backend.get_parameter(name) is not None
            parameter = original_put(backend, name, *args, **kwargs)
            bridge.emit(name, "Update" if existed else "Create", parameter.parameter_type)
            return parameter

        def delete_parameter(backend: Any, name: str) -> Any:
            result = original_delete(backend, name)
            bridge.emit(name, "Delete", "String")
            return result

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            if not rule.event_pattern.matches_event(original_event):
                return
            to_states = [t for t in rule.targets if ":states:" in t["Arn"]]
            others = [t for t in rule.targets if t not in to_states]
            for target in to_states:
                bridge.start_execution(target, original_event)
            if others:
                saved, rule.targets = rule.targets, others
                try:
                    original_send(rule, original_event, transform_input)
                finally:
                    rule.targets = saved

        self._patches = [
            mock.patch.object(ssm_models.SimpleSystemManagerBackend, "put_parameter", put_parameter),
            mock.patch.object(ssm_models.SimpleSystemManagerBackend, "delete_parameter", delete_parameter),
            mock.patch.object(events_models.Rule, "send_to_targets", send_to_targets),
        ]
        for patch in self._patches:
            patch.start()

    def uninstall(self) -> None:
        for patch in reversed(self._patches):
            patch.stop()
        self._patches = []

    def emit(self, name: str, operation: str, parameter_type: str) -> None:
        detail = {"name": name, "type": parameter_type, "operation": operation}
        events_backends[self.account_id][self.region].put_events(
            [
                {
                    "Source": "aws.ssm",
                    "DetailType": "Parameter Store Change",
                    "Detail": json.dumps(detail),
                    "Resources": [f"arn:aws:ssm:{self.region}:{self.account_id}:parameter{name}"],
                }
            ]
        )

    def start_execution(self, target: dict[str, Any], event: Any) -> None:
        transformer = target.get("InputTransformer") or {}
        if "Input" in target:
            payload = json.loads(target["Input"])
        elif transformer:
            payload = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate") or "",
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=event,
            )
        else:
            payload = event
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
