"""The client secret and every minted token stay out of everything a run publishes or prints."""

from __future__ import annotations

import json

import pytest

from sandbox.core import Sandbox
from sandbox.leaks import cloudwatch_text
from tests.workflow.helpers.leaks import assert_no_credentials, client_secret


def test_no_secret_or_token_in_history_logs_report_or_output(
    rolled_out: tuple[Sandbox, dict], capfd: pytest.CaptureFixture[str]
) -> None:
    sandbox, execution = rolled_out
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert len(client_secret(sandbox)) > 20
    assert sandbox.cognito.issued_tokens, "the smoke test must have minted a token"

    published = {
        "execution history": json.dumps(sandbox.history(execution["arn"]), default=str),
        "execution output": execution["output"],
        "lambda logs": sandbox.lambdas.logs_of(),
        "cloudwatch logs": cloudwatch_text(sandbox),
        "agent logs": sandbox.agents.logs(sandbox.seeded.runtime_id),
        "data plane records": json.dumps(sandbox.runtime_plane.invocations, default=str),
    }
    captured = capfd.readouterr()
    published["test stdout/stderr"] = captured.out + captured.err
    assert sandbox.lambdas.logs_of("SmokeTest"), "smoke-test logs were captured (the scan is not vacuous)"
    assert_no_credentials(sandbox, published)
