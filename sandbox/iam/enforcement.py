"""Who is calling, and the hooks that make every SDK call of a role pass through IAM evaluation.

Identity (as on AWS, by credentials):
- each in-process Lambda invocation gets its execution role's temporary credentials in its environment (minted by
  moto's STS, session name = function name, as Lambda does); InProcessLambdas gives each function its own boto3
  default session and Powertools parameter providers, which its own process would hold on AWS;
- Step Functions tasks (Lambda invoke, sns:Publish, any SDK integration) create their clients with the state
  machine role's credentials (moto's interpreter hard-codes the access key "ak"; that key is refused);
- EventBridge rule targets start executions with the target's role;
- any other access key (the harness, deploy, seed, the sandbox's servers: "testing"/"FOOBARKEY") is unrestricted, and
  moto's internal work (CloudFormation creating resources) calls backends directly and is never evaluated.

Hook: botocore's BaseClient._make_api_call records the call's parameters, BaseClient._make_request (reached after
botocore validated and serialized the request) authorizes it. Every authorization a call needs is evaluated and
recorded (so an audit shows all that is missing); the first denial is returned, as AWS stops at it. A denial becomes
the 403 wire response the service would send (its protocol, its error code), parsed by botocore's own parser, so the
ClientError raised is the one a real account produces.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict
from unittest import mock
from xml.sax.saxutils import escape

import boto3
import botocore.credentials
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders
from botocore.endpoint import convert_to_response_dict
from botocore.model import OperationModel
from botocore.parsers import create_parser
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from sandbox.iam.facts import MotoFacts
from sandbox.iam.policy import (
    AuthorizationRequest,
    Decision,
    Evaluation,
    Grant,
    PolicyDocument,
    allow_grants,
    evaluate,
    parse_policy,
)
from sandbox.iam.requests import (
    ApiCall,
    Principal,
    RequestContext,
    RequiredAuthorization,
    ResourceFacts,
    api_call,
    base_context,
    required_authorizations,
)

logger = logging.getLogger(__name__)

STATES_SESSION = "StepFunctions"
EVENTS_SESSION = "EventBridge"
MOTO_STATES_ACCESS_KEY = "ak"  # what moto's ASL interpreter signs with when nobody gave it an identity
LAMBDA_LOG_DELIVERY = "Lambda log delivery"

# The error code each service returns for an IAM denial (AccessDeniedException unless listed), by IAM prefix.
DENIAL_CODES = {"s3": "AccessDenied", "sts": "AccessDenied", "iam": "AccessDenied", "sns": "AuthorizationError"}


class UnidentifiedCaller(RuntimeError):
    """A call signed with credentials the sandbox should have replaced by a role's."""


class Credentials(TypedDict):
    AWS_ACCESS_KEY_ID: str
    AWS_SECRET_ACCESS_KEY: str
    AWS_SESSION_TOKEN: str


@dataclass(frozen=True)
class AuditRecord:
    principal: Principal
    operation: str  # "<botocore service>.<Operation>", or LAMBDA_LOG_DELIVERY
    action: str
    resource: str
    decision: Decision
    implied_by: str | None = None
    allowed_by: tuple[Grant, ...] = ()
    enforced: bool = True  # False: audit-only, the call went ahead regardless

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED


@dataclass
class RoleUsage:
    """One role's use of its permissions over a sandbox run (least privilege, in both directions)."""

    label: str
    role_arn: str
    used: list[str] = field(default_factory=list)  # actions evaluated for the role, sorted
    denied: list[AuditRecord] = field(default_factory=list)  # one record per distinct (action, resource)
    unused: list[Grant] = field(default_factory=list)  # inline-policy grants that allowed nothing
    unused_managed: list[Grant] = field(default_factory=list)  # the same for attached managed policies


