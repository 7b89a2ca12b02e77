"""samconfig.toml's config environments: each names its own stack (which `--env` resolves, as `sam deploy
--config-env` does) and overrides only real template parameters, with values the template allows."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from typing import Any

import boto3
import pytest

from scripts.render_asl import load_template
from secure_rollout.target import TargetOptions, resolve, samconfig_env
from tests.cli.helpers import REPO_ROOT

SAMCONFIG = REPO_ROOT / "samconfig.toml"
STACKS = {
    "default": "agentcore-secure-rollout",
    "dev": "agentcore-secure-rollout-dev",
    "staging": "agentcore-secure-rollout-staging",
    "prod": "agentcore-secure-rollout-prod",
}
APPROVAL = {"dev": "never", "staging": "eventbridge", "prod": "always"}


def _overrides(env: str) -> dict[str, str]:
    """`parameter_overrides` of the env's deploy section, as `sam deploy` reads it (Key=Value, space separated)."""
    text = tomllib.loads(SAMCONFIG.read_text())[env]["deploy"]["parameters"].get("parameter_overrides", "")
    pairs = [item.split("=", 1) for item in shlex.split(text)]
    assert all(len(pair) == 2 for pair in pairs), f"{env}: parameter_overrides must be Key=Value pairs: {text}"
    return dict(pairs)


def test_every_environment_resolves_to_its_own_stack_and_region() -> None:
    for env, stack in STACKS.items():
        assert samconfig_env(SAMCONFIG, env) == {"stack_name": stack, "region": "us-east-1"}, env
    assert len(set(STACKS.values())) == len(STACKS)


@pytest.mark.parametrize("env", sorted(APPROVAL))
def test_overrides_name_real_parameters_with_allowed_values(env: str) -> None:
    parameters: dict[str, dict[str, Any]] = load_template(REPO_ROOT / "template.yaml")["Parameters"]
    overrides = _overrides(env)
    assert overrides["RequireApproval"] == APPROVAL[env]
    for name, value in overrides.items():
        assert name in parameters, f"{env}: {name} is not a parameter of template.yaml"
        spec = parameters[name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], f"{env}: {name}={value} not allowed"
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), f"{env}: {name}={value} misses the pattern"
        if spec["Type"] == "Number":
            assert re.fullmatch("[0-9]+", value), f"{env}: {name}={value} is not a number"
            assert spec.get("MinValue", 0) <= int(value) <= spec.get("MaxValue", int(value)), f"{env}: {name}={value}"


def test_each_environment_secures_its_own_runtime_gateways_and_prefix() -> None:
    envs = sorted(APPROVAL)
    for key in ("ParameterPrefix", "RuntimeName", "OldGatewayName", "GatewayName"):
        values = [_overrides(env)[key] for env in envs]
        assert len(set(values)) == len(envs), f"{key} is shared by environments: {values}"


def test_the_cli_acts_on_the_stack_of_the_environment(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment's region wins over the shell's, as with `sam deploy --config-env`.
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    for env, stack in STACKS.items():
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"StateMachineArn": {"Value": f"arn:aws:states:us-east-1:123456789012:stateMachine:{env}"}},
        }
        cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    for env, stack in STACKS.items():
        target = resolve(TargetOptions(env=env, config_file=str(SAMCONFIG)))
        assert (target.stack_name, target.region) == (stack, "us-east-1")
        assert target.state_machine_arn.endswith(f":stateMachine:{env}")
    # Neither --stack nor --env: the default environment, like `sam deploy`.
    assert resolve(TargetOptions(config_file=str(SAMCONFIG))).stack_name == STACKS["default"]
