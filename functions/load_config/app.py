"""Step 1: merge the execution input over the deployment defaults, read and validate the SSM configuration,
resolve the runtime and gateways by name, and verify a requested agent CodeZip against its manifest. Nothing is
changed here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rollout_core import agentcore
from rollout_core.artifact import verify_agent_artifact
from rollout_core.cognito import SSM_PARAMETERS, user_pool_reader, validate_cognito_parameters
from rollout_core.errors import InvalidConfiguration, RuntimeNotFound
from rollout_core.observability import task_handler
from rollout_core.settings import deployment_from_environment, parse_execution_input, parse_trigger
from rollout_core.state import Config, LoadConfigEvent

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

logger = Logger()
tracer = Tracer()


def read_parameters(ssm: SSMClient, prefix: str) -> dict[str, str]:
    """Only the parameters the rollout knows, by name: nothing else under the prefix reaches the state."""
    names = [f"{prefix}/{name}" for name in SSM_PARAMETERS]
    try:
        response = ssm.get_parameters(Names=names, WithDecryption=True)
    except ClientError as exc:
        raise InvalidConfiguration(
            f"cannot read SSM parameters under {prefix}: {exc.response.get('Error', {}).get('Code')}"
        ) from None
    return {p["Name"].removeprefix(prefix).strip("/"): str(p["Value"]) for p in response.get("Parameters", [])}


def load_config(
    execution_input: Any,
    env: Mapping[str, str],
    client: BedrockAgentCoreControlClient,
    *,
    region: str,
    account_id: str,
    ssm: SSMClient,
    cognito_idp: CognitoIdentityProviderClient,
    s3: S3Client | None = None,
) -> Config:
    # Runs once this execution holds the rollout lock (rollout_lock): what it reads is the latest configuration,
    # including every change coalesced into this rollout.
    deployment = deployment_from_environment(env)
    settings = parse_execution_input(execution_input, deployment)  # bad input fails fast, before any call
    cognito, warranty_arn = validate_cognito_parameters(
        read_parameters(ssm, settings.parameterPrefix),
        settings.parameterPrefix,
        deployment,
        region,
        account_id,
        user_pool_reader(cognito_idp),
    )
    runtime = agentcore.find_runtime(client, settings.runtimeName)
    if runtime is None:
        raise RuntimeNotFound(
            f"no agent runtime named {settings.runtimeName!r} (template parameter RuntimeName) in {region}"
        )
    settings_out = settings.to_dict()
    if settings.agentArtifact is not None:
        # Last: the most expensive check (the zip is hashed). Its manifest decides the runtime and entry point.
        if s3 is None:
            raise InvalidConfiguration("load_config needs an S3 client to verify agentArtifact")
        settings_out["agentArtifact"] = verify_agent_artifact(s3, settings.agentArtifact)
    config: Config = {
        "settings": settings_out,
        "cognito": cognito.to_dict(),
        "warrantyLambdaArn": warranty_arn,
        "runtime": {
            "id": runtime["agentRuntimeId"],
            "arn": runtime["agentRuntimeArn"],
            "name": runtime["agentRuntimeName"],
        },
        "oldGateway": agentcore.gateway_ref(agentcore.find_gateway(client, settings.oldGatewayName)),
        "newGateway": agentcore.gateway_ref(agentcore.find_gateway(client, settings.gatewayName)),
    }
    if isinstance(execution_input, Mapping) and "trigger" in execution_input:
        config["trigger"] = parse_trigger(execution_input["trigger"])
    return config


@task_handler(logger, tracer)
def lambda_handler(event: LoadConfigEvent, context: LambdaContext) -> Config:
    region = os.environ["AWS_REGION"]
    config = load_config(
        event.get("input"),
        os.environ,
        agentcore.agentcore_control(),
        region=region,
        account_id=context.invoked_function_arn.split(":")[4],
        ssm=boto3.client("ssm", region_name=region),
        cognito_idp=boto3.client("cognito-idp", region_name=region),
        s3=boto3.client("s3", region_name=region),
    )
    logger.info(
        "configuration valid",
        extra={
            "runtime": config["runtime"]["id"],
            "oldGateway": config["oldGateway"],
            "newGateway": config["newGateway"],
        },
    )
    return config
