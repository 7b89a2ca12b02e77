"""rollout_core.observability: every task logs the execution it works for as the Powertools correlation id."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Tracer
from rollout_core.observability import EXECUTION_ARN_KEY, EXECUTION_ID_PATH, task_handler

from scripts.render_asl import load_template
from tests.unit.helpers import ACCOUNT, DEFAULT_ENV, FUNCTIONS_DIR, REGION, REPO_ROOT, FakeLambdaContext

ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:unit-secure-rollout:rollout-1"
OTHER_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:unit-secure-rollout:rollout-2"
HANDLERS = sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/app.py"))
# Tasks that call a service integration, not one of the stack's functions (they log nothing of ours).
SERVICE_TASKS = {"arn:aws:states:::sns:publish.waitForTaskToken", "arn:aws:states:::sns:publish"}


@contextmanager
def powertools_lines(logger: Logger) -> Iterator[list[dict[str, Any]]]:
    """What the Powertools logger writes (one JSON object per line), as Lambda would ship it to CloudWatch Logs."""
    stream = io.StringIO()
    handler: Any = logger.registered_handler
    previous = handler.setStream(stream)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines += [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def probe_handler() -> tuple[Logger, Any]:
    logger = Logger(service="observability-probe")

    @task_handler(logger, Tracer(service="observability-probe", disabled=True))
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.info("working", extra={"step": event.get("step")})
        if event.get("fail"):
            raise ValueError("the task's own error")
        return {"done": True}

    return logger, handler


def test_every_line_of_a_task_carries_the_execution_arn() -> None:
    logger, handler = probe_handler()
    with powertools_lines(logger) as lines:
        assert handler({EXECUTION_ARN_KEY: ARN, "step": "one"}, FakeLambdaContext()) == {"done": True}
    assert [(line["message"], line["correlation_id"]) for line in lines] == [("working", ARN)]
    assert lines[0]["function_name"] == FakeLambdaContext.function_name


def test_a_warm_invocation_logs_its_own_execution_and_none_without_one() -> None:
    logger, handler = probe_handler()
    with powertools_lines(logger) as lines:
        handler({EXECUTION_ARN_KEY: ARN}, FakeLambdaContext())
        handler({EXECUTION_ARN_KEY: OTHER_ARN}, FakeLambdaContext())
        handler({}, FakeLambdaContext())  # invoked by hand: logged, just not correlated
    assert [line.get("correlation_id") for line in lines] == [ARN, OTHER_ARN, None]


def test_a_failing_task_logs_its_error_with_the_execution_and_raises_it() -> None:
    logger, handler = probe_handler()
    with powertools_lines(logger) as lines, pytest.raises(ValueError, match="the task's own error"):
        handler({EXECUTION_ARN_KEY: ARN, "fail": True}, FakeLambdaContext())
    failed = lines[-1]
    assert (failed["level"], failed["message"], failed["errorType"]) == ("ERROR", "task failed", "ValueError")
    assert failed["correlation_id"] == ARN
    assert "the task's own error" in failed["exception"]


@pytest.mark.parametrize("step", HANDLERS)
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")  # smoke_test fails before any
def test_every_handler_logs_under_the_execution_it_was_invoked_for(
    step: str, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each function's handler goes through the shared middleware: an event that holds nothing but the execution ARN
    fails in every handler (no step, no state), and the failure is logged under that execution."""
    for name, value in {**DEFAULT_ENV, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module(f"functions.{step}.app")
    with powertools_lines(module.logger) as lines:
        try:
            module.lambda_handler({EXECUTION_ARN_KEY: ARN}, FakeLambdaContext(function_name=step))
        except Exception as exc:
            raised = type(exc).__name__
        else:
            pytest.fail(f"{step} accepted an event without its inputs")
    assert lines, f"{step} logged nothing"
    assert {line.get("correlation_id") for line in lines} == {ARN}
    assert (lines[-1]["message"], lines[-1]["errorType"]) == ("task failed", raised)


def lambda_tasks(states: dict[str, Any], functions: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        for branch in state.get("Branches", []):
            yield from lambda_tasks(branch["States"], functions)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from lambda_tasks(state[key]["States"], functions)
        if state["Type"] != "Task":
            continue
        resource = state["Resource"]
        if resource in SERVICE_TASKS:
            continue
        assert resource.removeprefix("${").removesuffix("}") in functions, (
            f"{name}: {resource} is neither one of the stack's functions nor a known service integration"
        )
        yield name, state


def test_every_lambda_task_passes_the_execution_arn() -> None:
    template = load_template(REPO_ROOT / "template.yaml")
    resources = template["Resources"]
    machine = resources["SecureRolloutStateMachine"]["Properties"]
    functions = {
        name
        for name, value in machine["DefinitionSubstitutions"].items()
        if isinstance(value, dict)
        and "GetAtt" in value
        and resources[value["GetAtt"].split(".")[0]]["Type"] == "AWS::Serverless::Function"
    }
    asl = json.loads((REPO_ROOT / "statemachine" / "secure_rollout.asl.json").read_text())
    tasks = dict(lambda_tasks(asl["States"], functions))
    assert len(tasks) > 30, "the walk found the state machine's tasks"
    missing = sorted(
        name
        for name, state in tasks.items()
        if (state.get("Parameters") or {}).get(f"{EXECUTION_ARN_KEY}.$") != EXECUTION_ID_PATH
    )
    assert missing == [], f"Lambda tasks that do not pass {EXECUTION_ARN_KEY}.$: {EXECUTION_ID_PATH}"
