"""Every log line the stack's functions write for one execution carries that execution's ARN as correlation id."""

from __future__ import annotations

import json
from typing import Any

from sandbox.core import Sandbox
from sandbox.lambdas import Invocation
from tests.workflow.helpers.leaks import assert_no_credentials

# Lines the Lambda runtime itself writes around each invocation (the sandbox writes them as Lambda does).
RUNTIME_LINE_PREFIXES = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "[ERROR] ")


def run(sandbox: Sandbox, execution_input: dict[str, Any]) -> tuple[str, str, list[Invocation]]:
    """(execution ARN, final status, the invocations of the stack's functions during it)."""
    functions = set(sandbox.deployment.functions.values())
    before = len(sandbox.lambdas.invocations)
    arn = sandbox.start_rollout(execution_input)
    status = sandbox.wait(arn)["status"]
    return arn, status, [i for i in sandbox.lambdas.invocations[before:] if i.function_name in functions]


def function_lines(invocations: list[Invocation]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the Powertools records, any other line that is not the runtime's own)."""
    records, others = [], []
    for invocation in invocations:
        for line in invocation.log.splitlines():
            if not line.strip() or line.startswith(RUNTIME_LINE_PREFIXES):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                others.append(f"{invocation.function_name}: {line}")
                continue
            if "_aws" not in record:  # an embedded-metric-format record is a metric, not a log line
                records.append({"function": invocation.function_name, **record})
    return records, others


def test_each_executions_function_logs_carry_its_arn_as_correlation_id(sandbox: Sandbox) -> None:
    deployed = sandbox.deployment.functions
    runs = {
        "rollout": run(sandbox, {}),
        "no-op re-run": run(sandbox, {}),
        # Refused at AcquireLock: the failing task logs its error under the execution too.
        "bad input": run(sandbox, {"pollSeconds": 301}),
    }
    assert [status for _, status, _ in runs.values()] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]

    everything = []
    for name, (arn, _, invocations) in runs.items():
        records, others = function_lines(invocations)
        assert others == [], f"{name}: lines outside the structured log"
        assert records, f"{name}: the functions logged nothing (the check is not vacuous)"
        uncorrelated = {(r["function"], r["message"], r.get("correlation_id")) for r in records}
        assert {u for u in uncorrelated if u[2] != arn} == set(), f"{name}: lines without {arn} as correlation id"
        everything += [i.log for i in invocations]

    _, _, rollout_invocations = runs["rollout"]
    logged = {r["function"] for r in function_lines(rollout_invocations)[0]}
    # CheckStatus logs its polls at DEBUG only; every other function the rollout ran logged at INFO.
    assert logged == {i.function_name for i in rollout_invocations} - {deployed["CheckStatusFunction"]}
    assert deployed["SmokeTestFunction"] in logged

    bad_arn, _, bad_invocations = runs["bad input"]
    failures = [r for r in function_lines(bad_invocations)[0] if r["message"] == "task failed"]
    assert [(f["function"], f["errorType"], f["correlation_id"]) for f in failures] == [
        (deployed["RolloutLockFunction"], "InvalidExecutionInput", bad_arn)
    ]

    assert_no_credentials(sandbox, {"function logs": "\n".join(everything)})
