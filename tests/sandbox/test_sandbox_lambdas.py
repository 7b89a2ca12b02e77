"""In-process Lambda functions keep what their own processes would keep apart on AWS: Powertools logger state."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.lambdas import FunctionCode, InProcessLambdas
from tests.sandbox.helpers import ACCOUNT_ID, REGION

REPO = Path(__file__).resolve().parents[2]
SYNC_MODULE = "sandbox_test_powertools_sync"
# Both functions log like the stack's: Logger() named by POWERTOOLS_SERVICE_NAME (one value for every function, as
# the template's Globals set it) and rollout_core's task_handler (Lambda context + correlation id per invocation).
HANDLER = """
import sys
from aws_lambda_powertools import Logger, Tracer
from rollout_core.observability import task_handler

logger = Logger()
tracer = Tracer()
sync = sys.modules["{sync}"]


@task_handler(logger, tracer)
def lambda_handler(event, context):
{body}
    return {{"ok": True}}
"""
# First: appends a key of its own, then lets the second function start and logs only once that one has started.
FIRST_BODY = """    logger.append_keys(first_only="set by the first function")
    sync.first_started.set()
    if not sync.second_started.wait(30):
        raise TimeoutError("the second function never started")
    logger.info("first speaks")"""
SECOND_BODY = """    sync.second_started.set()
    logger.info("second speaks")"""


@pytest.fixture
def lambdas(aws: None, tmp_path: Path) -> Iterator[InProcessLambdas]:
    runner = InProcessLambdas(ACCOUNT_ID, REGION)
    runner.install()
    sys.modules[SYNC_MODULE] = SimpleNamespace(  # type: ignore[assignment]
        first_started=threading.Event(), second_started=threading.Event()
    )
    try:
        yield runner
    finally:
        runner.uninstall()
        sys.modules.pop(SYNC_MODULE, None)


def _function(lambdas: InProcessLambdas, tmp_path: Path, name: str, body: str) -> SimpleNamespace:
    code_dir = tmp_path / name
    code_dir.mkdir()
    (code_dir / "app.py").write_text(HANDLER.format(sync=SYNC_MODULE, body=body))
    lambdas.register(name, FunctionCode(code_dir, [REPO / "layers" / "rollout_core"]))
    return SimpleNamespace(
        function_name=name,
        function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
        memory_size=128,
        timeout=30,
        handler="app.lambda_handler",
        environment_vars={"POWERTOOLS_SERVICE_NAME": "agentcore-secure-rollout", "POWERTOOLS_LOG_LEVEL": "INFO"},
        role=f"arn:aws:iam::{ACCOUNT_ID}:role/{name}Role",
    )


def _records(lambdas: InProcessLambdas, name: str) -> list[dict[str, Any]]:
    lines = lambdas.logs_of(name).splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_each_function_logs_only_its_own_context_correlation_id_and_keys(
    lambdas: InProcessLambdas, tmp_path: Path
) -> None:
    """Two functions of one service name, the second starting while the first runs (a Parallel state's branches): on
    AWS each is its own process, so neither function's Lambda context, correlation id or appended keys reach the
    other's log lines."""
    first = _function(lambdas, tmp_path, "FirstFunction", FIRST_BODY)
    second = _function(lambdas, tmp_path, "SecondFunction", SECOND_BODY)
    sync = sys.modules[SYNC_MODULE]
    outcome: dict[str, Any] = {}

    def run_first() -> None:
        outcome["first"] = lambdas.invoke(first, json.dumps({"executionArn": "execution-of-first"}))

    thread = threading.Thread(target=run_first)
    thread.start()
    assert sync.first_started.wait(30), "the first function started"
    outcome["second"] = lambdas.invoke(second, json.dumps({"executionArn": "execution-of-second"}))
    thread.join(30)
    assert [outcome[n][1] for n in ("first", "second")] == [None, None], lambdas.logs_of()

    observed = {
        name: [
            (r["message"], r.get("function_name"), r.get("correlation_id"), r.get("first_only"))
            for r in _records(lambdas, name)
        ]
        for name in ("FirstFunction", "SecondFunction")
    }
    assert observed == {
        "FirstFunction": [("first speaks", "FirstFunction", "execution-of-first", "set by the first function")],
        "SecondFunction": [("second speaks", "SecondFunction", "execution-of-second", None)],
    }


# One function whose invocation "first" waits for "second" to start; each invocation counts the ones its environment
# (module) has run before it.
SAME_FUNCTION_BODY = """    global served
    served = globals().get("served", 0) + 1
    logger.append_keys(served_before=served - 1)
    if event["role"] == "first":
        logger.append_keys(first_only="set by the first invocation")
        sync.first_started.set()
        if not sync.second_started.wait(30):
            raise TimeoutError("the second invocation never started")
    else:
        sync.second_started.set()
    logger.info(event["role"] + " speaks")"""


def test_concurrent_invocations_of_one_function_run_in_environments_of_their_own(
    lambdas: InProcessLambdas, tmp_path: Path
) -> None:
    """On AWS an invocation that arrives while the function's only environment is busy gets a new one (a cold start),
    and a later one reuses an idle environment (warm, its module state kept): concurrent executions' log lines never
    carry each other's correlation id or keys, nor does a later execution's in a warm environment."""
    function = _function(lambdas, tmp_path, "SharedFunction", SAME_FUNCTION_BODY)
    sync = sys.modules[SYNC_MODULE]
    outcome: dict[str, Any] = {}

    def run_first() -> None:
        outcome["first"] = lambdas.invoke(function, json.dumps({"role": "first", "executionArn": "execution-1"}))

    thread = threading.Thread(target=run_first)
    thread.start()
    assert sync.first_started.wait(30), "the first invocation started"
    outcome["second"] = lambdas.invoke(function, json.dumps({"role": "second", "executionArn": "execution-2"}))
    thread.join(30)
    outcome["third"] = lambdas.invoke(function, json.dumps({"role": "third", "executionArn": "execution-3"}))
    assert [outcome[n][1] for n in ("first", "second", "third")] == [None, None, None], lambdas.logs_of()

    observed = sorted(
        (r["message"], r.get("correlation_id"), r.get("first_only"), r["served_before"])
        for r in _records(lambdas, "SharedFunction")
    )
    assert observed == [
        ("first speaks", "execution-1", "set by the first invocation", 0),
        ("second speaks", "execution-2", None, 0),  # a cold start: nothing of the first's environment
        # Warm: one invocation ran in its environment before; task_handler clears the logger state it left.
        ("third speaks", "execution-3", None, 1),
    ]
    assert lambdas.environments_of("SharedFunction") == 2
