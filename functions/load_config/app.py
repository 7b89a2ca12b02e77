"""Step 1: merge the execution input over the deployment defaults, read and validate the SSM configuration,
and resolve the runtime and gateways by name. Nothing is changed here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rollout_core import control
from rollout_core.config import INPUT_FIELDS, parse_execution_input, validate_cognito_parameters
from rollout_core.errors import InvalidConfiguration, RolloutInProgress, RuntimeNotFound

logger = Logger()
tracer = Tracer()

# Deployment defaults arrive as environment variables set from the template's parameters.
DEFAULT_ENV_VARS = {
    "parameterPrefix": "DEFAULT_PARAMETER_PREFIX",
    "runtimeName": "DEFAULT_RUNTIME_NAME",
    "oldGatewayName": "DEFAULT_OLD_GATEWAY_NAME",
    "gatewayName": "DEFAULT_GATEWAY_NAME",
    "targetName": "DEFAULT_TARGET_NAME",
    "gatewayUrlEnvVar": "DEFAULT_GATEWAY_URL_ENV_VAR",
    "pollSeconds": "DEFAULT_POLL_SECONDS",
    "maxPolls": "DEFAULT_MAX_POLLS",
}


def defaults_from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    defaults: dict[str, Any] = {"dryRun": False}
    for key, var in DEFAULT_ENV_VARS.items():
        raw = env.get(var, "").strip()
        if not raw:
            continue
        if INPUT_FIELDS[key].kind is int:
            if not raw.isdigit():
                raise InvalidConfiguration(f"function setting {var} must be a whole number; got {raw!r}")
            defaults[key] = int(raw)
        else:
            defaults[key] = raw
    return defaults


def read_parameters(prefix: str) -> dict[str, str]:
    try:
        values = parameters.get_parameters(prefix, recursive=False, decrypt=True, force_fetch=True)
    except ClientError as exc:
        raise InvalidConfiguration(
            f"cannot read SSM parameters under {prefix}: {exc.response.get('Error', {}).get('Code')}"
        ) from None
    return {name.strip("/"): str(value) for name, value in values.items()}


def _gateway_ref(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {"id": summary["gatewayId"], "name": summary["name"], "status": summary.get("status")}


def earlier_running(executions: list[dict[str, Any]], me: dict[str, Any]) -> list[str]:
    """ARNs of RUNNING executions that started before this one (ties broken by ARN), oldest first."""
    mine = (me["startDate"], me["executionArn"])
    earlier = sorted((e["startDate"], e["executionArn"]) for e in executions)
    return [arn for started, arn in earlier if (started, arn) < mine]


def wait_for_turn(states: Any, execution_arn: str) -> None:
    """One rollout at a time: several Parameter Store changes at once start several executions, and two rollouts
    must never replace the same gateway concurrently. Later executions retry (ASL Retry on RolloutInProgress) until
    the earlier ones have finished, then read the configuration fresh."""
    me = states.describe_execution(executionArn=execution_arn)
    running: list[dict[str, Any]] = []
    for page in states.get_paginator("list_executions").paginate(
        stateMachineArn=me["stateMachineArn"], statusFilter="RUNNING", PaginationConfig={"MaxItems": 1000}
    ):
        running += page["executions"]
    ahead = earlier_running(running, me)
    if ahead:
        raise RolloutInProgress(f"{len(ahead)} earlier rollout(s) still running, first {ahead[0]}; waiting for them")


def load_config(
    execution_input: Any, env: Mapping[str, str], client: Any, execution_arn: str | None = None
) -> dict[str, Any]:
    settings = parse_execution_input(execution_input, defaults_from_environment(env))  # bad input fails fast
    if execution_arn:
        wait_for_turn(boto3.client("stepfunctions"), execution_arn)
    cognito, warranty_arn = validate_cognito_parameters(
        read_parameters(settings.parameterPrefix), settings.parameterPrefix
    )
    runtime = control.find_runtime(client, settings.runtimeName)
    if runtime is None:
        raise RuntimeNotFound(f"no agent runtime named {settings.runtimeName!r} (execution input 'runtimeName')")
    config = {
        "settings": settings.to_dict(),
        "cognito": cognito.to_dict(),
        "warrantyLambdaArn": warranty_arn,
        "runtime": {
            "id": runtime["agentRuntimeId"],
            "arn": runtime["agentRuntimeArn"],
            "name": runtime["agentRuntimeName"],
        },
        "oldGateway": _gateway_ref(control.find_gateway(client, settings.oldGatewayName)),
        "newGateway": _gateway_ref(control.find_gateway(client, settings.gatewayName)),
    }
    if isinstance(execution_input, Mapping) and "trigger" in execution_input:
        config["trigger"] = execution_input["trigger"]
    return config


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = load_config(event.get("input"), os.environ, control.agentcore_control(), event.get("executionArn"))
    logger.info(
        "configuration valid",
        extra={
            "runtime": config["runtime"]["id"],
            "oldGateway": config["oldGateway"],
            "newGateway": config["newGateway"],
        },
    )
    return config
