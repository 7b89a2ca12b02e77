"""Plan: the handler's wiring (the planner itself: test_unit_planner.py)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core.state import Config

from functions.plan import app


def test_plan_handler(config: Config, context: LambdaContext) -> None:
    plan = app.lambda_handler({"config": config, "executionArn": "arn:execution"}, context)
    assert plan["changed"] is True
    assert plan["gateway"]["create"] is True
