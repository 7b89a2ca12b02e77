"""Step 2: compare desired and actual state. An empty plan means the re-run makes zero mutating calls."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore
from rollout_core.observability import task_handler
from rollout_core.planner import build_plan
from rollout_core.state import Plan, PlanEvent

logger = Logger()
tracer = Tracer()


@task_handler(logger, tracer)
def lambda_handler(event: PlanEvent, context: LambdaContext) -> Plan:
    plan = build_plan(agentcore.agentcore_control(), event["config"])
    logger.info("plan ready", extra={"changed": plan["changed"], "actions": plan["actions"]})
    return plan
