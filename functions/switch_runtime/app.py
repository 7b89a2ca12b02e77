"""Switch: the one runtime update of a rollout. In one full replace (every other setting sent back as it is), the
runtime gets the CUSTOM_JWT authorizer (only if it has none: AgentCore refuses any authorizer sent to a runtime that
has one), the Authorization header on its allowlist, the new gateway's URL in AGENTCORE_GATEWAY_<NAME>_URL and its name
in AGENTCORE_GATEWAY_NAME (the agent reads the URL variable by it), and - when asked - the verified agent code. Until
this update is live on DEFAULT, callers are served the version before it, which still uses the old gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, desired, lifecycle
from rollout_core.errors import AuthorizerConflict, RuntimeUpdateFailed
from rollout_core.observability import task_handler
from rollout_core.planner import authorizer_secure, desired_authorizer
from rollout_core.settings import GATEWAY_NAME_ENV_VAR
from rollout_core.state import AgentArtifact, CognitoConfig, SwitchHandle, SwitchRuntimeEvent

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient

logger = Logger()
tracer = Tracer()

MAX_ENV_VARS = 50
MAX_ENV_VALUE = 5000


def switch_runtime(
    client: BedrockAgentCoreControlClient,
    runtime_id: str,
    cognito: CognitoConfig,
    env_var: str,
    gateway_url: str,
    gateway_name: str,
    artifact: AgentArtifact | None = None,
    repair: bool = False,
) -> SwitchHandle:
    """Everything the runtime needs, in one update, read fresh. `repair`: update even when the record already says
    all this (it ended UPDATE_FAILED, or DEFAULT never moved to it)."""
    runtime = agentcore.get_runtime(client, runtime_id)
    current = runtime.get("authorizerConfiguration")
    if current and not authorizer_secure(current, cognito):
        raise AuthorizerConflict(desired.authorizer_conflict_message(runtime, desired_authorizer(cognito, None)))
    authorizer = None if current else desired_authorizer(cognito, None)
    allowlist_before = desired.header_allowlist(runtime)
    allowlist = desired.with_authorization_header(allowlist_before)

    url = desired.normalize_gateway_url(gateway_url)
    environment = dict(runtime.get("environmentVariables") or {})
    before, name_before = environment.get(env_var), environment.get(GATEWAY_NAME_ENV_VAR)
    environment[env_var] = url
    environment[GATEWAY_NAME_ENV_VAR] = gateway_name
    if len(environment) > MAX_ENV_VARS or len(url) > MAX_ENV_VALUE:
        raise RuntimeUpdateFailed(
            f"cannot set {env_var}: the runtime would have {len(environment)} environment variables "
            f"(max {MAX_ENV_VARS}) or the URL exceeds {MAX_ENV_VALUE} characters"
        )
    switch_code = artifact is not None and not desired.runs_code(runtime.get("agentRuntimeArtifact"), artifact)

    changes = [
        name
        for name, differs in (
            ("authorizer", authorizer is not None),
            ("allowlist", allowlist != allowlist_before),
            ("gatewayUrl", before != url),
            ("gatewayName", name_before != gateway_name),
            ("code", switch_code),
        )
        if differs
    ]
    result: SwitchHandle = {
        "kind": "runtime",
        "id": runtime_id,
        "changes": changes,
        "envVar": env_var,
        "before": before,
        "after": url,
        "gatewayNameVar": {"name": GATEWAY_NAME_ENV_VAR, "before": name_before, "after": gateway_name},
        "artifactChanged": switch_code,
        "changed": False,
        "ready": True,
        "attempt": 0,
    }
    if not changes and not repair:
        return result
    request = desired.runtime_update_request(
        runtime,
        authorizer=authorizer,
        allowlist=allowlist,
        environment=environment,
        artifact=desired.code_artifact(artifact) if artifact is not None and switch_code else None,
    )
    sent = lifecycle.runtime_update_sent(result, agentcore.update_runtime(client, request, "switch"))
    return {**sent, "changes": changes or ["repair"]}


@task_handler(logger, tracer)
def lambda_handler(event: SwitchRuntimeEvent, context: LambdaContext) -> SwitchHandle:
    result = switch_runtime(
        agentcore.agentcore_control(),
        event["runtimeId"],
        event["cognito"],
        event["envVar"],
        event["gatewayUrl"],
        event["gatewayName"],
        event.get("agentArtifact"),
        bool(event.get("repair")),
    )
    logger.info("runtime switch step done", extra={"changes": result["changes"], "changed": result["changed"]})
    return result