class Identities:
    """Temporary credentials per (role, session), minted by moto's STS as AssumeRole would; access key -> principal."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()
        self._by_session: dict[tuple[str, str], Credentials] = {}
        self._by_key: dict[str, Principal] = {}

    def credentials(self, role_arn: str, session_name: str) -> Credentials:
        with self._lock:
            found = self._by_session.get((role_arn, session_name))
            if found is None:
                sts = sts_backends[self.account_id][get_partition(self.region)]
                assumed = sts.assume_role(
                    region_name=self.region,
                    role_session_name=session_name[:64],
                    role_arn=role_arn,
                    policy="",
                    duration=43200,
                    external_id="",
                )
                found = Credentials(
                    AWS_ACCESS_KEY_ID=assumed.access_key_id,
                    AWS_SECRET_ACCESS_KEY=assumed.secret_access_key,
                    AWS_SESSION_TOKEN=assumed.session_token,
                )
                self._by_session[(role_arn, session_name)] = found
                self._by_key[assumed.access_key_id] = Principal(role_arn, session_name[:64])
            return found

    def principal(self, access_key: str) -> Principal | None:
        return self._by_key.get(access_key)

    def signing(self, access_key: str) -> tuple[Credentials, Principal] | None:
        """The credentials an access key belongs to and whose they are (a data plane verifying a SigV4 signature)."""
        with self._lock:
            principal = self._by_key.get(access_key)
            if principal is None:
                return None
            found = next(c for c in self._by_session.values() if c["AWS_ACCESS_KEY_ID"] == access_key)
            return found, principal

    def client(self, service: str, role_arn: str, session_name: str, region: str) -> Any:
        credentials = self.credentials(role_arn, session_name)
        return boto3.session.Session().client(  # type: ignore[call-overload]
            service,
            region_name=region,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
        )


# -- policies of a role ---------------------------------------------------------------------------------------------


def _aws_managed_documents() -> dict[str, Mapping[str, object]]:
    data: dict[str, Mapping[str, object]] = json.loads(aws_managed_policies_data)
    return data


class RolePolicies:
    """A role's identity-based policies from moto IAM: inline + attached managed ones (customer managed from moto,
    AWS managed from the data moto ships, whether or not moto loaded it into its backend)."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._extra_managed: dict[str, list[str]] = {}
        self._aws_managed: dict[str, Mapping[str, object]] | None = None
        self._warned: set[str] = set()

    def attach_managed(self, role_arn: str, policy_arns: Sequence[str]) -> None:
        """Managed policies the role has on AWS but not in moto (moto's CloudFormation drops ManagedPolicyArns)."""
        self._extra_managed.setdefault(role_arn, []).extend(a for a in policy_arns if isinstance(a, str))

    def inline(self, role_arn: str) -> list[PolicyDocument]:
        role = self._role(role_arn)
        if role is None:
            return []
        return [parse_policy(name, document) for name, document in role.policies.items()]

    def managed(self, role_arn: str) -> list[PolicyDocument]:
        role = self._role(role_arn)
        arns = list(role.managed_policies) if role is not None else []
        arns += [a for a in self._extra_managed.get(role_arn, []) if a not in arns]
        documents = (self._managed_document(arn, role) for arn in arns)
        return [parse_policy(arn, document) for arn, document in zip(arns, documents, strict=True) if document]

    def all(self, role_arn: str) -> list[PolicyDocument]:
        return self.inline(role_arn) + self.managed(role_arn)

    def _role(self, role_arn: str) -> Any:
        backend = iam_backends[self.account_id][get_partition(self.region)]
        try:
            return backend.get_role_by_arn(role_arn)
        except Exception:  # moto's NotFound: a deleted role grants nothing
            return None

    def _managed_document(self, arn: str, role: Any) -> Mapping[str, object] | str | None:
        attached = role.managed_policies.get(arn) if role is not None else None
        if attached is not None:
            return next((v.document for v in attached.versions if v.is_default), None)
        if arn.startswith("arn:aws:iam::aws:policy/"):
            if self._aws_managed is None:
                self._aws_managed = _aws_managed_documents()
            entry = self._aws_managed.get(arn.rsplit("/", 1)[-1])
            document = entry.get("Document") if entry else None
            if isinstance(document, Mapping):
                return document
        if arn not in self._warned:
            self._warned.add(arn)
            logger.warning("sandbox IAM: managed policy %s is unknown to moto; it grants nothing here", arn)
        return None


