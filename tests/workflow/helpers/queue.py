"""Shared by the queue and approval workflow tests: the lock item, the lock's answers, approval requests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sandbox.core import Sandbox
from sandbox.seed import create_tool_function

APPROVAL_KIND = "rolloutApprovalRequest"
STATUS_KIND = "rolloutStatus"  # RolloutStatusRule's message for an execution's end


def states(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in sandbox.history(execution_arn) if "stateEnteredEventDetails" in e
    ]


def eventually(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll until `check` returns something truthy (bounded); returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s")


def lock_item(sandbox: Sandbox) -> dict[str, Any]:
    """The rollout lock item as stored (attribute -> string value); {} when there is none."""
    table = sandbox.deployment.physical_ids["RolloutLockTable"]
    item = sandbox.client("dynamodb").get_item(TableName=table, Key={"lockId": {"S": "rollout"}}).get("Item", {})
    return {name: next(iter(value.values())) for name, value in item.items()}


def lock_answers(sandbox: Sandbox, execution_arn: str) -> list[dict[str, Any]]:
    """What AcquireLock answered this execution, in order."""
    answers = []
    for event in sandbox.history(execution_arn):
        details = event.get("lambdaFunctionSucceededEventDetails")
        if details:
            output = json.loads(details["output"])
            if isinstance(output, dict) and output.get("status") in {"acquired", "waiting", "coalesced", "bypassed"}:
                answers.append(output)
    return answers


def status_notifications(sandbox: Sandbox, execution_arn: str) -> list[dict[str, Any]]:
    """The status messages for the execution's end the notification topic delivered (every message is consumed)."""
    return [m for m in sandbox.notifications() if m.get("kind") == STATUS_KIND and m.get("execution") == execution_arn]


def approval_request(sandbox: Sandbox, execution_arn: str, timeout: float = 120.0) -> dict[str, Any]:
    """The approval request the execution published to the notification topic (other messages stay in the inbox)."""

    def find() -> dict[str, Any] | None:
        return sandbox.take_notification(
            lambda m: m.get("kind") == APPROVAL_KIND and m.get("execution") == execution_arn
        )

    found: dict[str, Any] = eventually(find, f"no approval request from {execution_arn}", timeout)
    return found


def warranty_functions(sandbox: Sandbox, count: int) -> list[str]:
    """`count` copies of the tutorial's WarrantyCheck Lambda: each is a valid, different warranty_check_lambda_arn."""
    lambda_client = sandbox.client("lambda")
    role = lambda_client.get_function_configuration(FunctionName=sandbox.seeded.warranty_lambda_arn)["Role"]
    return [
        create_tool_function(lambda_client, sandbox.lambdas, f"WarrantyCheckV{index + 1}", "warranty_check", role)
        for index in range(count)
    ]
