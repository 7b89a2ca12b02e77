"""The real-account suite (tests/aws) without AWS: its gate, its names and commands, its setup and teardown in moto.

The suite itself cannot run here; these prove that it stays skipped unless asked for (and that the offline
'testing' credentials never open it), that what it would send is well-formed for the current botocore models and
template.yaml, and that its starting point satisfies LoadConfig's checks and is torn down completely - also when a
create fails half-way.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto.bedrockagentcorecontrol.models import BedrockAgentCoreControlBackend
from rollout_core.cognito import validate_cognito_parameters
from rollout_core.settings import SETTINGS, Deployment, deployment_from_environment

from tests.aws import cleanup
from tests.aws.helpers import gate
from tests.aws.helpers.gate import MOTO_ACCOUNT, OPT_IN_ENV, Account, decide
from tests.aws.helpers.resources import (
    Clients,
    Poller,
    RunNames,
    StartingPoint,
    Teardown,
    create_starting_point,
    register_teardown,
)
from tests.aws.helpers.stack import (
    CAPABILITIES,
    TEMPLATE,
    Execution,
    parameter_overrides,
    run_execution,
    sam_build_command,
    sam_deploy_command,
    template_parameters,
)

REPO = Path(__file__).resolve().parents[2]
REAL_LOOKING = Credentials("AKIAEXAMPLEEXAMPLE00", "not-a-real-secret-but-not-the-placeholder", None)
OTHER_ACCOUNT = "210987654321"


class FakeSts:
    def __init__(self, account: str) -> None:
        self.account = account
        self.calls = 0

    def get_caller_identity(self) -> dict[str, str]:
        self.calls += 1
        return {"Account": self.account, "Arn": f"arn:aws:iam::{self.account}:user/tester", "UserId": "AIDA"}


class FakeSession:
    """A boto3 Session stand-in; `sts` None means any client at all is a test failure (no AWS call allowed)."""

    def __init__(self, credentials: Any, region: str | None = "us-east-1", sts: FakeSts | None = None) -> None:
        self.credentials, self.region_name, self.sts = credentials, region, sts

    def get_credentials(self) -> Any:
        return self.credentials

    def client(self, service_name: str, **_: Any) -> Any:
        assert self.sts is not None, f"unexpected AWS call: {service_name}"
        assert service_name == "sts", f"unexpected AWS call: {service_name}"
        return self.sts


def every_tool(name: str) -> str | None:
    return f"/usr/bin/{name}"


def no_session() -> Any:
    raise AssertionError("the gate must not even build a session before the opt-in")


# --- the gate ------------------------------------------------------------------------------------------------------


def test_not_requested_is_skipped_with_how_to_opt_in_and_touches_nothing() -> None:
    decision = decide({}, no_session, every_tool)
    assert decision.account is None
    assert decision.required is False
    assert f"{OPT_IN_ENV}=1" in decision.reason
    assert "make test-aws" in decision.reason
    assert "README 'Real-account tests (opt-in)'" in decision.reason


@pytest.mark.parametrize("value", ["0", "yes", "true", ""])
def test_only_the_documented_values_opt_in(value: str) -> None:
    assert decide({OPT_IN_ENV: value}, no_session, every_tool).account is None


@pytest.mark.parametrize("opt_in", ["1", "required"])
@pytest.mark.parametrize(
    "credentials",
    [
        Credentials("testing", "testing", "testing"),
        Credentials("testing", "testing", None),
        Credentials("AKIAEXAMPLEEXAMPLE00", "testing", None),
        Credentials("AKIAEXAMPLEEXAMPLE00", "real-looking", "TESTING"),
    ],
    ids=["all-three", "no-token", "secret-only", "token-only"],
)
def test_offline_testing_credentials_never_count_as_real(opt_in: str, credentials: Credentials) -> None:
    # FakeSession without STS: asking AWS anything with these would fail the test.
    decision = decide({OPT_IN_ENV: opt_in}, lambda: FakeSession(credentials), every_tool)
    assert decision.account is None
    assert decision.required is (opt_in == "required")
    assert "offline placeholders 'testing'" in decision.reason


def test_endpoint_overrides_are_refused_before_any_call() -> None:
    environ = {OPT_IN_ENV: "1", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:4566"}
    decision = decide(environ, lambda: FakeSession(REAL_LOOKING), every_tool)
    assert decision.account is None
    assert "AWS_ENDPOINT_URL_STS" in decision.reason


def test_no_credentials_or_no_region_are_refused() -> None:
    assert "no AWS credentials" in decide({OPT_IN_ENV: "1"}, lambda: FakeSession(None), every_tool).reason
    no_region = decide({OPT_IN_ENV: "1"}, lambda: FakeSession(REAL_LOOKING, region=None), every_tool)
    assert "no AWS region" in no_region.reason


def test_missing_sam_or_build_python_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(gate, "REPO_ROOT", tmp_path)  # no .venv-tools/bin/sam here
    no_sam = decide({OPT_IN_ENV: "1"}, lambda: FakeSession(REAL_LOOKING), lambda name: None)
    assert "SAM CLI is missing" in no_sam.reason
    only_sam = decide(
        {OPT_IN_ENV: "1"}, lambda: FakeSession(REAL_LOOKING), lambda name: "/bin/sam" if name == "sam" else None
    )
    assert "python3.13" in only_sam.reason
    assert "Docker" in only_sam.reason


def test_moto_account_is_not_a_real_one() -> None:
    sts = FakeSts(MOTO_ACCOUNT)
    decision = decide({OPT_IN_ENV: "1"}, lambda: FakeSession(REAL_LOOKING, sts=sts), every_tool)
    assert sts.calls == 1
    assert decision.account is None
    assert "moto" in decision.reason


def test_real_credentials_and_an_account_open_the_gate() -> None:
    sts = FakeSts(OTHER_ACCOUNT)
    docker_only = decide(
        {OPT_IN_ENV: "required"},
        lambda: FakeSession(REAL_LOOKING, region="eu-central-1", sts=sts),
        lambda name: None if name == "python3.13" else f"/usr/bin/{name}",
    )
    assert docker_only.reason == ""
    assert docker_only.account == Account(
        account_id=OTHER_ACCOUNT,
        caller_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:user/tester",
        region="eu-central-1",
        partition="aws",
        sam=str(REPO / ".venv-tools" / "bin" / "sam")
        if (REPO / ".venv-tools" / "bin" / "sam").is_file()
        else "/usr/bin/sam",
        build_in_container=True,
    )


def _suite_env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != OPT_IN_ENV}
    # Anything that still tried to reach AWS would fail at once instead of leaving this machine.
    env.update({"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"})
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.mark.parametrize(
    ("opt_in", "exit_code", "outcome", "reason"),
    [
        (None, 0, "6 skipped", "not requested"),
        ("1", 0, "6 skipped", "offline placeholders 'testing'"),
        ("required", 1, "6 errors", "offline placeholders 'testing'"),
    ],
    ids=["not-requested", "opted-in-with-testing-credentials", "required-with-testing-credentials"],
)
def test_the_suite_as_make_test_collects_it(opt_in: str | None, exit_code: int, outcome: str, reason: str) -> None:
    """`make test` runs pytest on tests/ with the 'testing' credentials: tests/aws must skip, saying how to opt in."""
    env = _suite_env(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_PROFILE=None,
        **{OPT_IN_ENV: opt_in},
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/aws"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == exit_code, output
    assert outcome in output, output
    assert reason in output, output
    assert "make test-aws" in output, output
    assert " passed" not in output, output


# --- names and commands ------------------------------------------------------------------------------------------


NAMES = RunNames(run_id="0a1b2c3d", account_id="123456789012", region="ap-southeast-2")
START = StartingPoint(
    pool_id="ap-southeast-2_AbCdEf123",
    client_id="1abc2def3ghi4jkl5mno6pqr",
    discovery_url="https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_AbCdEf123/.well-known/openid-configuration",
    token_url="https://acsr-it-0a1b2c3d.auth.ap-southeast-2.amazoncognito.com/oauth2/token",
    bucket=NAMES.bucket,
    agent_key=NAMES.agent_key,
    runtime_id="acsr_it_0a1b2c3d_CustomerSupport-AbCdE12345",
    runtime_arn="arn:aws:bedrock-agentcore:ap-southeast-2:123456789012:runtime/acsr_it_0a1b2c3d_CustomerSupport-AbCdE12345",
    runtime_role_arn="arn:aws:iam::123456789012:role/acsr-it-0a1b2c3d-agentcore-runtime",
    gateway_role_arn="arn:aws:iam::123456789012:role/acsr-it-0a1b2c3d-agentcore-gateway",
    old_gateway_id="acsr-it-0a1b2c3d-my-gateway-abcde12345",
    old_gateway_url="https://acsr-it-0a1b2c3d-my-gateway-abcde12345.gateway.bedrock-agentcore.ap-southeast-2.amazonaws.com/mcp",
    warranty_lambda_arn=NAMES.warranty_function_arn,
    parameters={},
)


def _pattern(service: str, operation: str, member: str) -> str:
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    assert shape is not None
    return str(shape.members[member].metadata["pattern"])


def test_run_names_fit_every_service_and_template_pattern() -> None:
    checks = {
        NAMES.old_gateway: _pattern("bedrock-agentcore-control", "CreateGateway", "name"),
        NAMES.gateway: _pattern("bedrock-agentcore-control", "CreateGateway", "name"),
        NAMES.runtime: _pattern("bedrock-agentcore-control", "CreateAgentRuntime", "agentRuntimeName"),
        NAMES.domain: _pattern("cognito-idp", "CreateUserPoolDomain", "Domain"),
        NAMES.pool: _pattern("cognito-idp", "CreateUserPool", "PoolName"),
        NAMES.warranty_function: _pattern("lambda", "CreateFunction", "FunctionName"),
        NAMES.stack: r"[a-zA-Z][-a-zA-Z0-9]{0,127}",  # CloudFormation stack names
        NAMES.bucket: r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
    }
    for role in (NAMES.lambda_role, NAMES.runtime_role, NAMES.gateway_role):
        checks[role] = _pattern("iam", "CreateRole", "RoleName")
        assert len(role) <= 64
    for value, pattern in checks.items():
        assert re.fullmatch(pattern.strip("^$"), value), (value, pattern)
    assert not re.search("aws|amazon|cognito", NAMES.domain)  # Cognito refuses these words in a domain prefix
    assert len(NAMES.bucket) <= 63
    assert len(NAMES.state_machine) <= 80


def deployed_settings(overrides: dict[str, str]) -> Deployment:
    """What the functions read back from a stack deployed with these overrides (template defaults for the rest)."""
    parameters = template_parameters()
    return deployment_from_environment(
        {
            setting.env_var: overrides.get(setting.parameter, str(parameters[setting.parameter].get("Default", "")))
            for setting in SETTINGS
        }
    )


def test_parameter_overrides_fill_every_required_template_parameter_with_a_valid_value() -> None:
    parameters = template_parameters()
    overrides = parameter_overrides(NAMES, START)
    assert set(overrides) <= set(parameters)
    assert {name for name, spec in parameters.items() if "Default" not in spec} <= set(overrides)
    for name, value in overrides.items():
        pattern = parameters[name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, value), (name, value, pattern)
    # The functions read the same values back: the deployment they make is valid.
    deployment = deployed_settings(overrides)
    assert deployment.gatewayName == NAMES.gateway


def test_template_needs_no_capability_beyond_iam() -> None:
    """CAPABILITY_IAM covers unnamed roles; named IAM resources or nested stacks would need more."""
    from samtranslator.yaml_helper import yaml_parse

    resources = yaml_parse(TEMPLATE.read_text())["Resources"]
    named_iam = [
        k for k, r in resources.items() if r["Type"].startswith("AWS::IAM::") and "RoleName" in r.get("Properties", {})
    ]
    nested = [
        k for k, r in resources.items() if r["Type"] in ("AWS::Serverless::Application", "AWS::CloudFormation::Stack")
    ]
    assert (named_iam, nested) == ([], [])
    assert CAPABILITIES == ("CAPABILITY_IAM",)


def test_sam_commands_deploy_the_runs_stack_unattended_without_the_repos_samconfig(tmp_path: Path) -> None:
    account = Account(
        OTHER_ACCOUNT, "arn:aws:iam::x:user/y", "ap-southeast-2", "aws", "/bin/sam", build_in_container=True
    )
    config = tmp_path / "samconfig.toml"
    build = sam_build_command(account, tmp_path / "build", config)
    assert build[:2] == ["/bin/sam", "build"]
    assert "--use-container" in build
    assert build[build.index("--template-file") + 1] == str(TEMPLATE)
    assert build[build.index("--config-file") + 1] == str(config)

    deploy = sam_deploy_command(account, NAMES, parameter_overrides(NAMES, START), tmp_path / "build", config)
    value = {
        flag: deploy[deploy.index(flag) + 1] for flag in ("--stack-name", "--region", "--s3-bucket", "--config-file")
    }
    assert value == {
        "--stack-name": NAMES.stack,
        "--region": "ap-southeast-2",
        "--s3-bucket": NAMES.bucket,
        "--config-file": str(config),
    }
    assert {"--no-confirm-changeset", "--no-resolve-s3"} <= set(deploy)
    assert deploy[deploy.index("--capabilities") + 1] == "CAPABILITY_IAM"
    overrides = deploy[deploy.index("--parameter-overrides") + 1 : deploy.index("--tags")]
    assert overrides == [f"{k}={v}" for k, v in parameter_overrides(NAMES, START).items()]
    assert all(" " not in item for item in overrides)  # one argv item per parameter, nothing for a shell to split


# --- executions --------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeStepFunctions:
    def __init__(self, statuses: list[str], output: dict[str, Any] | None = None) -> None:
        self.statuses, self.output = statuses, output
        self.started: list[dict[str, Any]] = []
        self.stopped: list[str] = []

    def start_execution(self, **kwargs: Any) -> dict[str, str]:
        self.started.append(kwargs)
        return {"executionArn": f"arn:aws:states:us-east-1:1:execution:sm:{kwargs['name']}"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        described: dict[str, Any] = {"executionArn": executionArn, "status": status}
        if status == "SUCCEEDED":
            described["output"] = json.dumps(self.output)
        return described

    def stop_execution(self, executionArn: str, **_: Any) -> None:
        self.stopped.append(executionArn)


def test_an_execution_is_polled_until_it_ends() -> None:
    clock = FakeClock()
    sfn = FakeStepFunctions(["RUNNING", "RUNNING", "SUCCEEDED"], {"changed": True})
    execution = run_execution(
        sfn,  # type: ignore[arg-type]
        "arn:sm",
        "rollout",
        {"dryRun": False},
        Poller(interval=10, timeout=100, sleep=clock.sleep, clock=clock.time),
    )
    assert execution == Execution(
        "arn:aws:states:us-east-1:1:execution:sm:rollout", "SUCCEEDED", {"changed": True}, None, None
    )
    assert sfn.started == [{"stateMachineArn": "arn:sm", "name": "rollout", "input": '{"dryRun": false}'}]
    assert sfn.stopped == []


def test_an_execution_that_outlasts_the_wait_is_stopped() -> None:
    clock = FakeClock()
    sfn = FakeStepFunctions(["RUNNING"])
    with pytest.raises(TimeoutError, match="execution rollout: gave up after 30 s"):
        run_execution(
            sfn,  # type: ignore[arg-type]
            "arn:sm",
            "rollout",
            {},
            Poller(interval=10, timeout=30, sleep=clock.sleep, clock=clock.time),
        )
    assert sfn.stopped == ["arn:aws:states:us-east-1:1:execution:sm:rollout"]


def test_a_failed_execution_reports_its_error_and_cause() -> None:
    failed = Execution("arn:x", "FAILED", None, "SmokeTestFailed", "without a token: expected 401, got 200")
    with pytest.raises(AssertionError, match="ended FAILED: SmokeTestFailed: without a token"):
        failed.report()


# --- the starting point and its teardown, in moto --------------------------------------------------------------


def test_cleaning_up_a_run_that_created_nothing_finds_nothing_and_fails_nowhere(moto_account: Clients) -> None:
    teardown = Teardown()
    register_teardown(teardown, moto_account, MOTO_NAMES, FAST)
    steps = [what for what, _ in teardown.steps]
    # Reverse of creation: executions stopped and the stack gone before the starting point, the bucket near last.
    assert steps[-2:] == [f"stack {MOTO_NAMES.stack}", f"running executions of {MOTO_NAMES.state_machine}"]
    assert steps[1].startswith(f"S3 bucket {MOTO_NAMES.bucket}")
    assert teardown.run() == []


def test_the_stacks_retained_backup_bucket_is_removed_after_the_stack(moto_account: Clients) -> None:
    s3 = moto_account.s3
    kept = f"{MOTO_NAMES.backup_bucket_prefix}1a2b3c4d5e6f"
    s3.create_bucket(Bucket=kept)
    s3.put_bucket_versioning(Bucket=kept, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"{}", b"[]"):
        s3.put_object(Bucket=kept, Key="backups/rollout.json", Body=body)
    s3.create_bucket(Bucket="someone-elses-backupbucket-1")
    teardown = Teardown()
    register_teardown(teardown, moto_account, MOTO_NAMES, FAST)
    steps = [what for what, _ in teardown.steps]
    assert steps.index(f"backup buckets {MOTO_NAMES.backup_bucket_prefix}* (kept by the stack)") < steps.index(
        f"stack {MOTO_NAMES.stack}"
    )  # registered before: removed after the stack
    assert teardown.run() == []
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["someone-elses-backupbucket-1"]


def test_teardown_runs_every_step_in_reverse_whatever_fails() -> None:
    ran: list[str] = []
    teardown = Teardown()
    teardown.add("first", lambda: ran.append("first"))

    def broken() -> None:
        ran.append("broken")
        raise RuntimeError("still there")

    teardown.add("broken", broken)
    teardown.add("last", lambda: ran.append("last"))
    assert teardown.run() == ["broken: RuntimeError: still there"]
    assert ran == ["last", "broken", "first"]
    assert teardown.steps == []


def test_an_interrupted_teardown_names_what_it_did_not_reach(capsys: pytest.CaptureFixture[str]) -> None:
    teardown = Teardown("0a1b2c3d")
    teardown.add("bucket", lambda: None)
    teardown.add("pool", lambda: None)

    def interrupted() -> None:
        raise KeyboardInterrupt

    teardown.add("stack", interrupted)
    with pytest.raises(KeyboardInterrupt):
        teardown.run()
    err = capsys.readouterr().err
    assert "LEFT BEHIND" in err
    for line in ("stack: interrupted", "pool: not attempted (interrupted)", "bucket: not attempted (interrupted)"):
        assert line in err
    assert "make test-aws-cleanup RUN=0a1b2c3d" in err


def test_cleanup_refuses_a_bad_run_id_and_the_offline_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cleanup.main(["not-a-run"])
    assert "8 lower-case hex characters" in capsys.readouterr().err
    assert cleanup.main(["acsr-it-0a1b2c3d"]) == 2  # unit_env: the 'testing' credentials
    assert "offline placeholders 'testing'" in capsys.readouterr().err


@pytest.fixture
def moto_account(aws: None, monkeypatch: pytest.MonkeyPatch) -> Clients:
    # AgentCore creates a runtime's DEFAULT endpoint itself; moto does not.
    create = BedrockAgentCoreControlBackend.create_agent_runtime

    def create_with_default_endpoint(self: BedrockAgentCoreControlBackend, *args: Any, **kwargs: Any) -> Any:
        runtime = create(self, *args, **kwargs)
        self.create_agent_runtime_endpoint(runtime.agent_runtime_id, "DEFAULT", None, None, None)
        return runtime

    monkeypatch.setattr(BedrockAgentCoreControlBackend, "create_agent_runtime", create_with_default_endpoint)
    return Clients.for_session(boto3.session.Session(), "us-east-1")


def _agent_zip(tmp_path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", "print('agent')\n")
    path = tmp_path / "CustomerSupport.zip"
    path.write_bytes(buffer.getvalue())
    return path


MOTO_NAMES = RunNames(run_id="0a1b2c3d", account_id=MOTO_ACCOUNT, region="us-east-1")
FAST = Poller(interval=0, timeout=5, sleep=lambda _: None)


def _leftovers(clients: Clients, names: RunNames) -> list[str]:
    left = [b["Name"] for b in clients.s3.list_buckets().get("Buckets", []) if b["Name"].startswith(names.prefix)]
    left += [p["Name"] for p in clients.cognito.list_user_pools(MaxResults=60)["UserPools"]]
    left += [r["RoleName"] for r in clients.iam.list_roles()["Roles"] if r["RoleName"].startswith(names.prefix)]
    left += [f["FunctionName"] for f in clients.lambda_.list_functions()["Functions"]]
    left += [p["Name"] for p in clients.ssm.get_parameters_by_path(Path="/", Recursive=True)["Parameters"]]
    left += [g["name"] for g in clients.control.list_gateways()["items"]]
    left += [r["agentRuntimeName"] for r in clients.control.list_agent_runtimes()["agentRuntimes"]]
    return left


def test_starting_point_passes_load_config_and_is_torn_down_completely(moto_account: Clients, tmp_path: Path) -> None:
    clients, teardown = moto_account, Teardown()
    register_teardown(teardown, clients, MOTO_NAMES, FAST)
    start = create_starting_point(clients, MOTO_NAMES, _agent_zip(tmp_path), FAST, model_id="eu.model")

    # What LoadConfig will check on AWS: the six parameters against the deployed pool (derived URLs, ARN shape).
    values = {
        p["Name"].rsplit("/", 1)[1]: p["Value"]
        for p in clients.ssm.get_parameters_by_path(Path=MOTO_NAMES.parameter_prefix)["Parameters"]
    }
    assert sorted(values) == sorted(start.parameters)
    deployment = deployed_settings(parameter_overrides(MOTO_NAMES, start))
    cognito, warranty = validate_cognito_parameters(
        values,
        MOTO_NAMES.parameter_prefix,
        deployment,
        "us-east-1",
        MOTO_ACCOUNT,
        lambda pool_id: clients.cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"],
    )
    assert (cognito.clientId, warranty) == (start.client_id, MOTO_NAMES.warranty_function_arn)

    # The tutorial's open setup: a runtime without authorizer on the packaged CodeZip, an open gateway + target.
    runtime = clients.control.get_agent_runtime(agentRuntimeId=start.runtime_id)
    assert runtime.get("authorizerConfiguration") is None
    code = runtime["agentRuntimeArtifact"]["codeConfiguration"]
    assert (code["code"]["s3"], code["runtime"], code["entryPoint"]) == (
        {"bucket": start.bucket, "prefix": MOTO_NAMES.agent_key},
        "PYTHON_3_13",
        ["main.py"],
    )
    environment = runtime["environmentVariables"]
    assert environment["AGENTCORE_GATEWAY_ACSR_IT_0A1B2C3D_MY_GATEWAY_URL"] == start.old_gateway_url
    assert environment["BEDROCK_MODEL_ID"] == "eu.model"
    gateway = clients.control.get_gateway(gatewayIdentifier=start.old_gateway_id)
    assert (gateway["name"], gateway["authorizerType"]) == (MOTO_NAMES.old_gateway, "NONE")
    targets = clients.control.list_gateway_targets(gatewayIdentifier=start.old_gateway_id)["items"]
    assert [t["name"] for t in targets] == ["WarrantyCheck"]
    assert clients.s3.head_object(Bucket=start.bucket, Key=MOTO_NAMES.agent_key)["ContentLength"] > 0
    role_policy = clients.iam.get_role_policy(RoleName=MOTO_NAMES.gateway_role, PolicyName="tutorial")
    document: Any = role_policy["PolicyDocument"]  # botocore decodes it into a dict (typed as str)
    assert document["Statement"][0]["Resource"] == MOTO_NAMES.warranty_function_arn

    # The rollout would create the secure gateway: teardown finds it by name too.
    clients.control.create_gateway(
        name=MOTO_NAMES.gateway, roleArn=start.gateway_role_arn, authorizerType="NONE", protocolType="MCP"
    )
    assert teardown.run() == []
    assert _leftovers(clients, MOTO_NAMES) == []


def test_a_create_that_fails_half_way_still_leaves_nothing_behind(
    moto_account: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients, teardown = moto_account, Teardown()

    def refuse(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ServiceQuotaExceededException", "Message": "no more"}}, "CreateGateway")

    monkeypatch.setattr(clients.control, "create_gateway", refuse)
    register_teardown(teardown, clients, MOTO_NAMES, FAST)
    with pytest.raises(ClientError, match="ServiceQuotaExceededException"):
        create_starting_point(clients, MOTO_NAMES, _agent_zip(tmp_path), FAST)
    assert _leftovers(clients, MOTO_NAMES) != []  # bucket, pool, roles, Lambda and parameters were created
    assert teardown.run() == []
    assert _leftovers(clients, MOTO_NAMES) == []


def test_a_role_still_propagating_is_retried_and_nothing_else_is(
    moto_account: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients, teardown = moto_account, Teardown()
    create_function = clients.lambda_.create_function
    calls: list[str] = []

    def not_yet_then_create(**kwargs: Any) -> Any:
        calls.append(kwargs["FunctionName"])
        if len(calls) == 1:
            message = "The role defined for the function cannot be assumed by Lambda."
            raise ClientError(
                {"Error": {"Code": "InvalidParameterValueException", "Message": message}}, "CreateFunction"
            )
        return create_function(**kwargs)

    monkeypatch.setattr(clients.lambda_, "create_function", not_yet_then_create)
    register_teardown(teardown, clients, MOTO_NAMES, FAST)
    create_starting_point(clients, MOTO_NAMES, _agent_zip(tmp_path), FAST)
    assert calls == [MOTO_NAMES.warranty_function] * 2
    assert teardown.run() == []
