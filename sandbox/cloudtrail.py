"""CloudTrail for the AgentCore control plane, as far as EventBridge sees it (moto records nothing).

Every bedrock-agentcore-control write (a non-read-only operation) made through botocore becomes the record CloudTrail
would log - eventSource bedrock-agentcore.amazonaws.com, the operation as eventName, the caller as userIdentity,
requestParameters and responseElements with every member the API model marks sensitive replaced by
HIDDEN_DUE_TO_SECURITY_REASONS, errorCode/errorMessage for a refused call - and EventBridge receives it as
"AWS API Call via CloudTrail" from source aws.bedrock-agentcore (the rules' patterns decide the rest) - only while
the account has a trail logging management events (`trail`; as on AWS, without one nothing reaches EventBridge).

Who called (userIdentity), as on AWS by credentials:
- a client acting as a role (sandbox/iam Identities: a function's execution role, the state machine's role, an
  EventBridge target's role, the sandbox's DeveloperRole) is an AssumedRole session of that role;
- without IAM mode, a call made inside a Lambda invocation is its function's role session (as Lambda would sign it);
- anyone else (the harness's unrestricted keys) is the IAM user HARNESS_USER.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from unittest import mock

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.model import Shape
from moto.awslambda.models import lambda_backends

SERVICE = "bedrock-agentcore-control"
EVENT_SOURCE = "bedrock-agentcore.amazonaws.com"
EVENTBRIDGE_SOURCE = "aws.bedrock-agentcore"
DETAIL_TYPE = "AWS API Call via CloudTrail"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
HARNESS_USER = "sandbox-harness"
READ_ONLY_PREFIXES = ("Get", "List", "Describe")


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def redacted(value: Any, shape: Shape | None) -> Any:
    """The value as CloudTrail logs it: members the API model marks sensitive are hidden, never copied."""
    if shape is None:
        return value
    if shape.metadata.get("sensitive"):
        return HIDDEN
    if shape.type_name == "structure" and isinstance(value, Mapping):
        members = shape.members  # type: ignore[attr-defined]
        return {k: redacted(v, members.get(k)) for k, v in value.items() if k != "ResponseMetadata"}
    if shape.type_name == "list" and isinstance(value, list):
        return [redacted(v, shape.member) for v in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, Mapping):
        return {k: redacted(v, shape.value) for k, v in value.items()}  # type: ignore[attr-defined]
    if isinstance(value, datetime.datetime):
        return _iso(value)
    return value


class CloudTrail:
    """Install after SandboxIam (it wraps the same botocore method) and uninstall before it."""

    def __init__(
        self,
        account_id: str,
        region: str,
        emit: Callable[[dict[str, Any]], None],
        principal_of_key: Callable[[str], Any] | None = None,
        current_function: Callable[[], str | None] | None = None,
        trail: bool = True,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.emit = emit
        self.principal_of_key = principal_of_key  # access key -> sandbox.iam Principal (role ARN, session) or None
        self.current_function = current_function  # the Lambda function running in this thread, if any
        # EventBridge receives CloudTrail's API-call events only while a trail with logging enabled records them;
        # without one, the calls are only in the event history (`records`).
        self.trail = trail
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._patch: Any = None

    def install(self) -> None:
        trail = self
        original = BaseClient._make_api_call  # type: ignore[attr-defined]

        def _make_api_call(client: BaseClient, operation_name: str, api_params: Mapping[str, Any]) -> Any:
            if client.meta.service_model.service_name != SERVICE or operation_name.startswith(READ_ONLY_PREFIXES):
                return original(client, operation_name, api_params)
            identity = trail.identity(client)
            try:
                response = original(client, operation_name, api_params)
            except ClientError as error:
                trail.log(client, operation_name, api_params, identity, None, error)
                raise
            trail.log(client, operation_name, api_params, identity, response, None)
            return response

        self._patch = mock.patch.object(BaseClient, "_make_api_call", _make_api_call)
        self._patch.start()

    def uninstall(self) -> None:
        if self._patch is not None:
            self._patch.stop()
            self._patch = None

    # -- identity ----------------------------------------------------------------------------------------------------

    def identity(self, client: BaseClient) -> dict[str, Any]:
        credentials = client._request_signer._credentials  # type: ignore[attr-defined]
        access_key = credentials.get_frozen_credentials().access_key if credentials is not None else ""
        principal = self.principal_of_key(access_key) if self.principal_of_key is not None else None
        if principal is not None:
            return self.assumed_role(str(principal.role_arn), str(principal.session_name), access_key)
        function_name = self.current_function() if self.current_function is not None else None
        if function_name is not None:
            function = lambda_backends[self.account_id][self.region].get_function(function_name)
            return self.assumed_role(str(function.role), function_name, access_key)
        return {
            "type": "IAMUser",
            "principalId": "AIDASANDBOXHARNESS",
            "arn": f"arn:aws:iam::{self.account_id}:user/{HARNESS_USER}",
            "accountId": self.account_id,
            "accessKeyId": access_key,
            "userName": HARNESS_USER,
        }

    def assumed_role(self, role_arn: str, session_name: str, access_key: str) -> dict[str, Any]:
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = f"AROA{uuid.uuid5(uuid.NAMESPACE_URL, role_arn).hex[:17].upper()}"
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session_name}",
            "arn": f"arn:aws:sts::{self.account_id}:assumed-role/{role_name}/{session_name}",
            "accountId": self.account_id,
            "accessKeyId": access_key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": role_arn,
                    "accountId": self.account_id,
                    "userName": role_name,
                },
                "attributes": {"creationDate": _iso(datetime.datetime.now(datetime.UTC)), "mfaAuthenticated": "false"},
            },
        }

    # -- records -----------------------------------------------------------------------------------------------------

    def log(
        self,
        client: BaseClient,
        operation_name: str,
        params: Mapping[str, Any],
        identity: dict[str, Any],
        response: Mapping[str, Any] | None,
        error: ClientError | None,
    ) -> None:
        operation = client.meta.service_model.operation_model(operation_name)
        now = datetime.datetime.now(datetime.UTC)
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": _iso(now),
            "eventSource": EVENT_SOURCE,
            "eventName": operation_name,
            "awsRegion": client.meta.region_name or self.region,
            "sourceIPAddress": "127.0.0.1",
            "userAgent": "sandbox",
            "requestParameters": redacted(dict(params), operation.input_shape),
            "responseElements": None if response is None else redacted(dict(response), operation.output_shape),
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account_id,
            "eventCategory": "Management",
        }
        if error is not None:
            record["errorCode"] = error.response.get("Error", {}).get("Code", "")
            record["errorMessage"] = error.response.get("Error", {}).get("Message", "")
        with self._lock:
            self.records.append(record)
        if self.trail:
            self.emit(record)

    def calls(self, by_role_arn: str | None = None) -> list[str]:
        """eventNames logged so far, optionally only those of one role's sessions."""
        with self._lock:
            records = list(self.records)
        return [
            r["eventName"]
            for r in records
            if by_role_arn is None
            or (r["userIdentity"].get("sessionContext") or {}).get("sessionIssuer", {}).get("arn") == by_role_arn
        ]


@contextlib.contextmanager
def installed(trail: CloudTrail) -> Iterator[CloudTrail]:
    trail.install()
    try:
        yield trail
    finally:
        trail.uninstall()
