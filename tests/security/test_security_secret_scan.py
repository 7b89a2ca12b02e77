"""The client secret and every token stay out of everything, even with every logger at DEBUG.

Lambda's application log level DEBUG puts the root logger at DEBUG; botocore then logs response bodies (the
DescribeUserPoolClient response carries the secret). The rollout runs here with Powertools at DEBUG and the root
logger at DEBUG, and every place a person or system could read is scanned for the real values.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator

import pytest

from sandbox.core import Sandbox
from sandbox.leaks import credentials, find_leaks, published_texts
from tests.security.helpers import drain, record

CATEGORY = "secret-scan"


@pytest.fixture(scope="module")
def debug_rollout() -> Iterator[tuple[Sandbox, list[str]]]:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)  # routed into each in-process Lambda's own log
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    # Lambda's application log level DEBUG (advanced logging controls) sets AWS_LAMBDA_LOG_LEVEL, which Powertools
    # obeys before anything else, and puts the root logger at DEBUG.
    # The sandbox's Lambdas share one process: a Powertools logger configured by an earlier sandbox keeps its level
    # (on AWS every function is a fresh process that would read the level), so it is put at DEBUG here as well.
    service = logging.getLogger("agentcore-secure-rollout")
    saved, saved_service = root.level, service.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    service.setLevel(logging.DEBUG)
    previous_alc = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    os.environ["AWS_LAMBDA_LOG_LEVEL"] = "DEBUG"
    try:
        with Sandbox(poll_seconds=0, max_polls=10, parameter_overrides={"LogLevel": "DEBUG"}) as sandbox:
            first = sandbox.run_rollout({})
            again = sandbox.run_rollout({})
            arns = [first["executionArn"], again["executionArn"]]
            arns += [d["executionArn"] for d in drain(sandbox)]
            yield sandbox, arns
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
        service.setLevel(saved_service)
        if previous_alc is None:
            os.environ.pop("AWS_LAMBDA_LOG_LEVEL", None)
        else:
            os.environ["AWS_LAMBDA_LOG_LEVEL"] = previous_alc


def test_no_secret_or_token_anywhere_with_debug_logging(
    debug_rollout: tuple[Sandbox, list[str]], capfd: pytest.CaptureFixture[str]
) -> None:
    sandbox, arns = debug_rollout
    statuses = [sandbox.client("stepfunctions").describe_execution(executionArn=a)["status"] for a in arns]
    assert statuses[:2] == ["SUCCEEDED", "SUCCEEDED"]
    secrets = credentials(sandbox)
    assert len(secrets[0]) > 20, "the client secret is there to look for"
    assert len(secrets) >= 3, "at least one minted token (and its signature) is there to look for"
    texts = published_texts(sandbox, arns)
    texts["notifications"] = json.dumps(sandbox.notifications())
    assert "DEBUG" in texts["lambda logs"], "the functions really logged at DEBUG (the scan is not vacuous)"
    assert "SmokeTest" in texts["lambda logs"] or "smoke" in texts["lambda logs"].lower()
    captured = capfd.readouterr()
    texts["test output"] = captured.out + captured.err
    leaks = find_leaks(texts, secrets)
    observed = "no leak" if not leaks else "; ".join(leaks)
    places = ", ".join(sorted(texts))
    assert record(CATEGORY, f"DEBUG rollout + re-run, scanned: {len(texts)} places", "no leak", observed, not leaks), (
        f"{observed} (scanned {places})"
    )
