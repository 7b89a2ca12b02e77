"""Make moto's bedrock-agentcore-control behave like AgentCore where the rollout depends on it.

moto (5.2) gaps bridged here, each one a documented AgentCore behaviour (see docs/sandbox.md):
- runtime/gateway/target updates leave UPDATING forever      -> UPDATING settles to READY after a few polls
- DeleteGateway is immediate and cascades targets            -> refused while targets exist; DELETING -> gone
- gatewayUrl lacks /mcp; ids/ARNs don't look like AWS's       -> AWS formats
- a gateway's authorizer type can change in place            -> refused ("cannot be updated")
- re-applying an identical runtime authorizer is accepted     -> refused ("Authorizer already exists")
- updating a runtime that is mid-update is accepted            -> ConflictException
Faults (UPDATE_FAILED, FAILED, a resource that never settles) can be injected for tests and demos.
The patches are installed for the sandbox's lifetime and removed afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from moto.bedrockagentcorecontrol import models as ac_models
from moto.bedrockagentcorecontrol import responses as ac_responses
from moto.bedrockagentcorecontrol.exceptions import (
    BedrockAgentCoreControlClientError,
    ConflictException,
    ResourceNotFoundException,
)
from moto.moto_api import state_manager
from moto.moto_api._internal import mock_random

RUNTIME_MODEL = "bedrock-agentcore-control::agent_runtime"
GATEWAY_MODEL = "bedrock-agentcore-control::gateway"
TARGET_MODEL = "bedrock-agentcore-control::gateway_target"
GONE = "DELETED"  # internal marker: the record disappears the next time anyone looks


class ValidationException(BedrockAgentCoreControlClientError):
    code = "ValidationException"


@dataclass
class Faults:
    """Failures the next matching operation will run into (consumed once each)."""

    runtime_update_failure: str | None = None
    gateway_create_failure: str | None = None
    target_create_failure: str | None = None
    stalled_models: set[str] = field(default_factory=set)
    # AWS semantics are unconfirmed: True makes UpdateAgentRuntime clear an authorizer the request omits.
    omitted_authorizer_clears: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, name: str) -> str | None:
        with self._lock:
            value: str | None = getattr(self, name)
            setattr(self, name, None)
            return value


def _random_suffix() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(mock_random.choice(alphabet) for _ in range(10))


class AgentCoreBehaviour:
    """Installs the AWS behaviours over moto's in-memory AgentCore control plane."""

    def __init__(self, polls_to_settle: int = 2) -> None:
        self.polls_to_settle = polls_to_settle
        self.faults = Faults()
        self.mutations: list[str] = []  # every accepted mutating control-plane call, e.g. "CreateGateway my-gateway"
        self._stack = ExitStack()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def install(self) -> None:
        for model in (RUNTIME_MODEL, GATEWAY_MODEL, TARGET_MODEL):
            state_manager.set_transition(model, {"progression": "manual", "times": self.polls_to_settle})
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
            (response_cls, "get_agent_runtime"): self._get_agent_runtime_response,
        }
        for (cls, name), replacement in patches.items():
            original = getattr(cls, name)
            self._stack.enter_context(mock.patch.object(cls, name, self._bind(replacement, original)))
        for model_cls in (ac_models.Gateway, ac_models.GatewayTarget):
            original_to_dict = model_cls.to_dict
            self._stack.enter_context(
                mock.patch.object(model_cls, "to_dict", self._bind(self._to_dict_with_reasons, original_to_dict))
            )

    def uninstall(self) -> None:
        self._stack.close()
        for model in (RUNTIME_MODEL, GATEWAY_MODEL, TARGET_MODEL):
            state_manager.unset_transition(model)

    @staticmethod
    def _bind(replacement: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(self_: Any, *args: Any, **kwargs: Any) -> Any:
            return replacement(original, self_, *args, **kwargs)

        return patched

    # -- status machines -------------------------------------------------------------------------------------

    def _settle_to(self, record: Any, pending: str, final: str, model: str) -> None:
        """From `pending`, the next status (after `polls_to_settle` reads) is `final` - or never, if stalled."""
        if model in self.faults.stalled_models:
            final = pending
        record._transitions = [(p, f) for p, f in record._transitions if p != pending] + [(pending, final)]
        record._tick = 0

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
        backend.agent_runtimes[runtime.agent_runtime_id] = runtime
        self.mutations.append(f"CreateAgentRuntime {runtime.agent_runtime_name}")
        self._settle_to(runtime, "CREATING", "READY", RUNTIME_MODEL)
        return runtime

    def _update_agent_runtime(
        self, original: Callable[..., Any], backend: Any, agent_runtime_id: str, **kwargs: Any
    ) -> Any:
        runtime = backend._get_runtime(agent_runtime_id)
        if runtime.status in ("CREATING", "UPDATING"):
            raise ConflictException(f"Agent Runtime {agent_runtime_id} is {runtime.status}; retry when it is READY")
        new_authorizer = kwargs.get("authorizer_configuration")
        if new_authorizer is not None and new_authorizer == runtime.authorizer_configuration:
            raise ValidationException(f"Authorizer already exists for resourceId {runtime.agent_runtime_arn}")
        arn = runtime.agent_runtime_arn
        runtime.agent_runtime_arn = f"moto:agent/{agent_runtime_id}:0"  # the shape moto's update() parses
        updated = original(backend, agent_runtime_id, **kwargs)
        updated.agent_runtime_arn = arn  # moto re-mints the ARN per version; AWS keeps it
        if self.faults.omitted_authorizer_clears and new_authorizer is None:
            updated.authorizer_configuration = None
        self.mutations.append(f"UpdateAgentRuntime {agent_runtime_id}")
        failure = self.faults.take("runtime_update_failure")
        updated.failure_reason = failure
        self._settle_to(updated, "UPDATING", "UPDATE_FAILED" if failure else "READY", RUNTIME_MODEL)
        return updated

    def _get_agent_runtime_response(self, original: Callable[..., Any], response: Any) -> Any:
        result = original(response)
        runtime = response.backend.agent_runtimes.get(response._get_param("agentRuntimeId"))
        if runtime is not None and getattr(runtime, "failure_reason", None) and runtime.status == "UPDATE_FAILED":
            result.result["failureReason"] = runtime.failure_reason
        return result

    # -- gateways --------------------------------------------------------------------------------------------

    def _create_gateway(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name", args[0] if args else "")
        if any(g.name == name for g in backend.gateways.values()):
            raise ConflictException(f"A gateway named {name} already exists")
        gateway = original(backend, *args, **kwargs)
        backend.gateways.pop(gateway.gateway_id)
        gateway.gateway_id = f"{gateway.name.lower()}-{_random_suffix()}"
        gateway.gateway_arn = (
            f"arn:aws:bedrock-agentcore:{backend.region_name}:{backend.account_id}:gateway/{gateway.gateway_id}"
        )
        gateway.gateway_url = (
            f"https://{gateway.gateway_id}.gateway.bedrock-agentcore.{backend.region_name}.amazonaws.com/mcp"
        )
        backend.gateways[gateway.gateway_id] = gateway
        self.mutations.append(f"CreateGateway {gateway.name}")
        failure = self.faults.take("gateway_create_failure")
        gateway.status_reasons = [failure] if failure else []
        self._settle_to(gateway, "CREATING", "FAILED" if failure else "READY", GATEWAY_MODEL)
        return gateway

    def _update_gateway(
        self, original: Callable[..., Any], backend: Any, gateway_identifier: str, **kwargs: Any
    ) -> Any:
        gateway = backend._get_gateway(gateway_identifier)
        if kwargs.get("authorizer_type") != gateway.authorizer_type:
            raise ValidationException("Authorizer type cannot be updated for an existing gateway")
        if gateway.status != "READY":
            raise ConflictException(f"Gateway {gateway_identifier} is {gateway.status}")
        updated = original(backend, gateway_identifier, **kwargs)
        self.mutations.append(f"UpdateGateway {updated.name}")
        self._settle_to(updated, "UPDATING", "READY", GATEWAY_MODEL)
        return updated

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
        if any(gid == gateway.gateway_id for gid, _ in backend.gateway_targets):
            raise ValidationException(
                f"Gateway {gateway_identifier} has targets associated with it. "
                "Delete all targets before deleting the gateway."
            )
        if gateway.status == "DELETING":
            raise ConflictException(f"Gateway {gateway_identifier} is already being deleted")
        gateway.status = "DELETING"
        self.mutations.append(f"DeleteGateway {gateway.name}")
        self._settle_to(gateway, "DELETING", GONE, GATEWAY_MODEL)
        return gateway

    # -- targets ---------------------------------------------------------------------------------------------

    def _create_gateway_target(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        gateway = backend._get_gateway(kwargs.get("gateway_identifier", args[0] if args else ""))
        if gateway.status != "READY":
            raise ConflictException(f"Gateway {gateway.gateway_id} is {gateway.status}; targets need READY")
        target = original(backend, *args, **kwargs)
        self.mutations.append(f"CreateGatewayTarget {target.name}")
        failure = self.faults.take("target_create_failure")
        target.status_reasons = [failure] if failure else []
        self._settle_to(target, "CREATING", "FAILED" if failure else "READY", TARGET_MODEL)
        return target

    def _update_gateway_target(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        target = original(backend, *args, **kwargs)
        self.mutations.append(f"UpdateGatewayTarget {target.name}")
        self._settle_to(target, "UPDATING", "READY", TARGET_MODEL)
        return target

    def _delete_gateway_target(self, original: Callable[..., Any], backend: Any, *args: Any, **kwargs: Any) -> Any:
        target = original(backend, *args, **kwargs)
        self.mutations.append(f"DeleteGatewayTarget {target.name}")
        return target

    @staticmethod
    def _to_dict_with_reasons(original: Callable[..., Any], record: Any) -> dict[str, Any]:
        result: dict[str, Any] = original(record)
        reasons = getattr(record, "status_reasons", None)
        if reasons and result.get("status") in ("FAILED", "UPDATE_UNSUCCESSFUL"):
            result["statusReasons"] = list(reasons)
        return result


@contextmanager
def agentcore_behaviour(polls_to_settle: int = 2) -> Iterator[AgentCoreBehaviour]:
    behaviour = AgentCoreBehaviour(polls_to_settle)
    behaviour.install()
    try:
        yield behaviour
    finally:
        behaviour.uninstall()
