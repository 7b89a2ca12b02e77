"""An availability probe for rollouts: what a caller gets at every step of the state machine.

Every state that changes anything is a Lambda invocation, so the probe looks at the world each time a function of the
stack starts: which version the runtime's DEFAULT endpoint serves, which gateway that version's agent would call (the
agent's own rule: AGENTCORE_GATEWAY_NAME, else the tutorial's variables) and whether that gateway and its warranty
target are READY - read from the control-plane records, as the data planes do. With `ask`, it also asks the agent a
warranty question each time - as the pre-rollout callers do while the runtime has no authorizer (SigV4-signed by an
IAM identity allowed bedrock-agentcore:InvokeAgentRuntime: AgentCore's default inbound auth), with a valid token once
it has one - and records whether the answer came from the gateway's tool.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

from sandbox.behaviour import live_version
from sandbox.callers import ask
from sandbox.core import Sandbox
from sandbox.runtime_dataplane import METHOD_MISMATCH

WARRANTY_TOOL = "WarrantyCheck___check_warranty"
FALLBACK_GATEWAYS = ("my-gateway-secure", "my-gateway")  # agent/mcp_client/client.py without AGENTCORE_GATEWAY_NAME


def url_variable(name: str) -> str:
    return f"AGENTCORE_GATEWAY_{name.upper().replace('-', '_')}_URL"


@dataclass(frozen=True)
class Observation:
    function: str  # the stack function about to run (its logical id prefix, e.g. "SmokeTestFunction")
    live_version: str | None
    gateway: str | None  # the gateway the live version's agent calls (None: it has none)
    gateway_ready: bool  # it exists, is READY, and its WarrantyCheck target is READY
    old_gateway: str | None  # the old gateway's status (None: gone)
    agent_used_gateway_tool: bool | None  # None when the agent was not asked
    answer: str | None = None  # when asked and not served by the tool: status, tools and the answer's start (why)

    @property
    def serving(self) -> bool:
        return self.gateway_ready and self.agent_used_gateway_tool is not False


class AvailabilityProbe:
    def __init__(self, sandbox: Sandbox, *, old_gateway: str = "my-gateway", ask_agent: bool = False) -> None:
        self.sandbox = sandbox
        self.old_gateway = old_gateway
        self.ask_agent = ask_agent
        self.observations: list[Observation] = []
        self._busy = threading.local()
        self._token: str | None = None

    def _function_label(self, function_name: str) -> str | None:
        for logical_id, name in self.sandbox.deployment.functions.items():
            if name == function_name:
                return logical_id
        return None  # not a function of the stack (a gateway target's Lambda)

    def observe(self, label: str) -> Observation:
        backend = bedrockagentcorecontrol_backends[self.sandbox.account_id][self.sandbox.region]
        runtime = backend.agent_runtimes[self.sandbox.seeded.runtime_id]
        live = live_version(backend, runtime)
        environment = dict(live.configuration.get("environment_variables") or {})
        name = environment.get("AGENTCORE_GATEWAY_NAME")
        candidates = (name,) if name else FALLBACK_GATEWAYS
        url = next((environment[url_variable(n)] for n in candidates if environment.get(url_variable(n))), None)
        gateways = list(backend.gateways.values())
        target = next((g for g in gateways if url and g.gateway_url.rstrip("/") == url.rstrip("/")), None)
        ready = False
        if target is not None and target.status == "READY":
            warranty = [
                t
                for (gid, _), t in backend.gateway_targets.items()
                if gid == target.gateway_id and t.name == "WarrantyCheck"
            ]
            ready = any(t.status == "READY" for t in warranty)
        old = next((g.status for g in gateways if g.name == self.old_gateway and g.status != "DELETED"), None)
        # Asked as a caller of the version that answers: the record's authorizer is the latest version's, and until
        # DEFAULT moves to it the live version still takes SigV4 only (a bearer token gets 403 mismatch).
        secured = bool(live.configuration.get("authorizer_configuration"))
        used, answer = self._ask(secured=secured) if self.ask_agent else (None, None)
        return Observation(
            function=label,
            live_version=live.version,
            gateway=None if target is None else target.name,
            gateway_ready=ready,
            old_gateway=old,
            agent_used_gateway_tool=used,
            answer=answer,
        )

    def _ask(self, *, secured: bool) -> tuple[bool, str | None]:
        """Asks as a caller of the live version: SigV4 (the seeded caller role) while it has no authorizer, a bearer
        token once it has one. DEFAULT can move to the switched version between this observation and the request's
        admission: a caller holding both credentials then retries with the other method, once, on AWS's
        "Authorization method mismatch" only - every other refusal, and a second mismatch, is an outage."""
        token = self._bearer() if secured else None
        status, text, tools, reason = self._ask_once(token)
        if status == 403 and reason == METHOD_MISMATCH:
            token = None if secured else self._bearer()
            status, text, tools, reason = self._ask_once(token)
        if status == 200 and WARRANTY_TOOL in tools:
            return True, None
        method = "bearer" if token else "SigV4"
        return False, f"HTTP {status} ({reason}), {method}, tools {tools}: {text[:300]!r}"

    def _bearer(self) -> str:
        if self._token is None:
            self._token = self.sandbox.cognito.mint_token(
                self.sandbox.seeded.client_id, pool_id=self.sandbox.seeded.pool_id
            )
        return self._token

    def _ask_once(self, token: str | None) -> tuple[int, str, list[str], str]:
        """Status, answer, tools, and the data plane's reason (its record of this session's request)."""
        session = f"availability-probe-{uuid.uuid4()}"
        status, text, tools = ask(self.sandbox, "Check the warranty for PROD-001", session, token)
        seen = [r for r in self.sandbox.runtime_plane.invocations if r.session_id == session]
        return status, text, tools, seen[-1].reason if seen else "no record of the request"

    @contextmanager
    def watching(self) -> Iterator[AvailabilityProbe]:
        lambdas = self.sandbox.lambdas
        original = lambdas.invoke
        probe = self

        def invoke(function: Any, body: Any, client_context: dict[str, Any] | None = None) -> tuple[bytes, str | None]:
            label = probe._function_label(function.function_name)
            if label is not None and not getattr(probe._busy, "on", False):
                probe._busy.on = True  # the agent's own tool calls invoke Lambdas too: never probe inside a probe
                try:
                    probe.observations.append(probe.observe(label))
                finally:
                    probe._busy.on = False
            return original(function, body, client_context)

        with mock.patch.object(lambdas, "invoke", invoke):
            yield self

    def outages(self) -> list[Observation]:
        return [o for o in self.observations if not o.serving]

    def failed_warranty_calls(self) -> list[Observation]:
        """Asked, and the answer did not come from the gateway's warranty tool."""
        return [o for o in self.observations if o.agent_used_gateway_tool is False]
