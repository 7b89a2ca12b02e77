"""Fixtures of the real-account suite: the gate, the run's starting point and stack, its three executions, teardown.

`make test` and `.ci/run` collect this directory like any other; every test here is skipped there, by the gate
below, with a reason that says how to opt in. Opted in, one session = one run: a starting point and a stack under
names unique to the run, the dry run, the rollout and the no-op re-run (each once, in that order), and a teardown
that runs even when a step failed (see helpers.resources.Teardown).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Final

import boto3
import pytest
from rollout_core.settings import gateway_url_env_var_for

from tests.aws.helpers.gate import Account, decide_from_process
from tests.aws.helpers.resources import (
    TARGET_NAME,
    Clients,
    Poller,
    RunNames,
    StartingPoint,
    Teardown,
    create_starting_point,
    log,
    register_teardown,
    report_left_behind,
)
from tests.aws.helpers.stack import (
    DryRun,
    Execution,
    ReRun,
    build_agent_zip,
    deploy_stack,
    execution_history,
    run_execution,
)
from tests.rollout_checks import Expected, snapshot, states_entered, untouched_problems

# Optional: the Bedrock model (or inference profile) the agent uses; the agent's default is a US inference profile.
MODEL_ENV: Final = "AGENTCORE_ROLLOUT_AWS_MODEL_ID"
RESOURCE_POLLER: Final = Poller(interval=10, timeout=900)
EXECUTION_POLLER: Final = Poller(interval=10, timeout=2700)


@pytest.fixture(scope="session")
def aws_account() -> Account:
    decision = decide_from_process()
    if decision.account is None:
        if decision.required:
            pytest.fail(decision.reason, pytrace=False)
        pytest.skip(decision.reason)
    account = decision.account
    log(f"real-account suite: account {account.account_id} as {account.caller_arn}, region {account.region}")
    return account


@pytest.fixture(autouse=True)
def _real_account_only(aws_account: Account) -> None:
    """Every test here needs the gate open (its skip reason says how to open it)."""


@pytest.fixture(scope="session")
def names(aws_account: Account) -> RunNames:
    run = RunNames.new(aws_account)
    log(f"run {run.run_id}: every resource is named {run.prefix}* (runtime {run.runtime})")
    return run


@pytest.fixture(scope="session")
def clients(aws_account: Account) -> Clients:
    return Clients.for_session(boto3.session.Session(), aws_account.region)


@pytest.fixture(scope="session")
def teardown(clients: Clients, names: RunNames) -> Iterator[Teardown]:
    """Every removal step, registered before anything is created; finalised last, whatever failed before."""
    registry = Teardown(names.run_id)
    register_teardown(registry, clients, names, RESOURCE_POLLER)
    yield registry
    left = registry.run()
    report_left_behind(left, names.run_id)
    if left:
        pytest.fail(f"run {names.run_id}: teardown left resources behind:\n  " + "\n  ".join(left), pytrace=False)


@pytest.fixture(scope="session")
def starting_point(
    clients: Clients, names: RunNames, teardown: Teardown, tmp_path_factory: pytest.TempPathFactory
) -> StartingPoint:
    agent_zip = build_agent_zip(tmp_path_factory.mktemp("agent") / "CustomerSupport.zip")
    return create_starting_point(
        clients, names, agent_zip, RESOURCE_POLLER, os.environ.get(MODEL_ENV, "").strip() or None
    )


@pytest.fixture(scope="session")
def expected(clients: Clients, names: RunNames, starting_point: StartingPoint) -> Expected:
    """The desired end state, and the starting point as AgentCore reports it (read before any execution)."""
    runtime = clients.control.get_agent_runtime(agentRuntimeId=starting_point.runtime_id)
    old_gateway = clients.control.get_gateway(gatewayIdentifier=starting_point.old_gateway_id)
    return Expected(
        runtime_id=starting_point.runtime_id,
        client_id=starting_point.client_id,
        discovery_url=starting_point.discovery_url,
        old_gateway_name=names.old_gateway,
        gateway_name=names.gateway,
        warranty_target=TARGET_NAME,
        warranty_lambda_arn=starting_point.warranty_lambda_arn,
        gateway_url_env_var=gateway_url_env_var_for(names.gateway),
        runtime_before=dict(runtime),
        old_gateway_before=dict(old_gateway),
        target_names_before=(TARGET_NAME,),
        exact_answers=False,  # Bedrock words its answers as it likes; the tool use and status codes are checked
    )


@pytest.fixture(scope="session")
def state_machine_arn(
    aws_account: Account,
    clients: Clients,
    names: RunNames,
    teardown: Teardown,
    starting_point: StartingPoint,
    expected: Expected,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    # After the SSM parameters exist: their creation starts no rollout through EventBridge.
    outputs = deploy_stack(aws_account, names, starting_point, clients.cloudformation, tmp_path_factory.mktemp("sam"))
    arn = outputs["StateMachineArn"]
    assert arn == names.state_machine_arn, f"the stack's state machine is {arn}, expected {names.state_machine_arn}"
    return arn


@pytest.fixture(scope="session")
def dry_run(clients: Clients, state_machine_arn: str, expected: Expected) -> DryRun:
    execution = run_execution(clients.stepfunctions, state_machine_arn, "dry-run", {"dryRun": True}, EXECUTION_POLLER)
    return DryRun(execution, untouched_problems(clients.control, expected))


@pytest.fixture(scope="session")
def rollout(clients: Clients, state_machine_arn: str, dry_run: DryRun) -> Execution:
    return run_execution(clients.stepfunctions, state_machine_arn, "rollout", {}, EXECUTION_POLLER)


@pytest.fixture(scope="session")
def rerun(clients: Clients, state_machine_arn: str, expected: Expected, rollout: Execution) -> ReRun:
    before = snapshot(clients.control, expected)
    execution = run_execution(clients.stepfunctions, state_machine_arn, "rerun", {}, EXECUTION_POLLER)
    after = snapshot(clients.control, expected)
    states = states_entered(execution_history(clients.stepfunctions, execution.arn))
    return ReRun(execution, states, before, after)
