"""Deploy this repo's template the way the README does (`sam build` + `sam deploy`), run executions, tear down.

The stack gets a name unique to the run and parameter overrides from the starting point the run created. The
repo's samconfig.toml (guided, confirm_changeset, resolve_s3) is not used: a config file of the run's own is passed,
and the sam artifacts go to the run's bucket, so nothing outlives the run (no managed `aws-sam-cli-managed-default`
stack either).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from samtranslator.yaml_helper import yaml_parse

from tests.aws.helpers.gate import REPO_ROOT, Account
from tests.aws.helpers.resources import TAG_KEY, TARGET_NAME, Poller, RunNames, StartingPoint, failed_stack_events, log

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

TEMPLATE: Final = REPO_ROOT / "template.yaml"
CAPABILITIES: Final = ("CAPABILITY_IAM",)  # SAM generates the functions' roles; none is named
SAM_BUILD_TIMEOUT: Final = 1800
SAM_DEPLOY_TIMEOUT: Final = 1800
AGENT_PACKAGE_TIMEOUT: Final = 1200
TERMINAL: Final = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def template_parameters() -> dict[str, dict[str, Any]]:
    template = yaml_parse(TEMPLATE.read_text())
    return dict(template["Parameters"])


def parameter_overrides(names: RunNames, start: StartingPoint) -> dict[str, str]:
    """The deployment's fixed names and trust anchors, all from this run (template defaults for the rest)."""
    return {
        "ParameterPrefix": names.parameter_prefix,
        "RuntimeName": names.runtime,
        "OldGatewayName": names.old_gateway,
        "GatewayName": names.gateway,
        "TargetName": TARGET_NAME,
        "UserPoolId": start.pool_id,
        "RuntimeRoleArn": start.runtime_role_arn,
        "GatewayRoleArn": start.gateway_role_arn,
        "ArtifactBucket": start.bucket,
    }


SAMCONFIG: Final = "version = 0.1\n\n[default.deploy.parameters]\nconfirm_changeset = false\nresolve_s3 = false\n"


def sam_build_command(account: Account, build_dir: Path, config_file: Path) -> list[str]:
    command = [
        account.sam,
        "build",
        "--config-file",
        str(config_file),
        "--template-file",
        str(TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--parallel",
    ]
    if account.build_in_container:
        command.append("--use-container")
    return command


def sam_deploy_command(
    account: Account, names: RunNames, overrides: Mapping[str, str], build_dir: Path, config_file: Path
) -> list[str]:
    return [
        account.sam,
        "deploy",
        "--config-file",
        str(config_file),
        "--template-file",
        str(build_dir / "template.yaml"),
        "--stack-name",
        names.stack,
        "--region",
        account.region,
        "--s3-bucket",
        names.bucket,
        "--s3-prefix",
        "sam",
        "--no-resolve-s3",
        "--no-confirm-changeset",
        "--capabilities",
        *CAPABILITIES,
        "--parameter-overrides",
        *(f"{key}={value}" for key, value in overrides.items()),
        "--tags",
        f"{TAG_KEY}={names.run_id}",
    ]


def run_tool(command: list[str], what: str, timeout: int) -> None:
    """Run a build/deploy tool with its output on the terminal; bounded; a failure names the step."""
    log(f"{what}: {' '.join(command[:2])} ...")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    try:
        completed = subprocess.run(  # stdin closed: a prompt fails the step instead of hanging the run
            command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} did not finish within {timeout} s") from None
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {completed.returncode}); its output is above")


def build_agent_zip(out: Path) -> Path:
    """`make agent-package` into out (Linux arm64 / CPython 3.13 wheels, main.py at the root)."""
    run_tool(
        [sys.executable, "-m", "scripts.agent_package", "--out", str(out)], "make agent-package", AGENT_PACKAGE_TIMEOUT
    )
    return out


def deploy_stack(
    account: Account, names: RunNames, start: StartingPoint, cloudformation: Any, work_dir: Path
) -> dict[str, str]:
    """sam build + sam deploy; returns the stack outputs."""
    config_file = work_dir / "samconfig.toml"
    config_file.write_text(SAMCONFIG)
    build_dir = work_dir / "build"
    run_tool(sam_build_command(account, build_dir, config_file), "sam build", SAM_BUILD_TIMEOUT)
    try:
        run_tool(
            sam_deploy_command(account, names, parameter_overrides(names, start), build_dir, config_file),
            f"sam deploy {names.stack}",
            SAM_DEPLOY_TIMEOUT,
        )
    except RuntimeError as exc:
        events = failed_stack_events(cloudformation, names.stack)
        raise RuntimeError(f"{exc}; failed resources: {events or 'none reported'}") from None
    stack = cloudformation.describe_stacks(StackName=names.stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


# --- executions ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None

    def report(self) -> dict[str, Any]:
        """The execution's report; a failed execution fails here with its error and cause (they carry no secret)."""
        if self.status != "SUCCEEDED" or self.output is None:
            raise AssertionError(f"execution {self.arn} ended {self.status}: {self.error}: {self.cause}")
        return self.output


@dataclass(frozen=True)
class DryRun:
    execution: Execution
    untouched_problems: list[str]  # read right after it, before the rollout changes anything


@dataclass(frozen=True)
class ReRun:
    execution: Execution
    states: list[str]  # entered, in order
    before: dict[str, Any]  # rollout_checks.snapshot before and after it
    after: dict[str, Any]


def run_execution(
    stepfunctions: SFNClient, state_machine_arn: str, name: str, payload: Mapping[str, Any], poller: Poller
) -> Execution:
    """StartExecution, then DescribeExecution every poll until it ends; a timed-out wait stops the execution."""
    log(f"starting execution {name} with input {json.dumps(payload)}")
    arn = stepfunctions.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
        "executionArn"
    ]
    last: list[str] = ["RUNNING"]

    def probe() -> dict[str, Any] | None:
        description = dict(stepfunctions.describe_execution(executionArn=arn))
        last[0] = str(description["status"])
        return description if last[0] in TERMINAL else None

    try:
        description = poller.until(f"execution {name}", probe, lambda: f"status {last[0]}")
    except TimeoutError:
        stepfunctions.stop_execution(
            executionArn=arn, error="TestTimeout", cause="the real-account suite stopped waiting"
        )
        raise
    output = description.get("output")
    log(f"execution {name} ended {description['status']}")
    return Execution(
        arn=arn,
        status=str(description["status"]),
        output=json.loads(output) if output else None,
        error=description.get("error"),
        cause=description.get("cause"),
    )


def execution_history(stepfunctions: SFNClient, execution_arn: str) -> list[dict[str, Any]]:
    pages = stepfunctions.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [dict(event) for page in pages for event in page["events"]]
