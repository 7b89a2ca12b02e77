"""From one API call to what AWS authorizes for it: (action, resource ARN, condition context), plus the implied
authorizations AWS evaluates against the same caller.

- Action: `<IAM prefix>:<operation>` (botocore's signing name gives the prefix; a few operations are authorized as a
  differently named action, see reference.OPERATION_TO_ACTION); it must exist in the service authorization reference.
- Resource: the reference says which resource types the action takes. None: the resource is "*". Otherwise the ARN is
  built from the request parameters (RESOURCE_BUILDERS: request parameter -> ARN per resource type) and must fit that
  type's ARN format; when several types yield ARNs, the most specific one is authorized (a runtime endpoint, not its
  runtime). A call that cannot be mapped raises UnmappedRequest - the sandbox never allows by default.
- Implied: iam:PassRole for a role handed to a service (context iam:PassedToService); s3:GetObject(Version) on the
  CodeZip artifact of Create/UpdateAgentRuntime (+ kms:Decrypt via S3 for a customer-managed key); kms:GenerateDataKey
  and kms:Decrypt via SNS when publishing to a topic encrypted with a customer-managed key.
- Context: aws:PrincipalArn/Account/Type, aws:RequestedRegion, aws:SecureTransport, aws:ViaAWSService,
  aws:RequestTag/<key> and aws:TagKeys from the request's tags, aws:ResourceTag/<key> (looked up only when a policy
  asks), iam:PassedToService, kms:ViaService.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from botocore.model import ServiceModel

from sandbox.iam.policy import AuthorizationRequest, ContextValue
from sandbox.iam.reference import ResourceType, action_name, iam_prefix, resource_types


class UnmappedRequest(LookupError):
    """The sandbox cannot tell which resource AWS would authorize this call against; it refuses rather than allows."""


class ResourceFacts(Protocol):
    """What the account knows about resources that authorization depends on (moto, in the sandbox)."""

    def object_kms_key(self, bucket: str, key: str, version_id: str | None) -> str | None:
        """ARN of the customer-managed KMS key the object is encrypted with; None otherwise."""
        ...

    def topic_kms_key(self, topic_arn: str) -> str | None:
        """ARN of the customer-managed KMS key the topic is encrypted with; None (none or AWS-managed) otherwise."""
        ...

    def kms_key_arn(self, key_id: str) -> str | None:
        """Key ARN for a key id, key ARN, alias name or alias ARN; None if unknown."""
        ...

    def role_arn(self, role_name: str) -> str | None: ...

    def resource_tags(self, arn: str) -> Mapping[str, str]: ...


# Operations whose IAM action depends on a parameter (S3 object versions).
_VERSIONED_S3_ACTIONS = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion"}


def iam_action(prefix: str, operation: str, params: Mapping[str, object]) -> str:
    name = action_name(prefix, operation)
    if prefix == "s3" and params.get("VersionId") and name in _VERSIONED_S3_ACTIONS:
        name = _VERSIONED_S3_ACTIONS[name]
    return f"{prefix}:{name}"


@dataclass(frozen=True)
class ApiCall:
    service: str  # botocore service name, e.g. "bedrock-agentcore-control"
    prefix: str  # IAM prefix, e.g. "bedrock-agentcore"
    operation: str  # API operation, e.g. "UpdateAgentRuntime"
    action: str  # IAM action, e.g. "bedrock-agentcore:UpdateAgentRuntime"
    params: Mapping[str, object]
    region: str
    account: str

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if isinstance(value, str) and value else None

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:aws:{service}:{region}:{account}:{resource}"


def api_call(
    service_model: ServiceModel, operation: str, params: Mapping[str, object], region: str, account: str
) -> ApiCall:
    prefix = iam_prefix(service_model)
    return ApiCall(
        service=service_model.service_name,
        prefix=prefix,
        operation=operation,
        action=iam_action(prefix, operation, params),
        params=params,
        region=region,
        account=account,
    )


@dataclass(frozen=True)
class Principal:
    role_arn: str
    session_name: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def assumed_role_arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"


@dataclass(frozen=True)
class RequiredAuthorization:
    request: AuthorizationRequest
    implied_by: str | None = None  # the action whose call implies this one (None: the call's own action)


class RequestContext(Mapping[str, ContextValue]):
    """Condition keys of one request (lower-cased); aws:ResourceTag/* is read from the account only when asked for."""

    def __init__(self, values: dict[str, ContextValue], resource_tags: Callable[[], Mapping[str, str]] | None) -> None:
        self._values = values
        self._resource_tags = resource_tags
        self._tags_loaded = resource_tags is None

    def _load_tags(self) -> None:
        if not self._tags_loaded and self._resource_tags is not None:
            for key, value in self._resource_tags().items():
                self._values[f"aws:resourcetag/{key}".lower()] = value
            self._tags_loaded = True

    def __getitem__(self, key: str) -> ContextValue:
        if key.startswith("aws:resourcetag/"):
            self._load_tags()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        self._load_tags()
        return iter(self._values)

    def __len__(self) -> int:
        self._load_tags()
        return len(self._values)


# -- resource ARNs per resource type ---------------------------------------------------------------------------------

ArnBuilder = Callable[[ApiCall, ResourceFacts], list[str]]


def _as_arn_or(call: ApiCall, param: str, build: Callable[[str], str]) -> list[str]:
    value = call.text(param)
    if value is None:
        return []
    return [value if value.startswith("arn:") else build(value)]


def _agentcore_runtime(call: ApiCall, _: ResourceFacts) -> list[str]:
    if arn := call.text("agentRuntimeArn"):
        return [arn]
    return _as_arn_or(call, "agentRuntimeId", lambda rid: call.arn("bedrock-agentcore", f"runtime/{rid}"))


def _agentcore_runtime_endpoint(call: ApiCall, facts: ResourceFacts) -> list[str]:
    endpoint = call.text("endpointName") or call.text("qualifier")
    return [f"{runtime}/runtime-endpoint/{endpoint}" for runtime in _agentcore_runtime(call, facts)] if endpoint else []


def _agentcore_gateway(call: ApiCall, _: ResourceFacts) -> list[str]:
    if arn := call.text("gatewayArn"):
        return [arn]
    return _as_arn_or(call, "gatewayIdentifier", lambda gid: call.arn("bedrock-agentcore", f"gateway/{gid}"))


def _agentcore_workload_directory(call: ApiCall, _: ResourceFacts) -> list[str]:
    return [call.arn("bedrock-agentcore", "workload-identity-directory/default")]


def _agentcore_workload_identity(call: ApiCall, _: ResourceFacts) -> list[str]:
    name = call.text("name") or call.text("workloadName")
    directory = "workload-identity-directory/default/workload-identity"
    return [call.arn("bedrock-agentcore", f"{directory}/{name}")] if name else []


def _ssm_parameter_arn(call: ApiCall, name: str) -> str:
    if name.startswith("arn:"):
        return name
    # Parameter names are hierarchical ("/app/x") or flat ("x"); the ARN always has exactly one slash before it.
    return call.arn("ssm", f"parameter/{name.split(':')[0].lstrip('/')}")


def _ssm_parameter(call: ApiCall, _: ResourceFacts) -> list[str]:
    # GetParametersByPath is authorized against the requested path, not the parameters it returns (Parameter Store
    # user guide, "How Parameter Store authorizes parameter retrieval"); GetParameters against each name.
    names: list[str] = []
    for param in ("Name", "Path"):
        if value := call.text(param):
            names.append(value)
    listed = call.params.get("Names")
    if isinstance(listed, list):
        names.extend(str(n) for n in listed)
    return [_ssm_parameter_arn(call, n) for n in names]


def _states_arn(*params: str) -> ArnBuilder:
    def build(call: ApiCall, _: ResourceFacts) -> list[str]:
        return [value for p in params if (value := call.text(p))]

    return build


def _lambda_function(call: ApiCall, _: ResourceFacts) -> list[str]:
    name = call.text("FunctionName")
    if name is None:
        return []
    qualifier = call.text("Qualifier")
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # partial ARN "123456789012:function:name"
        account, _sep, rest = name.partition(":function:")
        arn = call.arn("lambda", f"function:{rest}", account=account)
    else:  # "name" or "name:qualifier"
        arn = call.arn("lambda", f"function:{name}")
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return [arn]


def _sns_topic(call: ApiCall, _: ResourceFacts) -> list[str]:
    return [value for p in ("TopicArn", "TargetArn", "ResourceArn") if (value := call.text(p))]


def _sqs_queue(call: ApiCall, _: ResourceFacts) -> list[str]:
    # QueueUrl: https://sqs.<region>.amazonaws.com/<account>/<name> (the queue's own account and name).
    url = call.text("QueueUrl")
    if url is None:
        return []
    account, name = url.rstrip("/").split("/")[-2:]
    return [f"arn:aws:sqs:{call.region}:{account}:{name}"]


def _s3_bucket(call: ApiCall, _: ResourceFacts) -> list[str]:
    bucket = call.text("Bucket")
    return [f"arn:aws:s3:::{bucket}"] if bucket else []


def _s3_object(call: ApiCall, _: ResourceFacts) -> list[str]:
    bucket, key = call.text("Bucket"), call.text("Key")
    return [f"arn:aws:s3:::{bucket}/{key}"] if bucket and key else []


def _iam_role(call: ApiCall, facts: ResourceFacts) -> list[str]:
    if arn := call.text("RoleArn"):
        return [arn]
    name = call.text("RoleName")
    if name is None:
        return []
    return [facts.role_arn(name) or f"arn:aws:iam::{call.account}:role/{name}"]


def _cognito_userpool(call: ApiCall, _: ResourceFacts) -> list[str]:
    return _as_arn_or(call, "UserPoolId", lambda pool: call.arn("cognito-idp", f"userpool/{pool}"))


def _kms_key(call: ApiCall, facts: ResourceFacts) -> list[str]:
    key_id = call.text("KeyId")
    if key_id is None:
        return []
    arn = facts.kms_key_arn(key_id)
    return [arn] if arn else []


def _dynamodb_table(call: ApiCall, _: ResourceFacts) -> list[str]:
    # Item operations name the table (or, since 2023, its ARN) in TableName.
    return _as_arn_or(call, "TableName", lambda name: call.arn("dynamodb", f"table/{name}"))


def _logs_log_group(call: ApiCall, _: ResourceFacts) -> list[str]:
    group = call.text("logGroupName")
    if group is None:
        return _as_arn_or(call, "logGroupIdentifier", lambda g: call.arn("logs", f"log-group:{g}"))
    return [call.arn("logs", f"log-group:{group}")]


def _logs_log_stream(call: ApiCall, facts: ResourceFacts) -> list[str]:
    stream = call.text("logStreamName")
    return [f"{group}:log-stream:{stream}" for group in _logs_log_group(call, facts)] if stream else []


RESOURCE_BUILDERS: dict[tuple[str, str], ArnBuilder] = {
    ("bedrock-agentcore", "runtime"): _agentcore_runtime,
    ("bedrock-agentcore", "runtime-endpoint"): _agentcore_runtime_endpoint,
    ("bedrock-agentcore", "gateway"): _agentcore_gateway,
    ("bedrock-agentcore", "workload-identity-directory"): _agentcore_workload_directory,
    ("bedrock-agentcore", "workload-identity"): _agentcore_workload_identity,
    ("ssm", "parameter"): _ssm_parameter,
    ("states", "statemachine"): _states_arn("stateMachineArn"),
    ("states", "execution"): _states_arn("executionArn"),
    ("states", "express"): _states_arn("executionArn"),
    ("states", "maprun"): _states_arn("mapRunArn"),
    ("states", "activity"): _states_arn("activityArn"),
    ("lambda", "function"): _lambda_function,
    ("sns", "topic"): _sns_topic,
    ("sqs", "queue"): _sqs_queue,
    ("s3", "bucket"): _s3_bucket,
    ("s3", "object"): _s3_object,
    ("iam", "role"): _iam_role,
    ("sts", "role"): _iam_role,
    ("cognito-idp", "userpool"): _cognito_userpool,
    ("kms", "key"): _kms_key,
    ("dynamodb", "table"): _dynamodb_table,
    ("logs", "log-group"): _logs_log_group,
    ("logs", "log-stream"): _logs_log_stream,
}


def resource_arns(call: ApiCall, facts: ResourceFacts) -> list[str]:
    """The resource(s) the call's action is authorized against: ["*"] for actions without a resource type."""
    types = resource_types(call.action)
    if not types:
        return ["*"]
    tagged = call.text("resourceArn") if call.prefix == "bedrock-agentcore" else None
    if tagged is not None:  # Tag/Untag/ListTagsForResource: the resource is the ARN named, whichever type it is
        if any(resource_type.accepts(tagged) for resource_type in types):
            return [tagged]
        raise UnmappedRequest(f"sandbox IAM: {call.action} names {tagged}, which is none of its resource types")
    built: list[str] = []
    for resource_type in types:
        builder = RESOURCE_BUILDERS.get((call.prefix, resource_type.name))
        if builder is not None:
            built.extend(arn for arn in builder(call, facts) if _fits(resource_type, arn) and arn not in built)
    if not built:
        names = ", ".join(t.name for t in types)
        raise UnmappedRequest(
            f"sandbox IAM cannot map {call.service}.{call.operation} ({call.action}) to a resource of type {names}: "
            "extend sandbox/iam/requests.py RESOURCE_BUILDERS"
        )
    # A runtime endpoint is the resource, not the runtime it belongs to: keep the most specific ARNs only.
    return [arn for arn in built if not any(other.startswith(f"{arn}/") for other in built)]


def _fits(resource_type: ResourceType, arn: str) -> bool:
    return not resource_type.arn_patterns or resource_type.accepts(arn)


# -- condition context ---------------------------------------------------------------------------------------------


def request_tags(params: Mapping[str, object]) -> dict[str, str]:
    """Tags a create/tag call sends: `tags`/`Tags` as a map or as [{Key, Value}] / [{key, value}]."""
    raw = params.get("tags", params.get("Tags"))
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    tags: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping):
                key = item.get("Key", item.get("key"))
                if key is not None:
                    tags[str(key)] = str(item.get("Value", item.get("value", "")))
    return tags


def base_context(
    principal: Principal, region: str, params: Mapping[str, object] | None = None, via_service: bool = False
) -> dict[str, ContextValue]:
    """Global condition keys of a request by `principal` (request tags from `params`); `via_service`: an AWS service
    makes it on the principal's behalf (forward access), as for KMS via SNS or S3 reads by AgentCore."""
    now = datetime.now(UTC)
    context: dict[str, ContextValue] = {
        "aws:principalarn": principal.role_arn,
        "aws:principalaccount": principal.account,
        "aws:principaltype": "AssumedRole",
        "aws:requestedregion": region,
        "aws:securetransport": "true",
        "aws:viaawsservice": "true" if via_service else "false",
        "aws:currenttime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:epochtime": str(int(now.timestamp())),
    }
    tags = request_tags(params or {})
    if tags:
        context["aws:tagkeys"] = tuple(tags)
        context.update({f"aws:requesttag/{k}".lower(): v for k, v in tags.items()})
    return context


# -- implied authorizations ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassRoleRule:
    role_param: str
    passed_to: str  # the service principal receiving the role


PASS_ROLE: dict[tuple[str, str], PassRoleRule] = {
    **{
        ("bedrock-agentcore", op): PassRoleRule("roleArn", "bedrock-agentcore.amazonaws.com")
        for op in ("CreateAgentRuntime", "UpdateAgentRuntime", "CreateGateway", "UpdateGateway")
    },
    ("states", "CreateStateMachine"): PassRoleRule("roleArn", "states.amazonaws.com"),
    ("states", "UpdateStateMachine"): PassRoleRule("roleArn", "states.amazonaws.com"),
    ("lambda", "CreateFunction"): PassRoleRule("Role", "lambda.amazonaws.com"),
    ("lambda", "UpdateFunctionConfiguration"): PassRoleRule("Role", "lambda.amazonaws.com"),
}


@dataclass
class _Implied:
    principal: Principal
    call: ApiCall
    facts: ResourceFacts
    found: list[RequiredAuthorization] = field(default_factory=list)

    def add(self, action: str, resource: str, extra: Mapping[str, ContextValue], via_service: bool) -> None:
        context = base_context(self.principal, self.call.region, via_service=via_service)
        context.update(extra)
        request = AuthorizationRequest(action, resource, RequestContext(context, None))
        self.found.append(RequiredAuthorization(request, implied_by=self.call.action))


def _implied_pass_role(implied: _Implied) -> None:
    rule = PASS_ROLE.get((implied.call.prefix, implied.call.operation))
    role = implied.call.text(rule.role_param) if rule else None
    if rule and role:
        implied.add("iam:PassRole", role, {"iam:passedtoservice": rule.passed_to}, via_service=False)


def _implied_code_zip_read(implied: _Implied) -> None:
    call = implied.call
    if call.prefix != "bedrock-agentcore" or call.operation not in ("CreateAgentRuntime", "UpdateAgentRuntime"):
        return
    location = _dig(call.params, "agentRuntimeArtifact", "codeConfiguration", "code", "s3")
    if not isinstance(location, Mapping) or not location.get("bucket") or not location.get("prefix"):
        return
    bucket, key = str(location["bucket"]), str(location["prefix"])
    version = str(location["versionId"]) if location.get("versionId") else None
    # AgentCore reads the code with the caller's permissions (forward access): an identity check on the caller.
    action = "s3:GetObjectVersion" if version else "s3:GetObject"
    implied.add(action, f"arn:aws:s3:::{bucket}/{key}", {}, via_service=True)
    key_arn = implied.facts.object_kms_key(bucket, key, version)
    if key_arn:
        implied.add("kms:Decrypt", key_arn, {"kms:viaservice": f"s3.{call.region}.amazonaws.com"}, via_service=True)


def _implied_sns_kms(implied: _Implied) -> None:
    call = implied.call
    topic = call.text("TopicArn") or call.text("TargetArn")
    if call.prefix != "sns" or call.operation not in ("Publish", "PublishBatch") or topic is None:
        return
    key_arn = implied.facts.topic_kms_key(topic)
    if key_arn:  # an AWS-managed key (alias/aws/sns) needs no grant: its key policy allows use via SNS
        via = {"kms:viaservice": f"sns.{call.region}.amazonaws.com"}
        implied.add("kms:GenerateDataKey", key_arn, via, via_service=True)
        implied.add("kms:Decrypt", key_arn, via, via_service=True)


def _dig(value: object, *path: str) -> object:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


IMPLIED_RULES: tuple[Callable[[_Implied], None], ...] = (_implied_pass_role, _implied_code_zip_read, _implied_sns_kms)


# Service-specific condition keys a request carries (AgentCore Gateway's documented keys: "Use IAM condition keys with
# Amazon Bedrock AgentCore Gateway"): key -> path into the request parameters.
_GATEWAY_KEYS: dict[str, tuple[str, ...]] = {
    "bedrock-agentcore:gatewayauthorizertype": ("authorizerType",),
    "bedrock-agentcore:discoveryurl": ("authorizerConfiguration", "customJWTAuthorizer", "discoveryUrl"),
    "bedrock-agentcore:protocoltype": ("protocolType",),
    "bedrock-agentcore:kmskeyarn": ("kmsKeyArn",),
}
SERVICE_CONDITION_KEYS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("bedrock-agentcore", "CreateGateway"): _GATEWAY_KEYS,
    ("bedrock-agentcore", "UpdateGateway"): _GATEWAY_KEYS,
}


def service_context(call: ApiCall) -> dict[str, ContextValue]:
    keys = SERVICE_CONDITION_KEYS.get((call.prefix, call.operation), {})
    return {key: str(value) for key, path in keys.items() if (value := _dig(call.params, *path)) is not None}


def required_authorizations(principal: Principal, call: ApiCall, facts: ResourceFacts) -> list[RequiredAuthorization]:
    """Everything AWS checks for this call, the call's own action first."""
    required: list[RequiredAuthorization] = []
    for resource in resource_arns(call, facts):
        tags_of = None if resource == "*" else partial(facts.resource_tags, resource)
        values = {**base_context(principal, call.region, call.params), **service_context(call)}
        context = RequestContext(values, tags_of)
        required.append(RequiredAuthorization(AuthorizationRequest(call.action, resource, context)))
    implied = _Implied(principal, call, facts)
    for rule in IMPLIED_RULES:
        rule(implied)
    return required + implied.found
