"""Make moto's bedrock-agentcore-control behave like AgentCore where the rollout depends on it.

moto (5.2) gaps bridged here, each one a documented AgentCore behaviour (see docs/architecture.md):
- statuses change on reads (or never: updates stay UPDATING)  -> time-based transitions: a LatencyProfile of realistic
                                                                 durations, scaled by `latency_scale` for tests
- runtime versions exist but nothing serves them              -> a DEFAULT endpoint per runtime whose liveVersion
                                                                 moves to a new version only after it is READY, and
                                                                 full per-version configuration the data plane serves
- ListAgentRuntimeEndpoints items lack liveVersion and        -> both, when set, from the same record as
  targetVersion                                                   GetAgentRuntimeEndpoint
- DeleteGateway is immediate and cascades targets            -> refused while any target exists (DELETING ones too);
                                                                DELETING -> gone
- DeleteGatewayTarget is immediate                           -> the target is DELETING and disappears once it settles
                                                                (reaped on Get/List); deleting a DELETING target is
                                                                refused (ConflictException)
- gateway names are not checked                              -> CreateGateway/UpdateGateway refuse a name outside the
                                                                botocore model's pattern (ValidationException: botocore
                                                                does not check patterns client-side, the service does)
- CreateGateway answers with gatewayUrl                      -> omitted (optional in the model; GetGateway has it)
- Get*/List* lack members of the current output shapes       -> every member is stored and returned: gateways'
                                                                customTransformConfiguration, wafConfiguration,
                                                                domainOverride, webAclArn (from the WAFv2 association),
                                                                statusReasons; targets' privateEndpoint (+ the managed
                                                                resources AgentCore creates for a VPC endpoint),
                                                                certificateConfigurations, protocolType,
                                                                lastSynchronizedAt and targetType/listingMode/
                                                                resourcePriority in summaries, where they apply. Not
                                                                modelled: a target's authorizationData (only for OAuth
                                                                targets awaiting consent)
- TagResource accepts reserved keys                          -> a key beginning with aws: is refused
- UpdateGateway keeps settings the request omits             -> a full replace: an omitted optional setting is cleared
                                                                (the strict reading of an unconfirmed behaviour)
- gatewayUrl lacks /mcp; ids/ARNs don't look like AWS's       -> AWS formats
- a gateway's authorizer type can change in place            -> refused ("cannot be updated")
- re-applying a runtime authorizer is accepted                -> refused ("Authorizer already exists") whenever the
                                                                 runtime has one, identical or not (strict reading)
- updating a runtime that is mid-update is accepted            -> ConflictException
- UpdateAgentRuntime keeps settings the request omits;         -> a full replace: an omitted optional setting is
  moto drops allowedPorts, filesystemConfigurations, ...          cleared (the authorizer excepted); every member of
                                                                  the model's request is kept per version and returned
- GetAgentRuntime ignores agentRuntimeVersion                  -> a past version's own record (with the status it had
                                                                  when a later update superseded it); 404 if unknown
Faults can be injected for tests, demos and the benchmarks' fault table: UPDATE_FAILED, FAILED (the next target or a
named one), a DEFAULT endpoint that fails or is slow to move, a target whose deletion fails, a gateway deletion that
stays DELETING for a long time and may end FAILED, a resource that never settles, and a write refused with any error
the operation declares (throttling, AccessDenied, validation). `elapse` lets AWS time pass between two runs.
The patches are installed for the sandbox's lifetime and removed afterwards.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import botocore.session
from moto.bedrockagentcorecontrol import models as ac_models
from moto.bedrockagentcorecontrol import responses as ac_responses
from moto.bedrockagentcorecontrol.exceptions import (
    BedrockAgentCoreControlClientError,
    ConflictException,
    ResourceNotFoundException,
)
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random
from moto.wafv2.models import wafv2_backends

RUNTIME_MODEL = "bedrock-agentcore-control::agent_runtime"
ENDPOINT_MODEL = "bedrock-agentcore-control::agent_runtime_endpoint"
GATEWAY_MODEL = "bedrock-agentcore-control::gateway"
TARGET_MODEL = "bedrock-agentcore-control::gateway_target"
GONE = "DELETED"  # internal marker: the record disappears the next time anyone looks
DEFAULT_ENDPOINT = "DEFAULT"
# UpdateAgentRuntime is a full replace: an optional setting the request omits is cleared (request member -> moto
# attribute). The authorizer is the exception (kept when omitted; docs/security.md, "Runtime authorizers").
RUNTIME_CLEARED_WHEN_OMITTED = {
    "description": "description",
    "requestHeaderConfiguration": "request_header_configuration",
    "protocolConfiguration": "protocol_configuration",
    "environmentVariables": "environment_variables",
}
# What AgentCore applies when lifecycleConfiguration is omitted (a required member of GetAgentRuntime's output).
DEFAULT_LIFECYCLE = {"idleRuntimeSessionTimeout": 900, "maxLifetime": 28800}
# GetAgentRuntime members -> the record attributes that hold them (a past version's record is rebuilt from these).
RUNTIME_RECORD_MEMBERS = {
    "agentRuntimeArn": "agent_runtime_arn",
    "agentRuntimeName": "agent_runtime_name",
    "agentRuntimeId": "agent_runtime_id",
    "agentRuntimeVersion": "agent_runtime_version",
    "createdAt": "created_at",
    "lastUpdatedAt": "last_updated_at",
    "roleArn": "role_arn",
    "networkConfiguration": "network_configuration",
    "lifecycleConfiguration": "lifecycle_configuration",
    "description": "description",
    "workloadIdentityDetails": "workload_identity_details",
    "agentRuntimeArtifact": "agent_runtime_artifact",
    "protocolConfiguration": "protocol_configuration",
    "environmentVariables": "environment_variables",
    "authorizerConfiguration": "authorizer_configuration",
    "requestHeaderConfiguration": "request_header_configuration",
}
# Runtime members moto's AgentRuntime models itself; every other setting is kept in `extra_settings`.
MOTO_RUNTIME_MEMBERS = frozenset(
    {
        "agentRuntimeId",
        "agentRuntimeArtifact",
        "roleArn",
        "networkConfiguration",
        "authorizerConfiguration",
        "lifecycleConfiguration",
        *RUNTIME_CLEARED_WHEN_OMITTED,
    }
)
FAILED_STATUSES = ("FAILED", "UPDATE_UNSUCCESSFUL", "SYNCHRONIZE_UNSUCCESSFUL")
# Gateway settings AgentCore stores that moto's Gateway does not (request member -> record attribute).
EXTRA_GATEWAY_SETTINGS = {
    "customTransformConfiguration": "custom_transform_configuration",
    "wafConfiguration": "waf_configuration",
    "domainOverride": "domain_override",
}
# UpdateGateway is a full replace: every optional setting the request omits is cleared (request member -> attribute).
GATEWAY_OPTIONAL_SETTINGS = {
    "description": "description",
    "protocolConfiguration": "protocol_configuration",
    "authorizerConfiguration": "authorizer_configuration",
    "kmsKeyArn": "kms_key_arn",
    "interceptorConfigurations": "interceptor_configurations",
    "policyEngineConfiguration": "policy_engine_configuration",
    "exceptionLevel": "exception_level",
    **EXTRA_GATEWAY_SETTINGS,
}
EXTRA_TARGET_SETTINGS = {
    "privateEndpoint": "private_endpoint",
    "certificateConfigurations": "certificate_configurations",
}
# TargetSummary.targetType per targetConfiguration.mcp member.
MCP_TARGET_TYPES = {
    "lambda": "LAMBDA",
    "openApiSchema": "OPEN_API_SCHEMA",
    "smithyModel": "SMITHY_MODEL",
    "mcpServer": "MCP_SERVER",
    "apiGateway": "API_GATEWAY",
    "connector": "CONNECTOR",
}


class ValidationException(BedrockAgentCoreControlClientError):
    code = "ValidationException"


@dataclass(frozen=True)
class LatencyProfile:
    """How long each asynchronous AgentCore transition takes, in seconds, before `latency_scale`.

    AWS publishes no figures: these are the orders of magnitude a console user sees (a runtime update takes about a
    minute, a Lambda target a few seconds). What tests rely on is the order they imply, which scaling keeps: a
    runtime is READY before its DEFAULT endpoint moves to the new version, a gateway before its targets.
    """

    runtime_create: float = 40.0
    runtime_update: float = 45.0
    endpoint_create: float = 10.0  # the DEFAULT endpoint, counted from the runtime's first READY
    endpoint_update: float = 20.0  # DEFAULT moving to a new version, counted from the runtime's READY
    gateway_create: float = 30.0
    gateway_update: float = 15.0
    gateway_delete: float = 20.0
    target_create: float = 10.0
    target_update: float = 10.0
    target_delete: float = 5.0
    other: float = 10.0  # any transition not named above

    def seconds(self, model: str, pending: str) -> float:
        name = _PROFILE_FIELDS.get((model, pending))
        return float(getattr(self, name)) if name else self.other


_PROFILE_FIELDS = {
    (RUNTIME_MODEL, "CREATING"): "runtime_create",
    (RUNTIME_MODEL, "UPDATING"): "runtime_update",
    (ENDPOINT_MODEL, "CREATING"): "endpoint_create",
    (ENDPOINT_MODEL, "UPDATING"): "endpoint_update",
    (GATEWAY_MODEL, "CREATING"): "gateway_create",
    (GATEWAY_MODEL, "UPDATING"): "gateway_update",
    (GATEWAY_MODEL, "DELETING"): "gateway_delete",
    (TARGET_MODEL, "CREATING"): "target_create",
    (TARGET_MODEL, "UPDATING"): "target_update",
    (TARGET_MODEL, "DELETING"): "target_delete",
}


class ManualClock:
    """A clock that moves only when told (`advance`): tests decide exactly when a transition is due."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def read_until(
    read: Callable[[], Mapping[str, Any]],
    what: str,
    status: str = "READY",
    polls: int = 20,
    between: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """Read a control-plane record until its status is `status` and return it: at most `polls` reads, `between` run
    after each read that is not there yet (a ManualClock step, a short sleep; nothing where reads move time on)."""
    for _ in range(polls):
        record = dict(read())
        if record["status"] == status:
            return record
        if between is not None:
            between()
    raise RuntimeError(f"{what} did not become {status} within {polls} reads")


