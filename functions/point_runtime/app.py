"""Step 5: point the runtime's gateway URL environment variable at the new gateway, and AGENTCORE_GATEWAY_NAME at its
name (the agent derives the URL variable from it), switching the code when asked (full replace, nothing else
changes)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import control
from rollout_core.errors import RuntimeUpdateFailed
from rollout_core.settings import GATEWAY_NAME_ENV_VAR

logger = Logger()
tracer = Tracer()

MAX_ENV_VARS = 50
MAX_ENV_VALUE = 5000


def point_runtime(
    client: Any,
    runtime_id: str,
    env_var: str,
    gateway_url: str,
    gateway_name: str,
    artifact: dict[str, Any] | None = None,
    repair: bool = False,
) -> dict[str, Any]:
    """Set the gateway URL env var and, when a new agent CodeZip is given (verified by LoadConfig, with the runtime
    and entry point from its manifest), switch the code in the same update. `repair`: update even when the record
    already says all this (it ended UPDATE_FAILED, or DEFAULT never moved to it)."""
    runtime = control.get_runtime(client, runtime_id)
    url = control.normalize_gateway_url(gateway_url)
    environment = dict(runtime.get("environmentVariables") or {})
    before = environment.get(env_var)
    name_before = environment.get(GATEWAY_NAME_ENV_VAR)
    current_artifact = runtime.get("agentRuntimeArtifact") or {}
    switch_code = artifact is not None and not control.runs_code(current_artifact, artifact)
    new_artifact = control.code_artifact(artifact) if artifact is not None and switch_code else None
    result = {
        "kind": "runtime",
        "id": runtime_id,
        "envVar": env_var,
        "before": before,
        "after": url,
        "gatewayNameVar": {"name": GATEWAY_NAME_ENV_VAR, "before": name_before, "after": gateway_name},
        "artifactChanged": switch_code,
        "changed": False,
        "ready": True,
        "attempt": 0,
    }
    if before == url and name_before == gateway_name and not switch_code and not repair:
        return result
    environment[env_var] = url
    environment[GATEWAY_NAME_ENV_VAR] = gateway_name
    if len(environment) > MAX_ENV_VARS or len(url) > MAX_ENV_VALUE:
        raise RuntimeUpdateFailed(
            f"cannot set {env_var}: the runtime would have {len(environment)} environment variables "
            f"(max {MAX_ENV_VARS}) or the URL exceeds {MAX_ENV_VALUE} characters"
        )
    request = control.runtime_update_request(runtime, environment=environment, artifact=new_artifact)
    with control.control_plane_errors(RuntimeUpdateFailed, f"UpdateAgentRuntime {runtime_id} ({env_var})"):
        response = client.update_agent_runtime(**request)
    # The new version is live only once the DEFAULT endpoint has moved to it (polled after READY).
    return {
        **result,
        "changed": True,
        "ready": False,
        "status": response.get("status"),
        "version": response["agentRuntimeVersion"],
    }


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = point_runtime(
        control.agentcore_control(),
        event["runtimeId"],
        event["envVar"],
        event["gatewayUrl"],
        event["gatewayName"],
        event.get("agentArtifact"),
        bool(event.get("repair")),
    )
    logger.info("runtime gateway URL step done", extra={"envVar": result["envVar"], "changed": result["changed"]})
    return result
