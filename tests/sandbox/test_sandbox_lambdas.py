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