@dataclass(frozen=True)
class _Step:
    """At time `at` the record's status becomes `status` (and `effect` runs, e.g. liveVersion moves)."""

    at: float
    status: str
    effect: Callable[[Any], None] | None = None


@cache
def extra_runtime_members() -> frozenset[str]:
    """Settings UpdateAgentRuntime takes and GetAgentRuntime returns that moto drops (current botocore model)."""
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    update, get = model.operation_model("UpdateAgentRuntime"), model.operation_model("GetAgentRuntime")
    assert update.input_shape is not None
    assert get.output_shape is not None
    return frozenset(set(update.input_shape.members) & set(get.output_shape.members)) - MOTO_RUNTIME_MEMBERS


@cache
def _member_pattern(operation: str, member: str) -> re.Pattern[str]:
    """A request member's pattern from the current botocore model (the service enforces it, botocore does not)."""
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    request = model.operation_model(operation).input_shape
    assert request is not None
    return re.compile(request.members[member].metadata["pattern"])


def _name_error(operation: str, name: Any) -> ValidationException | None:
    pattern = _member_pattern(operation, "name")
    if isinstance(name, str) and pattern.fullmatch(name):
        return None
    return ValidationException(
        f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern.pattern}"
    )


@cache
def declared_errors(operation: str) -> frozenset[str]:
    """The error codes an AgentCore control-plane operation declares (current botocore model)."""
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    return frozenset(shape.name for shape in model.operation_model(operation).error_shapes)


# What AWS says with each injected refusal (the messages are AWS's usual ones for these codes).
REFUSAL_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "AccessDeniedException": "User is not authorized to perform this action",
    "ValidationException": "The request was refused by the service",
    "ConflictException": "The resource is being modified by another request",
    "InternalServerException": "An internal error occurred. Try your request again",
    "ServiceQuotaExceededException": "The request would exceed a service quota",
    "ResourceNotFoundException": "The resource was not found",
}


