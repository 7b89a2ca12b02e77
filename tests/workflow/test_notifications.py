"""Every execution's end reaches the notification topic through RolloutStatusRule: a success with the report's
summary (what changed, the smoke codes, the duration, the backup key) inside the output, a failure with its error and
cause - one message each, as the operator's subscription receives it, with no secret or token in it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.core import Sandbox
from sandbox.events import EventBridge
from tests.workflow.helpers.leaks import assert_no_credentials
from tests.workflow.helpers.queue import STATUS_KIND, status_notifications

EMAIL = "ops@example.com"


@pytest.fixture(scope="module")
def ended() -> Iterator[tuple[Sandbox, dict[str, Any], dict[str, Any], list[dict[str, Any]]]]:
    """A stack with NotificationEmail; a rollout whose switch fails (rolled back), then one that succeeds; every
    message the topic delivered."""
    with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"NotificationEmail": EMAIL}) as sandbox:
        sandbox.behaviour.faults.runtime_update_failure = "Container failed health check on port 8080"
        failed = sandbox.run_rollout({})
        sandbox.behaviour.faults.runtime_update_failure = None
        succeeded = sandbox.run_rollout({})
        yield sandbox, failed, succeeded, sandbox.notifications()


def _status_messages(messages: list[dict[str, Any]], execution: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("kind") == STATUS_KIND and m["execution"] == execution["executionArn"]]


def test_a_succeeded_rollout_notifies_its_summary(ended: tuple[Sandbox, dict, dict, list]) -> None:
    _, _, succeeded, messages = ended
    assert succeeded["status"] == "SUCCEEDED", succeeded.get("cause")
    (message,) = _status_messages(messages, succeeded)
    name = succeeded["executionArn"].rsplit(":", 1)[-1]
    assert message["message"] == f"AgentCore secure rollout {name} ended SUCCEEDED"
    assert (message["status"], message["name"], message["error"], message["cause"]) == ("SUCCEEDED", name, None, None)
    assert message["outputDetails"] == {"included": True}
    output = json.loads(message["output"])
    assert output == json.loads(succeeded["output"])
    assert next(iter(output)) == "summary"  # what an email reader sees first
    summary = output["summary"]
    assert summary["outcome"] == "changed"
    assert summary["changes"] == output["actions"]
    assert summary["changes"], "the rollout changed something"
    assert summary["backupKey"] == f"backups/{name}.json" == output["backup"]["key"]
    smoke = output["smoke"]
    assert summary["smokeCodes"] == {
        "runtime": {k: smoke[k]["status"] for k in ("withToken", "withoutToken", "tamperedToken", "warranty")},
        "gateway": {k: v["status"] for k, v in smoke["gateway"].items() if isinstance(v, dict) and "status" in v},
    }
    assert (summary["smokeCodes"]["runtime"]["withToken"], summary["smokeCodes"]["runtime"]["withoutToken"]) == (
        200,
        401,
    )
    assert summary["smokeCodes"]["gateway"]["withoutToken"] == 401
    assert summary["durationSeconds"] == output["timings"]["total"]
    for part in (f"Rollout {name} succeeded", f"{len(summary['changes'])} change(s)", f"backups/{name}.json"):
        assert part in summary["text"]


def test_a_failed_rollout_notifies_its_error_and_cause(ended: tuple[Sandbox, dict, dict, list]) -> None:
    _, failed, _, messages = ended
    assert (failed["status"], failed["error"]) == ("FAILED", "RuntimeUpdateFailed")
    (message,) = _status_messages(messages, failed)
    name = failed["executionArn"].rsplit(":", 1)[-1]
    assert (message["status"], message["error"], message["output"]) == ("FAILED", "RuntimeUpdateFailed", None)
    assert message["cause"] == failed["cause"]
    cause = json.loads(message["cause"])
    assert (cause["rolledBack"], cause["backupKey"]) == (True, f"backups/{name}.json")
    assert "Container failed health check on port 8080" in cause["cause"]


def test_no_secret_or_token_in_any_notification(ended: tuple[Sandbox, dict, dict, list]) -> None:
    sandbox, _, _, messages = ended
    assert sandbox.cognito.issued_tokens, "the smoke tests minted tokens (the scan is not vacuous)"
    assert len(_status_messages(messages, ended[1]) + _status_messages(messages, ended[2])) == 2
    assert_no_credentials(sandbox, {"notifications": json.dumps(messages)})


def test_notification_email_subscribes_the_address(ended: tuple[Sandbox, dict, dict, list]) -> None:
    sandbox = ended[0]
    topic = sandbox.deployment.outputs["NotificationTopicArn"]
    subscriptions = sandbox.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    # The stack's email subscription beside the sandbox's stand-in inbox (an SQS queue).
    assert sorted((s["Protocol"], s["Endpoint"].rsplit(":", 1)[-1]) for s in subscriptions) == [
        ("email", EMAIL),
        ("sqs", "sandbox-operator-inbox"),
    ]


def test_the_end_message_is_in_the_inbox_when_wait_returns(
    ended: tuple[Sandbox, dict, dict, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step Functions sends the end event after the status changes: a slow delivery must not let `wait` return before
    the message reached the topic (a test that read the inbox right after `wait` once found it empty)."""
    sandbox = ended[0]
    original = EventBridge.emit_execution_status

    def slow_delivery(bridge: EventBridge, execution: Any, status: str) -> None:
        if status != "RUNNING":  # only the end event is held back
            time.sleep(1.0)
        original(bridge, execution, status)

    monkeypatch.setattr(EventBridge, "emit_execution_status", slow_delivery)
    arn = sandbox.start_rollout({"runtimeName": 1})  # refused by ValidateInput: ends at once
    assert sandbox.wait(arn)["status"] == "FAILED"
    assert [(m["status"], m["error"]) for m in status_notifications(sandbox, arn)] == [
        ("FAILED", "InvalidExecutionInput")
    ]
