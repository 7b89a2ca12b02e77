"""rollout_core.triggers and the trigger fields the stack's rules write (pure, no AWS)."""

from __future__ import annotations

from typing import Any

import pytest
from rollout_core.errors import InvalidExecutionInput
from rollout_core.settings import parse_trigger
from rollout_core.triggers import describe, drift_sentence

STACK = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/agentcore-secure-rollout/0d5c1f52-5c37-11ef-9a3e-0e5b0f1d2c3a"
)
BY = "arn:aws:sts::123456789012:assumed-role/DeveloperRole/agentcore-deploy"
STACK_TRIGGER = {
    "source": "aws.cloudformation",
    "stack": STACK,
    "status": "UPDATE_COMPLETE",
    "time": "2026-11-27T10:00:00Z",
}
CLOUDTRAIL = {"source": "aws.bedrock-agentcore", "by": BY, "call": "UpdateAgentRuntime", "time": "2026-11-27T10:00:00Z"}


def test_the_rules_triggers_are_accepted_as_written() -> None:
    assert parse_trigger(STACK_TRIGGER) == STACK_TRIGGER
    assert parse_trigger(CLOUDTRAIL) == CLOUDTRAIL


@pytest.mark.parametrize(
    ("field", "value"),
    [("stack", "agentcore-secure-rollout"), ("status", "update complete"), ("call", "Update AgentRuntime; rm")],
)
def test_malformed_trigger_fields_are_refused_by_name(field: str, value: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_trigger({**CLOUDTRAIL, field: value})
    assert f"'trigger.{field}'" in str(caught.value)


def test_each_trigger_is_described_in_one_line() -> None:
    assert describe(STACK_TRIGGER) == (
        "stack deploy: agentcore-secure-rollout reached UPDATE_COMPLETE at 2026-11-27T10:00:00Z"
    )
    assert describe(CLOUDTRAIL) == f"out-of-band AgentCore change: UpdateAgentRuntime by {BY} at 2026-11-27T10:00:00Z"
    assert describe({"source": "aws.ssm", "parameter": "/p/client_id", "operation": "Update"}) == (
        "parameter Update: /p/client_id"
    )
    assert describe(None) == "started without a trigger (start-execution)"


def _plan(**runtime: Any) -> dict[str, Any]:
    return {
        "changed": True,
        "runtime": {"authorizerBefore": None, "allowlistBefore": [], "allowlistAfter": ["Authorization"], **runtime},
        "environment": {"urlUpdate": False, "gatewayNameVar": {"before": "g", "after": "g"}},
        "gateway": {},
    }


def test_the_drift_sentence_names_what_was_undone_who_and_how() -> None:
    assert drift_sentence(CLOUDTRAIL, _plan()) == (
        f"runtime authorizer removed, runtime Authorization header allowlist removed by {BY} via UpdateAgentRuntime"
    )
    assert drift_sentence(STACK_TRIGGER, _plan()) is None  # not an out-of-band change
    assert drift_sentence(CLOUDTRAIL, {**_plan(), "changed": False}) is None  # the change left the agent secured