@dataclass
class Faults:
    """Failures the next matching operation will run into (consumed once each)."""

    runtime_update_failure: str | None = None
    endpoint_update_failure: str | None = None  # the DEFAULT endpoint fails to move to the next new version
    # The DEFAULT endpoint's next move takes this long after the runtime is READY (LatencyProfile seconds, scaled by
    # latency_scale; None: the profile's endpoint_update). A later update's move replaces it, as on AWS.
    endpoint_update_seconds: float | None = None
    gateway_create_failure: str | None = None
    target_create_failure: str | None = None
    target_create_failure_name: str | None = None  # only a target of this name fails (None: the next one created)
    target_delete_failure: str | None = None  # the next DeleteGatewayTarget ends in FAILED instead of gone
    # The next DeleteGateway stays DELETING this long (LatencyProfile seconds, scaled by latency_scale; None: the
    # profile's gateway_delete), then is gone - or FAILED with `gateway_delete_failure` as its reason.
    gateway_delete_seconds: float | None = None
    gateway_delete_failure: str | None = None
    stalled_models: set[str] = field(default_factory=set)
    # AWS semantics are unconfirmed: True makes UpdateAgentRuntime clear an authorizer the request omits.
    omitted_authorizer_clears: bool = False
    # Operation name -> the error codes its next calls are refused with, one per call (see `refuse`).
    refusals: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, name: str) -> str | None:
        with self._lock:
            value: str | None = getattr(self, name)
            setattr(self, name, None)
            return value

    def take_seconds(self, name: str) -> float | None:
        with self._lock:
            value: float | None = getattr(self, name)
            setattr(self, name, None)
            return value

    def take_target_failure(self, target_name: str) -> str | None:
        """The target creation failure, if it applies to this target (then it is consumed)."""
        with self._lock:
            failure = self.target_create_failure
            if failure is None or self.target_create_failure_name not in (None, target_name):
                return None
            self.target_create_failure = self.target_create_failure_name = None
            return failure

    def refuse(self, operation: str, code: str, times: int = 1) -> None:
        """The next `times` calls of `operation` (e.g. "CreateGateway") are refused with `code`, one of the errors
        the operation declares in the botocore model (ThrottlingException, AccessDeniedException, ...)."""
        declared = declared_errors(operation)
        if code not in declared:
            raise ValueError(f"{operation} does not declare {code}; it declares {sorted(declared)}")
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        with self._lock:
            self.refusals.setdefault(operation, []).extend([code] * times)

    def take_refusal(self, operation: str) -> str | None:
        with self._lock:
            queued = self.refusals.get(operation)
            if not queued:
                return None
            code = queued.pop(0)
            if not queued:
                del self.refusals[operation]
            return code


