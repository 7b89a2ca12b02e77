"""The sandbox's EventBridge as strict as AWS: what a Step Functions status-change event carries (the output and the
input within 248 KB, escaped, the output first), and input transformers as EventBridge applies them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.events import EventBridge, InvalidTargetInput
from tests.sandbox.helpers.status_events import status_change_event

ARN = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1"


def _status_event(status: str, input_data: Any, output: Any, error: str | None = None) -> dict[str, Any]:
    event = status_change_event(
        status, input_data=input_data, output=output, error=error, cause="it broke" if error else None
    )
    assert event["resources"] == [ARN]
    detail: dict[str, Any] = event["detail"]
    return detail


def test_a_succeeded_event_carries_the_output_as_a_json_string() -> None:
    detail = _status_event("SUCCEEDED", {}, {"summary": {"text": "done"}})
    assert json.loads(detail["output"]) == {"summary": {"text": "done"}}
    assert detail["outputDetails"] == {"included": True}
    assert (detail["error"], detail["cause"]) == (None, None)


def test_a_failed_event_carries_error_and_cause_and_no_output() -> None:
    detail = _status_event("FAILED", {}, None, error="SmokeTestFailed")
    assert (detail["status"], detail["error"], detail["cause"], detail["output"]) == (
        "FAILED",
        "SmokeTestFailed",
        "it broke",
        None,
    )
    assert detail["outputDetails"] is None


def test_the_input_is_dropped_before_the_output() -> None:
    # Each fits alone, together they exceed 248 KB: Step Functions leaves the input out, keeps the output.
    detail = _status_event("SUCCEEDED", {"blob": "i" * 150_000}, {"blob": "o" * 150_000})
    assert detail["inputDetails"] == {"included": False}
    assert detail["input"] is None
    assert detail["outputDetails"] == {"included": True}
    assert json.loads(detail["output"]) == {"blob": "o" * 150_000}


def test_the_limit_applies_to_the_escaped_output() -> None:
    # 200 KB of output that escapes to 400 KB inside the event: left out, though the raw JSON would fit.
    detail = _status_event("SUCCEEDED", {}, {"quotes": '"' * 100_000})
    assert detail["outputDetails"] == {"included": False}
    assert detail["output"] is None
    assert detail["inputDetails"] == {"included": True}


EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Step Functions Execution Status Change",
    "source": "aws.states",
    "time": "2026-01-01T00:00:00Z",
    "detail": {"name": "run-1", "status": "SUCCEEDED", "output": '{"a": "b"}', "error": None, "cause": 'say "no"'},
}
PATHS = {
    "name": "$.detail.name",
    "status": "$.detail.status",
    "output": "$.detail.output",
    "error": "$.detail.error",
    "cause": "$.detail.cause",
}


def _transformed(template: str, paths: dict[str, str] | None = None) -> str:
    target = {"Arn": "arn:aws:sns:us-east-1:123456789012:t", "InputTransformer": {"InputPathsMap": paths or PATHS}}
    target["InputTransformer"]["InputTemplate"] = template  # type: ignore[index]
    return EventBridge.target_input(target, EVENT)


def test_placeholders_outside_quotes_get_json_values() -> None:
    message = _transformed('{"status": <status>, "output": <output>, "error": <error>, "cause": <cause>}')
    assert json.loads(message) == {"status": "SUCCEEDED", "output": '{"a": "b"}', "error": None, "cause": 'say "no"'}


def test_placeholders_inside_quotes_get_the_raw_text() -> None:
    assert json.loads(_transformed('{"line": "rollout <name> ended <status>"}')) == {
        "line": "rollout run-1 ended SUCCEEDED"
    }


def test_a_quote_pasted_inside_a_string_is_not_delivered() -> None:
    # EventBridge does not escape values pasted into a string literal: the result is not JSON, nothing is delivered.
    with pytest.raises(InvalidTargetInput, match="invalid JSON"):
        _transformed('{"line": "failed: <cause>"}')


def test_a_path_that_matches_nothing_creates_no_variable() -> None:
    assert json.loads(_transformed('{"line": "x<missing>y"}', {"missing": "$.detail.nothing"})) == {"line": "xy"}
    with pytest.raises(InvalidTargetInput):
        _transformed('{"value": <missing>}', {"missing": "$.detail.nothing"})
