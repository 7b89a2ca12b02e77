"""Which deployment a command acts on: a deployed stack (--stack/--region, or --env from samconfig.toml) or the
offline sandbox (--sandbox; started in the background when none runs). Everything else is read from the stack itself
(DescribeStacks: its outputs and parameters), so the CLI needs no configuration of its own."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from secure_rollout.errors import CliError
from secure_rollout.sandbox_state import CONTROL_PREFIX, CONTROL_TOKEN_HEADER, SandboxState, state_path

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore import BedrockAgentCoreClient
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import StackResourceSummaryTypeDef
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

SAMCONFIG = "samconfig.toml"
DEFAULT_ENV = "default"
# The sandbox account's administrator (moto's conventional test credentials): its control plane takes any
# credentials, but a SigV4 data-plane call (`invoke --sigv4`) must be signed by a key the account knows.
SANDBOX_KEY = "testing"
HEALTH_TIMEOUT_SECONDS = 3
SANDBOX_START_TIMEOUT_SECONDS = 600  # deploying the stack and seeding takes 20-60 s; a loaded machine, more
SANDBOX_LOG = "sandbox-up.log"
SANDBOX_START_LOCK = "sandbox-start.lock"


@dataclass(frozen=True)
class TargetOptions:
    stack: str | None = None
    region: str | None = None
    env: str | None = None
    profile: str | None = None
    sandbox: bool = False
    config_file: str = SAMCONFIG


@dataclass
class Target:
    stack_name: str
    region: str
    session: boto3.session.Session
    options: TargetOptions
    sandbox: SandboxState | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)
    _resources: list[StackResourceSummaryTypeDef] | None = None

    @overload
    def client(self, service: Literal["stepfunctions"]) -> SFNClient: ...
    @overload
    def client(self, service: Literal["cloudformation"]) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["cognito-idp"]) -> CognitoIdentityProviderClient: ...
    @overload
    def client(self, service: Literal["logs"]) -> CloudWatchLogsClient: ...
    @overload
    def client(self, service: Literal["ssm"]) -> SSMClient: ...
    @overload
    def client(self, service: Literal["sts"]) -> STSClient: ...
    @overload
    def client(self, service: Literal["bedrock-agentcore"]) -> BedrockAgentCoreClient: ...
    @overload
    def client(self, service: Literal["bedrock-agentcore-control"]) -> BedrockAgentCoreControlClient: ...
    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="secure-rollout-cli")
            extra: dict[str, Any] = {}
            if self.sandbox is not None:
                extra["endpoint_url"] = self.sandbox.endpoint_for(service)
            self._clients[service] = self.session.client(service, region_name=self.region, config=config, **extra)  # type: ignore[call-overload]
        return self._clients[service]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    def data_plane_endpoint(self) -> str:
        """Where InvokeAgentRuntime goes (as boto3 resolves `bedrock-agentcore`)."""
        if self.sandbox is not None:
            return self.sandbox.endpoint_for("bedrock-agentcore")
        return str(self.client("bedrock-agentcore").meta.endpoint_url)

    def describe(self) -> str:
        where = "the offline sandbox" if self.sandbox is not None else self.region
        return f"stack {self.stack_name} ({where})"

    def flags(self) -> str:
        """The options that name this target again, for the commands the CLI suggests."""
        if self.sandbox is not None:
            return "--sandbox"
        parts = ["--stack", self.stack_name, "--region", self.region]
        if self.options.profile:
            parts += ["--profile", self.options.profile]
        return shlex.join(parts)

    def function_log_groups(self) -> dict[str, str]:
        """Logical id -> log group of every Lambda function of the stack (Lambda's default group names)."""
        return {
            r["LogicalResourceId"]: f"/aws/lambda/{r['PhysicalResourceId']}"
            for r in self.resources()
            if r.get("ResourceType") == "AWS::Lambda::Function" and r.get("PhysicalResourceId")
        }

    def resources(self) -> list[StackResourceSummaryTypeDef]:
        if self._resources is None:
            paginator = self.client("cloudformation").get_paginator("list_stack_resources")
            self._resources = [
                summary
                for page in paginator.paginate(StackName=self.stack_name, PaginationConfig={"MaxItems": 2000})
                for summary in page["StackResourceSummaries"]
            ]
        return self._resources


def samconfig_env(path: Path, env: str) -> dict[str, str]:
    """stack_name and region of `[<env>.deploy.parameters]` (stack_name may also come from `[<env>.global...]`)."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CliError(f"--env {env}: no {path} here", "run from the project directory or pass --stack") from None
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    section = document.get(env)
    if not isinstance(section, dict):
        known = ", ".join(sorted(k for k, v in document.items() if isinstance(v, dict))) or "none"
        raise CliError(f"--env {env}: {path} has no environment {env!r} (it has: {known})")
    found: dict[str, str] = {}
    for command in ("global", "deploy"):
        parameters = (section.get(command) or {}).get("parameters") or {}
        found.update({k: str(parameters[k]) for k in ("stack_name", "region") if k in parameters})
    return found


def resolve(options: TargetOptions) -> Target:
    if options.sandbox:
        if options.stack or options.env or options.region or options.profile:
            raise CliError("--sandbox cannot be combined with --stack, --env, --region or --profile")
        return _sandbox_target(options)
    return _aws_target(options)


def _sandbox_target(options: TargetOptions) -> Target:
    path = state_path()
    state = SandboxState.read(path)
    if state is None or not sandbox_healthy(state):
        state = start_sandbox(path)
    # Its endpoints are loopback: a proxy in the environment must not see them.
    for variable in ("NO_PROXY", "no_proxy"):
        present = [p for p in os.environ.get(variable, "").split(",") if p]
        os.environ[variable] = ",".join([*present, "127.0.0.1", "localhost"])
    session = boto3.session.Session(
        aws_access_key_id=SANDBOX_KEY,
        aws_secret_access_key=SANDBOX_KEY,
        aws_session_token=SANDBOX_KEY,
        region_name=state.region,
    )
    target = Target(state.stackName, state.region, session, options, sandbox=state)
    _load_stack(target)
    return target


def start_sandbox(
    path: Path, command: list[str] | None = None, timeout: float = SANDBOX_START_TIMEOUT_SECONDS
) -> SandboxState:
    """`--sandbox` with no sandbox running starts one: `secure-rollout sandbox up` in the background (its own session,
    so it outlives this command; output in sandbox-up.log next to the state file), and waits until it answers.

    Never two sandboxes for one state file: starts are serialized by a lock file that records the starting process,
    and a sandbox whose process is alive (the state file's pid, or the recorded starter) is waited for, never
    replaced - a slow health check is not a dead sandbox. Only a state file whose process is gone is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    log_path = path.parent / SANDBOX_LOG
    hint = f"see {log_path}, or run `secure-rollout sandbox up` in another terminal"
    deadline = time.monotonic() + timeout
    with (path.parent / SANDBOX_START_LOCK).open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = SandboxState.read(path)
        if state is not None and sandbox_healthy(state):
            return state  # another command started it meanwhile
        alive = process_alive(state.pid if state is not None else None) or process_alive(_recorded_pid(lock))
        if alive is not None:
            sys.stderr.write(f"waiting for the offline sandbox (pid {alive}) to answer ...\n")
            return _wait_until_healthy(path, deadline, lambda: process_alive(alive) is None, hint, timeout)
        path.unlink(missing_ok=True)  # its process is gone: a sandbox that was killed leaves its state file behind
        sys.stderr.write(
            f"starting the offline sandbox in the background (log {log_path}; "
            "stop it with `secure-rollout sandbox down`) ...\n"
        )
        sys.stderr.flush()
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, this package's own command, no shell
                command or [sys.executable, "-m", "secure_rollout", "sandbox", "up"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        lock.seek(0)
        lock.truncate()
        lock.write(str(process.pid))
        lock.flush()
        try:
            return _wait_until_healthy(path, deadline, lambda: process.poll() is not None, hint, timeout)
        except BaseException:
            if process.poll() is None:  # timed out, or interrupted: no half-started sandbox left behind
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        finally:
            lock.seek(0)
            lock.truncate()  # started (its state file names it) or gone: a recycled pid must not look like a start


def _wait_until_healthy(
    path: Path, deadline: float, ended: Callable[[], bool], hint: str, timeout: float
) -> SandboxState:
    while True:
        state = SandboxState.read(path)
        if state is not None and sandbox_healthy(state):
            sys.stderr.write(f"sandbox ready: stack {state.stackName} in {state.region}\n")
            return state
        if ended():
            raise CliError(f"the offline sandbox did not start: {_last_line(path.parent / SANDBOX_LOG)}", hint)
        if time.monotonic() > deadline:
            raise CliError(f"the offline sandbox did not answer within {timeout:.0f}s", hint)
        time.sleep(0.5)


def _recorded_pid(lock: IO[str]) -> int | None:
    lock.seek(0)
    text = lock.read().strip()
    return int(text) if text.isdigit() else None


def process_alive(pid: int | None) -> int | None:
    """`pid` if that process still runs (a zombie child counts as gone), else None."""
    if not pid:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # someone else's process: alive
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (OSError, IndexError):
        return pid
    return None if status == "Z" else pid


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the sandbox is loopback: never proxied


def sandbox_healthy(state: SandboxState) -> bool:
    request = urllib.request.Request(
        f"{state.endpoint}{CONTROL_PREFIX}/health", headers={CONTROL_TOKEN_HEADER: state.controlToken}
    )
    try:
        with _NO_PROXY.open(request, timeout=HEALTH_TIMEOUT_SECONDS) as response:
            return bool(json.loads(response.read()).get("ok"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _aws_target(options: TargetOptions) -> Target:
    config_path = Path(options.config_file)
    env = options.env
    if env is None and options.stack is None and config_path.is_file():
        env = DEFAULT_ENV  # like `sam deploy`: the default config environment
    from_config = samconfig_env(config_path, env) if env is not None else {}
    stack = options.stack or from_config.get("stack_name")
    if not stack:
        raise CliError(
            "no target: which stack?", "pass --stack NAME [--region R], --env ENV (samconfig.toml), or --sandbox"
        )
    session = boto3.session.Session(profile_name=options.profile) if options.profile else boto3.session.Session()
    region = options.region or from_config.get("region") or session.region_name
    if not region:
        raise CliError("no AWS region", "pass --region, set AWS_REGION, or use --env with a samconfig.toml region")
    target = Target(stack, region, session, options)
    _load_stack(target)
    return target


def _load_stack(target: Target) -> None:
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=target.stack_name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            raise CliError(
                f"stack {target.stack_name} not found in {target.region}",
                "deploy it (README: Deploying to AWS), or name another with --stack/--region/--env",
            ) from None
        raise
    stack = stacks[0]
    target.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    target.parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    if "StateMachineArn" not in target.outputs:
        raise CliError(
            f"stack {target.stack_name} ({stack.get('StackStatus')}) has no StateMachineArn output",
            "is it an agentcore-secure-rollout stack, and did its deployment finish?",
        )
