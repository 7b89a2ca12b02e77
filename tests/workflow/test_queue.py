"""One rollout at a time, for any wait: the lock, coalescing of Parameter Store bursts, release and takeover."""

from __future__ import annotations

import json
from typing import Any

from sandbox.core import Sandbox
from sandbox.deploy import zip_dir
from sandbox.lambdas import FunctionCode
from sandbox.seed import PREREQUISITES

PREFIX = "/app/customersupport/agentcore"
WARRANTY_PARAMETER = f"{PREFIX}/warranty_check_lambda_arn"


def _states(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in sandbox.history(execution_arn) if "stateEnteredEventDetails" in e
    ]


def _warranty_functions(sandbox: Sandbox, count: int) -> list[str]:
    """`count` copies of the tutorial's WarrantyCheck Lambda: each is a valid, different warranty_check_lambda_arn."""
    lambda_client = sandbox.client("lambda")
    role = lambda_client.get_function_configuration(FunctionName=sandbox.seeded.warranty_lambda_arn)["Role"]
    code_dir = PREREQUISITES / "warranty_check"
    arns = []
    for index in range(count):
        name = f"WarrantyCheckV{index + 1}"
        arns.append(
            lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="app.lambda_handler",
                Code={"ZipFile": zip_dir(code_dir)},
                Architectures=["arm64"],
            )["FunctionArn"]
        )
        sandbox.lambdas.register(name, FunctionCode(code_dir))
    return arns


def _warranty_target_lambda(sandbox: Sandbox) -> str:
    control = sandbox.client("bedrock-agentcore-control")
    gateway = next(g for g in control.list_gateways()["items"] if g["name"] == "my-gateway-secure")
    summaries = control.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]
    warranty = next(t for t in summaries if t["name"] == "WarrantyCheck")
    target = control.get_gateway_target(gatewayIdentifier=gateway["gatewayId"], targetId=warranty["targetId"])
    return str(target["targetConfiguration"]["mcp"]["lambda"]["lambdaArn"])


def test_a_burst_of_parameter_changes_runs_at_most_two_rollouts_and_applies_the_latest(sandbox: Sandbox) -> None:
    arns = _warranty_functions(sandbox, 10)
    ssm = sandbox.client("ssm")
    for arn in arns:  # ten changes in a row: ten executions started by EventBridge
        ssm.put_parameter(Name=WARRANTY_PARAMETER, Value=arn, Type="String", Overwrite=True)
    started = list(sandbox.events.started_executions)
    assert len(started) == 10
    executions = [sandbox.wait(arn, timeout=300) for arn in started]

    assert [e["status"] for e in executions] == ["SUCCEEDED"] * 10, [e.get("cause") for e in executions]
    executed = [e for e in executions if "Plan" in _states(sandbox, e["executionArn"])]
    assert 1 <= len(executed) <= 2
    coalesced = [json.loads(e["output"]) for e in executions if e not in executed]
    pending = {c["coalescedInto"] for c in coalesced}
    assert [c["status"] for c in coalesced] == ["coalesced"] * len(coalesced)
    # Every coalesced change went into a rollout that ran - and read the configuration - after it.
    assert pending <= {e["executionArn"] for e in executed}
    # Nothing dropped: the end state is the last value written.
    assert _warranty_target_lambda(sandbox) == arns[-1]
    last: dict[str, Any] = json.loads(executed[-1]["output"])
    assert last["verified"] is True