def _random_suffix(length: int = 10, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    return "".join(mock_random.choice(alphabet) for _ in range(length))


class AgentCoreBehaviour:
    """Installs the AWS behaviours over moto's in-memory AgentCore control plane."""

    def __init__(
        self,
        latency: LatencyProfile | None = None,
        latency_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`latency_scale` multiplies every duration of `latency` (0.001: a 45 s update takes 45 ms); `clock` is the
        time source (tests may pass a manual one)."""
        if latency_scale < 0:
            raise ValueError(f"latency_scale must be >= 0, got {latency_scale}")
        self.latency = latency or LatencyProfile()
        self.latency_scale = latency_scale
        self.clock = clock
        self._elapsed = 0.0  # AWS time let pass by `elapse`, on top of the clock
        self.faults = Faults()
        self.mutations: list[str] = []  # every accepted mutating control-plane call, e.g. "CreateGateway my-gateway"
        self.refusals: list[str] = []  # every mutating call refused the way AWS would, e.g. "DeleteGatewayTarget ..."
        self._stack = ExitStack()
        self._lock = threading.RLock()  # statuses are read from moto's and the data planes' threads
        self._request = threading.local()  # the runtime settings of the request being handled (moto drops them)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def install(self) -> None:
        backend_cls = ac_models.BedrockAgentCoreControlBackend
        response_cls = ac_responses.BedrockAgentCoreControlResponse
        patches: dict[tuple[type, str], Callable[..., Any]] = {
            (backend_cls, "create_agent_runtime"): self._create_agent_runtime,
            (backend_cls, "update_agent_runtime"): self._update_agent_runtime,
            (backend_cls, "create_gateway"): self._create_gateway,
            (backend_cls, "update_gateway"): self._update_gateway,
            (backend_cls, "get_gateway"): self._get_gateway,
            (backend_cls, "list_gateways"): self._list_gateways,
            (backend_cls, "delete_gateway"): self._delete_gateway,
            (backend_cls, "create_gateway_target"): self._create_gateway_target,
            (backend_cls, "update_gateway_target"): self._update_gateway_target,
            (backend_cls, "delete_gateway_target"): self._delete_gateway_target,
            (backend_cls, "get_agent_runtime_endpoint"): self._get_agent_runtime_endpoint,
            (response_cls, "get_agent_runtime"): self._get_agent_runtime_response,
            (response_cls, "create_agent_runtime"): self._runtime_write_response,
            (response_cls, "update_agent_runtime"): self._runtime_write_response,
            (response_cls, "get_agent_runtime_endpoint"): self._get_agent_runtime_endpoint_response,
            (backend_cls, "get_gateway_target"): self._get_gateway_target,
            (backend_cls, "list_gateway_targets"): self._list_gateway_targets,
            (backend_cls, "tag_resource"): self._tag_resource,
            (response_cls, "create_gateway"): self._create_gateway_response,
            (response_cls, "update_gateway"): self._update_gateway_response,
            (response_cls, "create_gateway_target"): self._create_gateway_target_response,
            (response_cls, "update_gateway_target"): self._update_gateway_target_response,
            (ac_models.Gateway, "to_dict"): self._gateway_to_dict,
            (ac_models.GatewayTarget, "to_dict"): self._target_to_dict,
            (ac_models.GatewayTarget, "to_summary"): self._target_to_summary,
            (ac_models.AgentRuntimeEndpoint, "to_summary"): self._endpoint_to_summary,
        }
        for (cls, name), replacement in patches.items():
            original = getattr(cls, name)
            self._stack.enter_context(mock.patch.object(cls, name, self._bind(replacement, original)))
        # Injected refusals answer before the operation runs, as AWS's front end does (nothing is changed).
        call_action = response_cls.call_action
        self._stack.enter_context(
            mock.patch.object(response_cls, "call_action", self._bind(self._call_action, call_action))
        )
        # One clock for every status machine: moto's own (state_manager) would advance on reads.
        timed: tuple[type, ...] = (
            ac_models.AgentRuntime,
            ac_models.AgentRuntimeEndpoint,
            ac_models.Gateway,
            ac_models.GatewayTarget,
        )
        for timed_cls in timed:
            self._stack.enter_context(mock.patch.object(timed_cls, "status", self._timed_status()))

    def uninstall(self) -> None:
        self._stack.close()

    def now(self) -> float:
        """The time every transition is scheduled by: the clock, plus the AWS time let pass by `elapse`."""
        return self.clock() + self._elapsed

    def elapse(self, seconds: float) -> None:
        """Let `seconds` of AWS time pass at once (LatencyProfile seconds, scaled by latency_scale like every
        transition): what falls due meanwhile happens on the next read - e.g. a deletion that stayed DELETING for
        hours is over before the next run."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        with self._lock:
            self._elapsed += seconds * self.latency_scale

    @contextmanager
    def instantly(self) -> Iterator[None]:
        """Transitions started inside complete at once: a starting point that settled long before the test."""
        saved, self.latency_scale = self.latency_scale, 0.0
        try:
            yield
        finally:
            self.latency_scale = saved

    def _call_action(self, original: Callable[..., Any], response: Any) -> Any:
        operation = response._get_action()
        code = self.faults.take_refusal(operation)
        if code is None:
            return original(response)
        error = self._refused(
            f"{operation} (injected)", BedrockAgentCoreControlClientError(code, REFUSAL_MESSAGES.get(code, code))
        )
        status, headers, body = response.serialized(ActionResult(error))
        headers, body = response._enrich_response(headers, body)
        return status, headers, body

    def _refused(self, call: str, error: BedrockAgentCoreControlClientError) -> BedrockAgentCoreControlClientError:
        self.refusals.append(f"{call}: {error.code}: {error.message}")
        return error

    @staticmethod
    def _bind(replacement: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(self_: Any, *args: Any, **kwargs: Any) -> Any:
            return replacement(original, self_, *args, **kwargs)

        return patched

    # -- status machines -------------------------------------------------------------------------------------

    def _timed_status(self) -> property:
        """`status` of a record: its steps that are due (by the clock) are applied first, in order."""
        behaviour = self

        def read(record: Any) -> str | None:
            with behaviour._lock:
                timeline: list[_Step] = record.__dict__.get("_timeline") or []
                now = behaviour.now()
                while timeline and timeline[0].at <= now:
                    step = timeline.pop(0)
                    record._status = step.status
                    if step.effect is not None:
                        step.effect(record)
                status: str | None = record._status
                return status

        def write(record: Any, value: str) -> None:
            with behaviour._lock:
                record._timeline = []  # whoever sets a status directly (moto's update()) starts a new story
                record._status = value

        return property(read, write)

    def _latency(self, model: str, pending: str) -> float:
        return self.latency.seconds(model, pending) * self.latency_scale

    def _schedule(self, record: Any, steps: list[_Step], keep_before: float | None = None) -> None:
        """Replace what is still to come for `record` with `steps` (keeping steps due before `keep_before`)."""
        with self._lock:
            kept = [s for s in record.__dict__.get("_timeline") or [] if keep_before is not None and s.at < keep_before]
            record._timeline = sorted(kept + steps, key=lambda s: s.at)

    def _settle_to(
        self, record: Any, pending: str, final: str, model: str, seconds: float | None = None
    ) -> float | None:
        """`record` is `pending` now and `final` once the latency profile's time for (model, pending) - or `seconds`,
        scaled the same way - has passed, or never, if the model is stalled. Returns when it settles (None: never)."""
        with self._lock:
            record._status = pending
            if model in self.faults.stalled_models:
                self._schedule(record, [])
                return None
            latency = self._latency(model, pending) if seconds is None else seconds * self.latency_scale
            at = self.now() + latency
            self._schedule(record, [_Step(at, final)])
            return at

    # -- runtimes --------------------------------------------------------------------------------------------

    def _create_agent_runtime(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        runtime = original(backend, *args, **kwargs)
        # AWS shapes: id "<name>-<10 chars>", ARN ".../runtime/<id>" (stable across versions).
        backend.agent_runtimes.pop(runtime.agent_runtime_id)
        runtime.agent_runtime_id = f"{runtime.agent_runtime_name}-{_random_suffix()}"
        runtime.agent_runtime_arn = (
            f"arn:aws:bedrock-agentcore:{backend.region_name}:{backend.account_id}:runtime/{runtime.agent_runtime_id}"
        )
        runtime.versions = []
        runtime._snapshot_version()
        runtime.extra_settings = self._request_extras()
        if runtime.lifecycle_configuration is None:
            runtime.lifecycle_configuration = dict(DEFAULT_LIFECYCLE)
        backend.agent_runtimes[runtime.agent_runtime_id] = runtime
        self.mutations.append(f"CreateAgentRuntime {runtime.agent_runtime_name}")
        ready_at = self._settle_to(runtime, "CREATING", "READY", RUNTIME_MODEL)
        self._record_version(runtime)
        self._create_default_endpoint(backend, runtime, ready_at)
        return runtime

    def _create_default_endpoint(self, backend: Any, runtime: Any, runtime_ready_at: float | None) -> None:
        """AgentCore creates a runtime's DEFAULT endpoint with it; it serves version 1 once that version is READY."""
        endpoint = backend.create_agent_runtime_endpoint(
            agent_runtime_id=runtime.agent_runtime_id,
            name=DEFAULT_ENDPOINT,
            agent_runtime_version=runtime.agent_runtime_version,
            description=None,
            tags=None,
        )
        endpoint.agent_runtime_endpoint_arn = f"{runtime.agent_runtime_arn}/runtime-endpoint/{DEFAULT_ENDPOINT}"
        endpoint.live_version = None
        endpoint.failure_reason = None
        version = runtime.agent_runtime_version

        def live(record: Any) -> None:
            record.live_version = version

        steps = []
        if runtime_ready_at is not None and ENDPOINT_MODEL not in self.faults.stalled_models:
            steps.append(_Step(runtime_ready_at + self._latency(ENDPOINT_MODEL, "CREATING"), "READY", live))
        self._schedule(endpoint, steps)  # CREATING (moto's initial status) until then

    def _update_agent_runtime(
        self, original: Callable[..., Any], backend: Any, agent_runtime_id: str, **kwargs: Any
    ) -> Any:
        runtime = backend._get_runtime(agent_runtime_id)
        if runtime.status in ("CREATING", "UPDATING"):
            raise ConflictException(f"Agent Runtime {agent_runtime_id} is {runtime.status}; retry when it is READY")
        runtime.versions[-1]["finalStatus"] = runtime.status  # the version this update supersedes (READY, *_FAILED)
        new_authorizer = kwargs.get("authorizer_configuration")
        if new_authorizer is not None and runtime.authorizer_configuration:
            # Strict reading of what real accounts report: any authorizer sent to a runtime that has one is refused,
            # identical or different (docs/security.md, "Runtime authorizers").
            raise ValidationException(f"Authorizer already exists for resourceId: {runtime.agent_runtime_arn}")
        arn = runtime.agent_runtime_arn
        runtime.agent_runtime_arn = f"moto:agent/{agent_runtime_id}:0"  # the shape moto's update() parses
        updated = original(backend, agent_runtime_id, **kwargs)
        updated.agent_runtime_arn = arn  # moto re-mints the ARN per version; AWS keeps it
        if self.faults.omitted_authorizer_clears and new_authorizer is None:
            updated.authorizer_configuration = None
        # A full replace: what the request leaves out is gone (moto's update() keeps it).
        for attribute in RUNTIME_CLEARED_WHEN_OMITTED.values():
            if kwargs.get(attribute) is None:
                setattr(updated, attribute, None)
        if kwargs.get("lifecycle_configuration") is None:
            updated.lifecycle_configuration = dict(DEFAULT_LIFECYCLE)
        updated.extra_settings = self._request_extras()
        self.mutations.append(f"UpdateAgentRuntime {agent_runtime_id}")
        failure = self.faults.take("runtime_update_failure")
        updated.failure_reason = failure
        ready_at = self._settle_to(updated, "UPDATING", "UPDATE_FAILED" if failure else "READY", RUNTIME_MODEL)
        self._record_version(updated)
        if ready_at is not None and not failure:
            self._move_default_endpoint(backend, updated, ready_at)
        return updated

    @staticmethod
    def _past_version(runtime: Any, version: str) -> dict[str, Any]:
        """GetAgentRuntime(agentRuntimeVersion=N): version N's own record, as it was kept (every version is immutable),
        with the status it had when a later update superseded it."""
        snapshot = next((v for v in runtime.versions if v.get("agentRuntimeVersion") == version), None)
        if snapshot is None or "configuration" not in snapshot:
            raise ResourceNotFoundException(f"Version {version} of agent runtime {runtime.agent_runtime_id} not found")
        config = snapshot["configuration"]
        result: dict[str, Any] = {
            member: copy.deepcopy(config.get(attribute))
            for member, attribute in RUNTIME_RECORD_MEMBERS.items()
            if config.get(attribute) not in (None, "", {})
        }
        result.update(copy.deepcopy(config.get("extra_settings") or {}))
        result["status"] = snapshot.get("finalStatus", "READY")
        if result["status"] == "UPDATE_FAILED" and config.get("failure_reason"):
            result["failureReason"] = config["failure_reason"]
        return result

    @staticmethod
    def _record_version(runtime: Any) -> None:
        """Versions are immutable and self-contained: keep this version's whole configuration with its snapshot."""
        snapshot = runtime.versions[-1]
        snapshot["agentRuntimeArn"] = runtime.agent_runtime_arn
        snapshot["configuration"] = version_configuration(runtime)

    def _move_default_endpoint(self, backend: Any, runtime: Any, runtime_ready_at: float) -> None:
        """Once the new version is READY, DEFAULT starts moving to it (UPDATING, targetVersion); it is live only
        after the endpoint's own latency - or never, if the endpoint is stalled or the move fails."""
        endpoint = backend.agent_runtime_endpoints.get((runtime.agent_runtime_id, DEFAULT_ENDPOINT))
        if endpoint is None:
            return
        version = runtime.agent_runtime_version
        failure = self.faults.take("endpoint_update_failure")

        def begin(record: Any) -> None:
            record.target_version = version
            record.failure_reason = None
            record.last_updated_at = utcnow()

        def finish(record: Any) -> None:
            if failure:
                record.failure_reason = failure
            else:
                record.live_version = version
            record.last_updated_at = utcnow()

        steps = [_Step(runtime_ready_at, "UPDATING", begin)]
        if ENDPOINT_MODEL not in self.faults.stalled_models:
            seconds = self.faults.take_seconds("endpoint_update_seconds")
            latency = self._latency(ENDPOINT_MODEL, "UPDATING") if seconds is None else seconds * self.latency_scale
            at = runtime_ready_at + latency
            steps.append(_Step(at, "UPDATE_FAILED" if failure else "READY", finish))
        _ = endpoint.status  # apply what is already due before the new move is planned
        self._schedule(endpoint, steps, keep_before=runtime_ready_at)

    def _runtime_write_response(self, original: Callable[..., Any], response: Any) -> Any:
        """Create/UpdateAgentRuntime: keep the request's settings that moto's parser drops, for the record."""
        params = response._get_params()
        self._request.extras = {m: copy.deepcopy(params[m]) for m in extra_runtime_members() if m in params}
        try:
            return original(response)
        finally:
            self._request.extras = None

    def _request_extras(self) -> dict[str, Any]:
        return dict(getattr(self._request, "extras", None) or {})

    def _get_agent_runtime_response(self, original: Callable[..., Any], response: Any) -> Any:
        version = response._get_param("agentRuntimeVersion")
        runtime = response.backend.agent_runtimes.get(response._get_param("agentRuntimeId"))
        if runtime is not None and version and version != runtime.agent_runtime_version:
            return ActionResult(self._past_version(runtime, str(version)))  # moto ignores the version
        result = original(response)
        if runtime is not None:
            result.result.update(copy.deepcopy(getattr(runtime, "extra_settings", None) or {}))
            if not result.result.get("description"):
                result.result.pop("description", None)
        if runtime is not None and getattr(runtime, "failure_reason", None) and runtime.status == "UPDATE_FAILED":
            result.result["failureReason"] = runtime.failure_reason
        return result

    def _get_agent_runtime_endpoint(
        self, original: Callable[..., Any], backend: Any, agent_runtime_id: str, endpoint_name: str
    ) -> Any:
        endpoint = original(backend, agent_runtime_id, endpoint_name)
        _ = endpoint.status  # due transitions first: they move liveVersion/targetVersion, which are read next
        return endpoint

    def _endpoint_to_summary(self, original: Callable[..., Any], endpoint: Any) -> dict[str, Any]:
        """A ListAgentRuntimeEndpoints item (shape AgentRuntimeEndpoint): liveVersion/targetVersion when set, as
        GetAgentRuntimeEndpoint reports them (moto's summary lacks both), from the same record at the same moment."""
        _ = endpoint.status  # due transitions first: they move liveVersion/targetVersion
        summary: dict[str, Any] = original(endpoint)
        for key, value in (("liveVersion", endpoint.live_version), ("targetVersion", endpoint.target_version)):
            if value is not None:
                summary[key] = value
        if not summary.get("description"):
            summary.pop("description", None)  # optional, and absent when empty (as GetAgentRuntimeEndpoint)
        return summary

    def _get_agent_runtime_endpoint_response(self, original: Callable[..., Any], response: Any) -> Any:
        result = original(response)
        for key in ("liveVersion", "targetVersion"):
            if result.result.get(key) is None:
                result.result.pop(key, None)
        if result.result.get("status") in ("CREATE_FAILED", "UPDATE_FAILED"):
            endpoint = response.backend.agent_runtime_endpoints.get(
                (response._get_param("agentRuntimeId"), response._get_param("endpointName"))
            )
            if endpoint is not None and getattr(endpoint, "failure_reason", None):
                result.result["failureReason"] = endpoint.failure_reason
        return result

    # -- gateways --------------------------------------------------------------------------------------------

    def _create_gateway(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name", args[0] if args else "")
        if invalid := _name_error("CreateGateway", name):
            raise self._refused(f"CreateGateway {name}", invalid)
        if any(g.name == name for g in backend.gateways.values()):
            raise self._refused(f"CreateGateway {name}", ConflictException(f"A gateway named {name} already exists"))
        gateway = original(backend, *args, **kwargs)
        backend.gateways.pop(gateway.gateway_id)
        gateway.gateway_id = f"{gateway.name.lower()}-{_random_suffix()}"
        gateway.gateway_arn = (
            f"arn:aws:bedrock-agentcore:{backend.region_name}:{backend.account_id}:gateway/{gateway.gateway_id}"
        )
        gateway.gateway_url = (
            f"https://{gateway.gateway_id}.gateway.bedrock-agentcore.{backend.region_name}.amazonaws.com/mcp"
        )
        workload_identity = gateway.workload_identity_details["workloadIdentityArn"].rsplit("/", 1)[0]
        gateway.workload_identity_details = {"workloadIdentityArn": f"{workload_identity}/{gateway.gateway_id}"}
        backend.gateways[gateway.gateway_id] = gateway
        self.mutations.append(f"CreateGateway {gateway.name}")
        failure = self.faults.take("gateway_create_failure")
        gateway.status_reasons = [failure] if failure else []
        self._settle_to(gateway, "CREATING", "FAILED" if failure else "READY", GATEWAY_MODEL)
        return gateway

    def _create_gateway_response(self, original: Callable[..., Any], response: Any) -> Any:
        params = response._get_params()
        created = original(response).result
        gateway = response.backend.gateways[created["gatewayId"]]
        for member, attribute in EXTRA_GATEWAY_SETTINGS.items():
            setattr(gateway, attribute, params.get(member))  # moto's CreateGateway drops these
        result = {**gateway.to_dict(), "status": "CREATING"}
        result.pop("gatewayUrl", None)  # optional in the CreateGateway output: AWS leaves it to GetGateway
        return ActionResult(result)

    def _update_gateway(
        self, original: Callable[..., Any], backend: Any, gateway_identifier: str, **kwargs: Any
    ) -> Any:
        gateway = backend._get_gateway(gateway_identifier)
        if invalid := _name_error("UpdateGateway", kwargs.get("name")):
            raise self._refused(f"UpdateGateway {gateway.name}", invalid)
        if kwargs.get("authorizer_type") != gateway.authorizer_type:
            raise ValidationException("Authorizer type cannot be updated for an existing gateway")
        if gateway.status != "READY":
            raise ConflictException(f"Gateway {gateway_identifier} is {gateway.status}")
        updated = original(backend, gateway_identifier, **kwargs)
        self.mutations.append(f"UpdateGateway {updated.name}")
        self._settle_to(updated, "UPDATING", "READY", GATEWAY_MODEL)
        return updated

    def _update_gateway_response(self, original: Callable[..., Any], response: Any) -> Any:
        params = response._get_params()
        updated = original(response).result
        gateway = response.backend.gateways[updated["gatewayId"]]
        # A full replace: what the request leaves out is cleared (moto keeps it).
        for member, attribute in GATEWAY_OPTIONAL_SETTINGS.items():
            setattr(gateway, attribute, params.get(member, "" if member == "description" else None))
        return ActionResult({**gateway.to_dict(), "status": "UPDATING"})

    def _reap(self, backend: Any, gateway: Any) -> bool:
        """Drop a gateway whose deletion has finished; True if it is gone."""
        if gateway.status == GONE:
            backend.gateways.pop(gateway.gateway_id, None)
            return True
        return False

    def _get_gateway(self, original: Callable[..., Any], backend: Any, gateway_identifier: str) -> Any:
        gateway = original(backend, gateway_identifier)
        if self._reap(backend, gateway):
            raise ResourceNotFoundException(f"Could not find Gateway with ID {gateway_identifier}")
        return gateway

    def _list_gateways(self, original: Callable[..., Any], backend: Any) -> Any:
        return [g for g in original(backend) if not self._reap(backend, g)]

    def _delete_gateway(self, original: Callable[..., Any], backend: Any, gateway_identifier: str) -> Any:
        gateway = backend._get_gateway(gateway_identifier)
        targets = [t for (gid, _), t in list(backend.gateway_targets.items()) if gid == gateway.gateway_id]
        if any(not self._reap_target(backend, t) for t in targets):  # DELETING targets still count
            raise self._refused(
                f"DeleteGateway {gateway.name}",
                ValidationException(
                    f"Gateway {gateway_identifier} has targets associated with it. "
                    "Delete all targets before deleting the gateway."
                ),
            )
        if gateway.status == "DELETING":
            raise self._refused(
                f"DeleteGateway {gateway.name}",
                ConflictException(f"Gateway {gateway_identifier} is already being deleted"),
            )
        gateway.status = "DELETING"
        self.mutations.append(f"DeleteGateway {gateway.name}")
        # AWS may take much longer than usual (faults.gateway_delete_seconds), and may give up: FAILED, with reasons.
        failure = self.faults.take("gateway_delete_failure")
        gateway.status_reasons = [failure] if failure else []
        seconds = self.faults.take_seconds("gateway_delete_seconds")
        self._settle_to(gateway, "DELETING", "FAILED" if failure else GONE, GATEWAY_MODEL, seconds)
        return gateway

    def _tag_resource(
        self, original: Callable[..., Any], backend: Any, resource_arn: str, tags: dict[str, str]
    ) -> None:
        resource = resource_arn.rsplit("/", 1)[-1]
        if any(key.lower().startswith("aws:") for key in tags):  # AWS's own tags (e.g. CloudFormation's)
            raise self._refused(
                f"TagResource {resource}",
                ValidationException("Tag keys beginning with 'aws:' are reserved for AWS use and cannot be added"),
            )
        original(backend, resource_arn, tags)
        self.mutations.append(f"TagResource {resource}")

    @staticmethod
    def _gateway_to_dict(original: Callable[..., Any], gateway: Any) -> dict[str, Any]:
        result: dict[str, Any] = original(gateway)
        if not result.get("description"):
            result.pop("description", None)  # AWS omits an unset description (min length 1)
        reasons = getattr(gateway, "status_reasons", None) or []
        result["statusReasons"] = list(reasons) if result.get("status") in FAILED_STATUSES else []
        for member, attribute in EXTRA_GATEWAY_SETTINGS.items():
            if value := getattr(gateway, attribute, None):
                result[member] = value
        # The web ACL is WAFv2's record (AssociateWebACL), not a gateway setting: read it from there.
        web_acl = wafv2_backends[gateway.account_id][gateway.region_name].get_web_acl_for_resource(gateway.gateway_arn)
        if web_acl is not None:
            result["webAclArn"] = web_acl.arn
        return result

    # -- targets ---------------------------------------------------------------------------------------------

    def _create_gateway_target(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        gateway = backend._get_gateway(kwargs.get("gateway_identifier", args[0] if args else ""))
        if gateway.status != "READY":
            raise ConflictException(f"Gateway {gateway.gateway_id} is {gateway.status}; targets need READY")
        target = original(backend, *args, **kwargs)
        self.mutations.append(f"CreateGatewayTarget {target.name}")
        failure = self.faults.take_target_failure(target.name)
        target.status_reasons = [failure] if failure else []
        self._settle_to(target, "CREATING", "FAILED" if failure else "READY", TARGET_MODEL)
        return target

    def _create_gateway_target_response(self, original: Callable[..., Any], response: Any) -> Any:
        return self._target_response(original, response, "CREATING")

    def _update_gateway_target_response(self, original: Callable[..., Any], response: Any) -> Any:
        return self._target_response(original, response, "UPDATING")

    @staticmethod
    def _target_response(original: Callable[..., Any], response: Any, status: str) -> Any:
        params = response._get_params()
        written = original(response).result
        gateway = response.backend._get_gateway(response._get_param("gatewayIdentifier"))
        target = response.backend.gateway_targets[(gateway.gateway_id, written["targetId"])]
        for member, attribute in EXTRA_TARGET_SETTINGS.items():
            setattr(target, attribute, params.get(member))  # moto drops these
        managed = ((params.get("privateEndpoint") or {}).get("managedVpcResource")) or None
        target.private_endpoint_managed_resources = _managed_vpc_resources(target, managed) if managed else None
        target.last_synchronized_at = target.updated_at if _mcp_kind(target) == "mcpServer" else None
        return ActionResult({**target.to_dict(), "status": status})

    def _update_gateway_target(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        gateway = backend._get_gateway(kwargs.get("gateway_identifier", args[0] if args else ""))
        current = backend._get_gateway_target(gateway.gateway_id, kwargs.get("target_id", args[1] if args else ""))
        if current.status == "DELETING":
            raise self._refused(
                f"UpdateGatewayTarget {current.name}", ConflictException(f"Target {current.target_id} is being deleted")
            )
        target = original(backend, *args, **kwargs)
        self.mutations.append(f"UpdateGatewayTarget {target.name}")
        self._settle_to(target, "UPDATING", "READY", TARGET_MODEL)
        return target

    def _reap_target(self, backend: Any, target: Any) -> bool:
        """Drop a target whose deletion has finished; True if it is gone."""
        if target.status == GONE:
            backend.gateway_targets.pop((target.gateway_id, target.target_id), None)
            return True
        return False

    def _get_gateway_target(
        self, original: Callable[..., Any], backend: Any, gateway_identifier: str, target_id: str
    ) -> Any:
        target = original(backend, gateway_identifier, target_id)
        if self._reap_target(backend, target):
            raise ResourceNotFoundException(f"Could not find Target {target_id} for Gateway {gateway_identifier}")
        return target

    def _list_gateway_targets(self, original: Callable[..., Any], backend: Any, gateway_identifier: str) -> Any:
        return [t for t in original(backend, gateway_identifier) if not self._reap_target(backend, t)]

    def _delete_gateway_target(
        self, original: Callable[..., Any], backend: Any, gateway_identifier: str, target_id: str
    ) -> Any:
        gateway = backend._get_gateway(gateway_identifier)
        target = backend._get_gateway_target(gateway.gateway_id, target_id)
        if self._reap_target(backend, target):
            raise ResourceNotFoundException(f"Could not find Target {target_id} for Gateway {gateway_identifier}")
        if target.status == "DELETING":
            raise self._refused(
                f"DeleteGatewayTarget {target.name}",
                ConflictException(f"Target {target_id} of gateway {gateway.gateway_id} is already being deleted"),
            )
        # Asynchronous like AWS: the target stays listed as DELETING until the deletion settles.
        target.status = "DELETING"
        failure = self.faults.take("target_delete_failure")
        target.status_reasons = [failure] if failure else []
        self.mutations.append(f"DeleteGatewayTarget {target.name}")
        self._settle_to(target, "DELETING", "FAILED" if failure else GONE, TARGET_MODEL)
        return target

    @staticmethod
    def _target_to_dict(original: Callable[..., Any], target: Any) -> dict[str, Any]:
        result: dict[str, Any] = original(target)
        if not result.get("description"):
            result.pop("description", None)
        reasons = getattr(target, "status_reasons", None) or []
        result["statusReasons"] = list(reasons) if result.get("status") in FAILED_STATUSES else []
        for member, attribute in EXTRA_TARGET_SETTINGS.items():
            if value := getattr(target, attribute, None):
                result[member] = value
        if managed := getattr(target, "private_endpoint_managed_resources", None):
            result["privateEndpointManagedResources"] = managed
        if synchronized := getattr(target, "last_synchronized_at", None):
            result["lastSynchronizedAt"] = synchronized
        configuration = target.target_configuration or {}
        protocol = "MCP" if "mcp" in configuration else "HTTP" if "http" in configuration else None
        if protocol:
            result["protocolType"] = protocol
        return result

    @staticmethod
    def _target_to_summary(original: Callable[..., Any], target: Any) -> dict[str, Any]:
        result: dict[str, Any] = original(target)
        kind = _mcp_kind(target)
        if kind in MCP_TARGET_TYPES:
            result["targetType"] = MCP_TARGET_TYPES[kind]
        if kind == "mcpServer":  # listing mode and priority only exist for MCP server targets
            server = (target.target_configuration or {})["mcp"]["mcpServer"]
            result["listingMode"] = server.get("listingMode", "DEFAULT")
            result["resourcePriority"] = server.get("resourcePriority", 1000)
        if synchronized := getattr(target, "last_synchronized_at", None):
            result["lastSynchronizedAt"] = synchronized
        return result


def _mcp_kind(target: Any) -> str | None:
    mcp = (target.target_configuration or {}).get("mcp") or {}
    return next(iter(mcp), None) if len(mcp) == 1 else None


def _managed_vpc_resources(target: Any, managed: dict[str, Any]) -> list[dict[str, str]]:
    """What AgentCore creates for a managed VPC endpoint: a VPC Lattice resource gateway and association."""
    prefix = f"arn:aws:vpc-lattice:{target.region_name}:{target.account_id}"
    server = ((target.target_configuration or {}).get("mcp") or {}).get("mcpServer") or {}
    domain = urlsplit(str(server.get("endpoint", ""))).hostname or str(managed.get("routingDomain") or "")
    return [
        {
            "domain": domain,
            "resourceGatewayArn": f"{prefix}:resourcegateway/rgw-{_random_suffix(17)}",
            "resourceAssociationArn": (
                f"{prefix}:servicenetworkresourceassociation/snra-{_random_suffix(17, '0123456789abcdef')}"
            ),
        }
    ]


def version_configuration(runtime: Any) -> dict[str, Any]:
    """A runtime record's configuration (its public attributes, copied), as one version holds it."""
    return {k: copy.deepcopy(v) for k, v in vars(runtime).items() if not k.startswith("_") and k != "versions"}


@dataclass(frozen=True)
class LiveVersion:
    """What a runtime's DEFAULT endpoint serves right now."""

    version: str | None  # None: nothing is live yet (endpoint CREATING, or runtime not READY without an endpoint)
    status: str  # the endpoint's status (the runtime's when it has no endpoint)
    configuration: Mapping[str, Any]  # that version's record attributes, e.g. "authorizer_configuration"


def live_version(backend: Any, runtime: Any) -> LiveVersion:
    """The version DEFAULT serves, with its configuration, read from the control-plane records.

    A runtime without a DEFAULT endpoint record exists only in plain moto (without this behaviour installed): there
    the record is the only version, served once READY.
    """
    endpoint = backend.agent_runtime_endpoints.get((runtime.agent_runtime_id, DEFAULT_ENDPOINT))
    if endpoint is None:
        status = str(runtime.status)
        return LiveVersion(runtime.agent_runtime_version if status == "READY" else None, status, vars(runtime))
    status = str(endpoint.status)  # applies due transitions first
    live = endpoint.live_version
    if live is None:
        return LiveVersion(None, status, {})
    if live == runtime.agent_runtime_version:
        return LiveVersion(live, status, vars(runtime))
    for snapshot in runtime.versions:
        if snapshot.get("agentRuntimeVersion") == live and "configuration" in snapshot:
            return LiveVersion(live, status, snapshot["configuration"])
    raise LookupError(f"runtime {runtime.agent_runtime_id} has no configuration recorded for live version {live}")


@contextmanager
def agentcore_behaviour(**kwargs: Any) -> Iterator[AgentCoreBehaviour]:
    behaviour = AgentCoreBehaviour(**kwargs)
    behaviour.install()
    try:
        yield behaviour
    finally:
        behaviour.uninstall()
