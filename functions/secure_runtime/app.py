"""Re-assert the runtime's security after the switch: a no-op unless that update cleared the authorizer it left out.

An update that leaves the authorizer out keeps it under the strict reading AWS's answers support (docs/security.md,
"Runtime authorizers"); whether it could clear it instead is unconfirmed. So after the switch is live the runtime is
read again and, only if its authorizer is gone, one more update puts it back (the fresh plan's authorizer and
allowlist). The sandbox's default, and every observed account, never needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, desired, lifecycle
from rollout_core.observability import task_handler
from rollout_core.planner import plan_runtime
from rollout_core.state import CognitoConfig, RuntimeHandle, RuntimePlan, SecureRuntimeEvent

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient

logger = Logger()
tracer = Tracer()


def secure_runtime(client: BedrockAgentCoreControlClient, runtime_plan: RuntimePlan) -> RuntimeHandle:
    result: RuntimeHandle = {"kind": "runtime", "id": runtime_plan["id"], "changed": False, "ready": True, "attempt": 0}
    if not runtime_plan["updateRequired"]:
        return result
    runtime = agentcore.get_runtime(client, runtime_plan["id"])
    request = desired.runtime_update_request(
        runtime, authorizer=runtime_plan["authorizerAfter"], allowlist=runtime_plan["allowlistAfter"]
    )
    return lifecycle.runtime_update_sent(result, agentcore.update_runtime(client, request, "re-assert"))


def fresh_runtime_plan(client: BedrockAgentCoreControlClient, runtime_id: str, cognito: CognitoConfig) -> RuntimePlan:
    """The runtime's security as it is now (after the switch is live)."""
    return plan_runtime(agentcore.get_runtime(client, runtime_id), cognito)


@task_handler(logger, tracer)
def lambda_handler(event: SecureRuntimeEvent, context: LambdaContext) -> RuntimeHandle:
    client = agentcore.agentcore_control()
    result = secure_runtime(client, fresh_runtime_plan(client, event["runtimeId"], event["cognito"]))
    logger.info("runtime security re-asserted", extra={"runtime": result["id"], "changed": result["changed"]})
    return result
