"""Why an execution started, in words: the `trigger` an EventBridge rule or an operator wrote (settings.parse_trigger
validated it), and, for an out-of-band AgentCore change, what the plan found that change undid.

Shared by the report (functions/report) and the CLI (`secure-rollout status`): one wording for both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLOUDFORMATION = "aws.cloudformation"
CLOUDTRAIL_AGENTCORE = "aws.bedrock-agentcore"
PARAMETER_STORE = "aws.ssm"


def _stack_name(stack_id: str) -> str:
    """arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid> -> <name>."""
    parts = stack_id.split(":", 5)[-1].split("/")
    return parts[1] if len(parts) == 3 else stack_id


def describe(trigger: Mapping[str, Any] | None) -> str:
    """One line: what started the execution, by whom, when."""
    if not trigger:
        return "started without a trigger (start-execution)"
    source = str(trigger.get("source", "?"))
    when = f" at {trigger['time']}" if trigger.get("time") else ""
    if source == CLOUDFORMATION:
        return f"stack deploy: {_stack_name(str(trigger.get('stack', '?')))} reached {trigger.get('status', '?')}{when}"
    if source == CLOUDTRAIL_AGENTCORE:
        return f"out-of-band AgentCore change: {trigger.get('call', '?')} by {trigger.get('by', '?')}{when}"
    if source == PARAMETER_STORE:
        what = f"parameter {trigger['operation']}" if trigger.get("operation") else "Parameter Store change"
        return f"{what}: {trigger['parameter']}{when}" if trigger.get("parameter") else f"{what}{when}"
    by = f" by {trigger['by']}" if trigger.get("by") else ""
    reason = f": {trigger['reason']}" if trigger.get("reason") else ""
    return f"{source}{by}{when}{reason}"


def _undone(plan: Mapping[str, Any]) -> list[str]:
    """What the plan must put back, as what was taken away."""
    runtime = plan.get("runtime") or {}
    environment = plan.get("environment") or {}
    gateway = plan.get("gateway") or {}
    found = []
    if not runtime.get("authorizerBefore"):
        found.append("runtime authorizer removed")
    if runtime.get("allowlistBefore") != runtime.get("allowlistAfter"):
        found.append("runtime Authorization header allowlist removed")
    if environment.get("urlUpdate"):
        found.append(f"runtime {environment.get('name')} changed")
    name_var = environment.get("gatewayNameVar") or {}
    if name_var and name_var.get("before") != name_var.get("after"):
        found.append(f"runtime {name_var.get('name')} changed")
    if gateway.get("create") or gateway.get("deleteFirst"):
        found.append("secured gateway missing or open")
    if gateway.get("updateAuthorizer"):
        found.append("gateway JWT authorizer changed")
    if gateway.get("targetsToCreate") or gateway.get("targetsToUpdate") or gateway.get("targetsToReplace"):
        found.append("gateway targets changed")
    return found


def drift_sentence(trigger: Mapping[str, Any] | None, plan: Mapping[str, Any]) -> str | None:
    """'runtime authorizer removed by <principal> via UpdateAgentRuntime' for a CloudTrail trigger whose change the plan
    undoes; None for other triggers, or when the change left the agent secured (nothing to repair)."""
    if not trigger or trigger.get("source") != CLOUDTRAIL_AGENTCORE or not plan.get("changed"):
        return None
    undone = _undone(plan) or ["configuration changed"]
    return f"{', '.join(undone)} by {trigger.get('by', 'an unknown principal')} via {trigger.get('call', '?')}"