# -- denials as the service sends them ------------------------------------------------------------------------------


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._body


def denial_message(principal: Principal, request: AuthorizationRequest, evaluation: Evaluation) -> str:
    reason = (
        "with an explicit deny in an identity-based policy"
        if evaluation.decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {request.action} action"
    )
    return (
        f"User: {principal.assumed_role_arn} is not authorized to perform: {request.action} "
        f"on resource: {request.resource} {reason}"
    )


def _error_wire(protocol: str, code: str, message: str, request_id: str) -> tuple[dict[str, str], bytes]:
    if protocol in ("json", "rest-json"):
        headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code}
        headers["Content-Type"] = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        body = {"__type": code, "message": message} if protocol == "json" else {"message": message}
        return headers, json.dumps(body).encode()
    if protocol == "query":
        xml = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}, xml.encode()
    if protocol == "rest-xml":
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return {"x-amz-request-id": request_id, "Content-Type": "application/xml"}, xml.encode()
    raise NotImplementedError(f"sandbox IAM cannot render a denial in the {protocol} protocol")


def denial_response(operation_model: OperationModel, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    """The 403 the service would send and what botocore's parser makes of it (as botocore's endpoint does)."""
    service_model = operation_model.service_model
    protocol = service_model.resolved_protocol
    headers, body = _error_wire(protocol, code, message, str(uuid.uuid4()))
    url = f"https://{service_model.endpoint_prefix}.amazonaws.com/"
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    http = AWSResponse(url, 403, http_headers, _Body(body))
    response_dict = convert_to_response_dict(http, operation_model)
    parser = create_parser(protocol)
    # botocore parses an error against the operation's output shape, even when it has none (as its endpoint does).
    parsed: dict[str, Any] = parser.parse(response_dict, operation_model.output_shape)  # type: ignore[arg-type]
    error_shape = service_model.shape_for_error_code(code)  # type: ignore[arg-type]  # stubs say int: it is the code
    if error_shape is not None:
        parsed.update(parser.parse(response_dict, error_shape))
    return http, parsed


# -- the installation -------------------------------------------------------------------------------------------------

_PENDING_CALL: contextvars.ContextVar[tuple[int, str, Mapping[str, object]] | None] = contextvars.ContextVar(
    "sandbox_iam_pending_call", default=None
)


class SandboxIam:
    """IAM for the sandbox's roles: identities, the SDK hook, evaluation, audit. `enforce=False` only audits."""

    def __init__(self, account_id: str, region: str, enforce: bool = True, facts: ResourceFacts | None = None) -> None:
        self.account_id = account_id
        self.region = region
        self.enforce = enforce
        self.identities = Identities(account_id, region)
        self.policies = RolePolicies(account_id, region)
        self.facts: ResourceFacts = facts or MotoFacts(account_id, region)
        self.audit: list[AuditRecord] = []
        self._audit_lock = threading.Lock()
        self._stack = contextlib.ExitStack()

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def install(self, lambdas: Any = None) -> None:
        """Hook botocore and Step Functions; with `lambdas` (InProcessLambdas), functions act as their roles."""
        self._stack.enter_context(self._sdk_hook())
        self._stack.enter_context(self._state_machine_identity())
        if lambdas is not None:
            self._stack.enter_context(lambdas.acting_as_roles(self.function_credentials, self.authorize_log_delivery))

    def uninstall(self) -> None:
        self._stack.close()

    # -- identities --------------------------------------------------------------------------------------------------

    def function_credentials(self, function: Any) -> Credentials:
        """What Lambda puts in a function's environment: its execution role's session, named after the function."""
        return self.identities.credentials(str(function.role), str(function.function_name))

    def client_for_role(self, service: str, role_arn: str, session_name: str = EVENTS_SESSION) -> Any:
        """A client acting as `role_arn` (what a service does with a role it was given, e.g. EventBridge targets)."""
        return self.identities.client(service, role_arn, session_name, self.region)

    # -- evaluation --------------------------------------------------------------------------------------------------

    def evaluate(self, principal: Principal, request: AuthorizationRequest) -> Evaluation:
        return evaluate(self.policies.all(principal.role_arn), request)

    def _record(
        self, principal: Principal, operation: str, required: RequiredAuthorization, evaluation: Evaluation
    ) -> None:
        record = AuditRecord(
            principal=principal,
            operation=operation,
            action=required.request.action,
            resource=required.request.resource,
            decision=evaluation.decision,
            implied_by=required.implied_by,
            allowed_by=evaluation.allowed_by,
            enforced=self.enforce,
        )
        with self._audit_lock:
            self.audit.append(record)
        for reason in evaluation.unsupported:
            logger.warning("sandbox IAM: statement failed closed: %s", reason)

    def authorize_call(self, principal: Principal, call: ApiCall) -> tuple[AuthorizationRequest, Evaluation] | None:
        """Evaluate everything the call needs; the first denial (request, evaluation), or None when all is allowed."""
        denial: tuple[AuthorizationRequest, Evaluation] | None = None
        for required in required_authorizations(principal, call, self.facts):
            evaluation = self.evaluate(principal, required.request)
            self._record(principal, f"{call.service}.{call.operation}", required, evaluation)
            if not evaluation.allowed and denial is None:
                denial = (required.request, evaluation)
        return denial

    def authorize_log_delivery(self, function: Any, log_group: str, log_stream: str, create_group: bool) -> bool:
        """Lambda writes a function's logs with the function's role: may it? (If not, AWS drops them silently.)"""
        principal = Principal(str(function.role), str(function.function_name))
        group_arn = f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{log_group}"
        needed = [("logs:CreateLogStream", f"{group_arn}:log-stream:{log_stream}")]
        needed.append(("logs:PutLogEvents", f"{group_arn}:log-stream:{log_stream}"))
        if create_group:
            needed.insert(0, ("logs:CreateLogGroup", group_arn))
        allowed = True
        for action, resource in needed:
            context = RequestContext(base_context(principal, self.region, via_service=True), None)
            required = RequiredAuthorization(AuthorizationRequest(action, resource, context), LAMBDA_LOG_DELIVERY)
            evaluation = self.evaluate(principal, required.request)
            self._record(principal, LAMBDA_LOG_DELIVERY, required, evaluation)
            allowed = allowed and evaluation.allowed
        return allowed or not self.enforce

    # -- hooks -------------------------------------------------------------------------------------------------------

    def caller(self, client: BaseClient) -> Principal | None:
        """The role a client acts as (by its access key); None for anyone else (the unrestricted harness)."""
        # The signer's credentials are what the request will be signed with (private to botocore, stable for years).
        credentials = client._request_signer._credentials  # type: ignore[attr-defined]
        if credentials is None:
            return None
        access_key = credentials.get_frozen_credentials().access_key
        if access_key == MOTO_STATES_ACCESS_KEY:
            raise UnidentifiedCaller("a Step Functions task client was created without the state machine role")
        return self.identities.principal(access_key)

    @contextlib.contextmanager
    def _sdk_hook(self) -> Iterator[None]:
        iam = self
        original_call = BaseClient._make_api_call  # type: ignore[attr-defined]  # private: every API call goes here
        original_request = BaseClient._make_request  # type: ignore[attr-defined]

        def _make_api_call(client: BaseClient, operation_name: str, api_params: Mapping[str, object]) -> Any:
            token = _PENDING_CALL.set((id(client), operation_name, api_params))
            try:
                return original_call(client, operation_name, api_params)
            finally:
                _PENDING_CALL.reset(token)

        def _make_request(
            client: BaseClient, operation_model: OperationModel, request_dict: Any, request_context: Any
        ) -> Any:
            principal = iam.caller(client)
            if principal is not None:
                pending = _PENDING_CALL.get()
                if pending is None or pending[:2] != (id(client), operation_model.name):
                    raise UnidentifiedCaller(f"{operation_model.name} reached the wire without its API parameters")
                denied = iam._authorize_sdk_call(client, principal, operation_model, pending[2])
                if denied is not None:
                    return denied
            return original_request(client, operation_model, request_dict, request_context)

        with (
            mock.patch.object(BaseClient, "_make_api_call", _make_api_call),
            mock.patch.object(BaseClient, "_make_request", _make_request),
        ):
            yield

    def _authorize_sdk_call(
        self, client: BaseClient, principal: Principal, operation_model: OperationModel, params: Mapping[str, object]
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        region = client.meta.region_name or self.region
        call = api_call(operation_model.service_model, operation_model.name, params, region, principal.account)
        denial = self.authorize_call(principal, call)
        if denial is None or not self.enforce:
            return None
        request, evaluation = denial
        code = DENIAL_CODES.get(call.prefix, "AccessDeniedException")
        return denial_response(operation_model, code, denial_message(principal, request, evaluation))

    @contextlib.contextmanager
    def _state_machine_identity(self) -> Iterator[None]:
        """moto's ASL interpreter makes every task's client with `boto_client_for(region, service, state_credentials)`,
        where state_credentials.role_arn is the execution's role: give those clients that role's credentials."""
        import moto.stepfunctions.parser.asl.parse.preprocessor  # noqa: F401 - imports every task module
        from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_module

        original: Callable[..., BaseClient] = boto_client_module.boto_client_for
        identities = self.identities

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
            client = original(region=region, service=service, state_credentials=state_credentials)
            role_arn = getattr(state_credentials, "role_arn", None)
            if role_arn:
                creds = identities.credentials(str(role_arn), STATES_SESSION)
                client._request_signer._credentials = botocore.credentials.Credentials(  # type: ignore[attr-defined]
                    creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"]
                )
            return client

        with contextlib.ExitStack() as stack:
            for name, module in list(sys.modules.items()):
                if name.startswith("moto.stepfunctions") and getattr(module, "boto_client_for", None) is original:
                    stack.enter_context(mock.patch.object(module, "boto_client_for", boto_client_for))
            yield

    # -- least privilege ---------------------------------------------------------------------------------------------

    def records(self, start: int = 0) -> list[AuditRecord]:
        """The audit from position `start` on (a consistent copy)."""
        with self._audit_lock:
            return self.audit[start:]

    def usage(self, labels: Mapping[str, str]) -> list[RoleUsage]:
        """Per role (role ARN -> label): actions used, denials, and grants that allowed nothing."""
        usages: list[RoleUsage] = []
        with self._audit_lock:
            records = list(self.audit)
        for role_arn, label in labels.items():
            mine = [r for r in records if r.principal.role_arn == role_arn]
            effective = {g for r in mine if r.allowed for g in r.allowed_by}
            denied: dict[tuple[str, str], AuditRecord] = {}
            for record in mine:
                if not record.allowed:
                    denied.setdefault((record.action, record.resource), record)
            usages.append(
                RoleUsage(
                    label=label,
                    role_arn=role_arn,
                    used=sorted({r.action for r in mine}),
                    denied=list(denied.values()),
                    unused=[g for g in allow_grants(self.policies.inline(role_arn)) if g not in effective],
                    unused_managed=[g for g in allow_grants(self.policies.managed(role_arn)) if g not in effective],
                )
            )
        return usages


def format_usage(usages: Sequence[RoleUsage]) -> str:
    """A plain-text table: per role, actions used, denied (action on resource) and granted-but-unused."""
    lines: list[str] = []
    for usage in usages:
        lines.append(f"{usage.label}  ({usage.role_arn})")
        lines.append(f"  used:    {', '.join(usage.used) or '-'}")
        for record in usage.denied:
            via = f" (implied by {record.implied_by})" if record.implied_by else ""
            lines.append(f"  DENIED:  {record.action} on {record.resource}{via} [{record.decision}]")
        unused = [f"{g.action_pattern} ({g.policy} {g.statement})" for g in usage.unused]
        lines.append(f"  unused:  {', '.join(unused) or '-'}")
        if usage.unused_managed:
            managed = sorted({f"{g.action_pattern} ({g.policy.rsplit('/', 1)[-1]})" for g in usage.unused_managed})
            lines.append(f"  unused (managed policies): {', '.join(managed)}")
    return "\n".join(lines)
