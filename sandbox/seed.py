"""The tutorial's starting point: what a team has after the AgentCore customer-support tutorial, before securing it.

Cognito pool + domain + resource server scope + M2M app client with a secret, the SSM parameters the prerequisite
stack wrote, the WarrantyCheck Lambda, runtime `CustomerSupport` with no authorizer (and settings that must survive
the rollout) running a CodeZip of the agent (shaped like `make agent-package` output, in CODE_BUCKET), and gateway
`my-gateway` (authorizer NONE) with its targets.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import boto3

from sandbox.behaviour import read_until
from sandbox.codezip import build_codezip, upload_codezip
from sandbox.deploy import zip_dir
from sandbox.lambdas import FunctionCode, InProcessLambdas

PARAMETER_PREFIX = "/app/customersupport/agentcore"
CODE_BUCKET = "customersupport-agent-code"  # where the tutorial's runtime CodeZip lives
CODE_KEY = "CustomerSupport/code.zip"
RESOURCE_SERVER = "customersupport"
SCOPE = f"{RESOURCE_SERVER}/invoke"
PREREQUISITES = Path(__file__).parent / "prerequisites"
WARRANTY_SCHEMA = Path(__file__).parent.parent / "layers" / "rollout_core" / "rollout_core" / "warranty_schema.json"

# Settings of the runtime that the rollout must carry through its full-replace updates untouched.
RUNTIME_DESCRIPTION = "CustomerSupport agent from the AgentCore tutorial"
RUNTIME_LIFECYCLE = {"idleRuntimeSessionTimeout": 900, "maxLifetime": 28800}
SHIPPING_SCHEMA = [
    {
        "name": "estimate_shipping",
        "description": "Estimate delivery days for a product id to a country code.",
        "inputSchema": {
            "type": "object",
            "properties": {"product_id": {"type": "string"}, "country": {"type": "string"}},
            "required": ["product_id"],
        },
    }
]


@dataclass
class Seeded:
    pool_id: str
    client_id: str
    runtime_id: str
    runtime_arn: str
    old_gateway_id: str
    old_gateway_url: str
    warranty_lambda_arn: str
    runtime_environment: dict[str, str]
    runtime_role_arn: str
    gateway_role_arn: str
    # The tutorial's callers: the runtime has no authorizer, so AgentCore takes SigV4 calls from an IAM identity
    # allowed bedrock-agentcore:InvokeAgentRuntime (this role's), and nothing else.
    caller_role_arn: str


def _role(iam: Any, name: str, service: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def create_m2m_pool(
    cognito: Any,
    pool_name: str,
    domain: str,
    scope_names: tuple[str, ...] = ("invoke",),
    client_name: str = "CustomerSupportM2M",
) -> tuple[str, str, str]:
    """The tutorial's Cognito shape: a pool with a domain (its OAuth endpoint), resource server `customersupport`
    with the given scopes, and an M2M app client with a secret allowed `customersupport/invoke` by client_credentials.
    Returns (pool id, client id, client secret)."""
    pool_id: str = cognito.create_user_pool(PoolName=pool_name)["UserPool"]["Id"]
    cognito.create_user_pool_domain(Domain=domain, UserPoolId=pool_id)
    cognito.create_resource_server(
        UserPoolId=pool_id,
        Identifier=RESOURCE_SERVER,
        Name="Customer support agent",
        Scopes=[{"ScopeName": name, "ScopeDescription": f"{name.capitalize()} the agent"} for name in scope_names],
    )
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=client_name,
        GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=[SCOPE],
        AllowedOAuthFlowsUserPoolClient=True,
    )["UserPoolClient"]
    return pool_id, client["ClientId"], client["ClientSecret"]


def publish_agent_code(s3: Any, agent_dir: Path, bucket: str, key: str) -> dict[str, str]:
    """Build `agent_dir` as a CodeZip (+ manifest) and put both in S3; returns the agentArtifact input."""
    with tempfile.TemporaryDirectory(prefix="sandbox-seed-") as tmp:
        return upload_codezip(s3, build_codezip(agent_dir, Path(tmp, "code.zip")), bucket, key)


def _caller_role(iam: Any, runtime_arn: str) -> str:
    """A backend's role that may invoke the runtime (its DEFAULT endpoint) and nothing else."""
    account = runtime_arn.split(":")[4]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="CustomerSupportCaller", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    invoke = {
        "Effect": "Allow",
        "Action": "bedrock-agentcore:InvokeAgentRuntime",
        "Resource": [runtime_arn, f"{runtime_arn}/runtime-endpoint/*"],
    }
    document = {"Version": "2012-10-17", "Statement": [invoke]}
    iam.put_role_policy(
        RoleName="CustomerSupportCaller", PolicyName="InvokeCustomerSupport", PolicyDocument=json.dumps(document)
    )
    return str(role["Arn"])


def create_tool_function(lambda_client: Any, lambdas: InProcessLambdas, name: str, folder: str, role: str) -> str:
    """One of the tutorial's tool Lambdas (code from prerequisites/<folder>), run in-process; returns its ARN."""
    code_dir = PREREQUISITES / folder
    arn = str(
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": zip_dir(code_dir)},
            Architectures=["arm64"],
        )["FunctionArn"]
    )
    lambdas.register(name, FunctionCode(code_dir))
    return arn


def seed_tutorial(region: str, cognito_base_url: str, lambdas: InProcessLambdas, agent_dir: Path) -> Seeded:
    cognito = boto3.client("cognito-idp", region_name=region)
    iam = boto3.client("iam", region_name=region)
    ssm = boto3.client("ssm", region_name=region)
    lambda_client = boto3.client("lambda", region_name=region)
    control: Any = boto3.client("bedrock-agentcore-control", region_name=region)

    pool_id, client_id, _ = create_m2m_pool(cognito, "CustomerSupportPool", "customersupport-sandbox")

    lambda_role = _role(iam, "WarrantyCheckLambdaRole", "lambda.amazonaws.com")
    runtime_role = _role(iam, "AgentCoreRuntimeRole", "bedrock-agentcore.amazonaws.com")
    gateway_role = _role(iam, "AgentCoreGatewayRole", "bedrock-agentcore.amazonaws.com")

    functions = {
        folder: create_tool_function(lambda_client, lambdas, function_name, folder, lambda_role)
        for function_name, folder in (
            ("CustomerSupportWarrantyCheck", "warranty_check"),
            ("CustomerSupportShippingEstimate", "shipping_estimate"),
        )
    }
    warranty_arn = functions["warranty_check"]

    discovery_url = f"{cognito_base_url}/{pool_id}/.well-known/openid-configuration"
    parameters = {
        "cognito_discovery_url": discovery_url,
        "client_id": client_id,
        "pool_id": pool_id,
        "cognito_token_url": f"{cognito_base_url}/oauth2/token",
        "cognito_auth_scope": SCOPE,
        "warranty_check_lambda_arn": warranty_arn,
    }
    for name, value in parameters.items():
        ssm.put_parameter(Name=f"{PARAMETER_PREFIX}/{name}", Value=value, Type="String", Overwrite=True)

    gateway = control.create_gateway(
        name="my-gateway",
        description="Customer support tools (tutorial)",
        roleArn=gateway_role,
        protocolType="MCP",
        protocolConfiguration={"mcp": {"supportedVersions": ["2025-03-26"], "searchType": "SEMANTIC"}},
        authorizerType="NONE",
    )
    gateway_id = gateway["gatewayId"]
    read_until(lambda: control.get_gateway(gatewayIdentifier=gateway_id), "gateway my-gateway")
    gateway_url = control.get_gateway(gatewayIdentifier=gateway_id)["gatewayUrl"]  # not in the create response
    for name, schema, arn in (
        ("WarrantyCheck", json.loads(WARRANTY_SCHEMA.read_text()), warranty_arn),
        ("ShippingEstimate", SHIPPING_SCHEMA, functions["shipping_estimate"]),
    ):
        target = control.create_gateway_target(
            gatewayIdentifier=gateway_id,
            name=name,
            description=f"{name} tool (tutorial)",
            targetConfiguration={"mcp": {"lambda": {"lambdaArn": arn, "toolSchema": {"inlinePayload": schema}}}},
            credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
        )
        read_until(
            partial(control.get_gateway_target, gatewayIdentifier=gateway_id, targetId=target["targetId"]),
            f"target {name}",
        )

    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=CODE_BUCKET)
    publish_agent_code(s3, agent_dir, CODE_BUCKET, CODE_KEY)
    environment = {
        "AGENT_MODEL_PROVIDER": "offline-deterministic",
        "LOG_LEVEL": "INFO",
        "AGENTCORE_GATEWAY_MY_GATEWAY_URL": gateway_url,
    }
    runtime = control.create_agent_runtime(
        agentRuntimeName="CustomerSupport",
        description=RUNTIME_DESCRIPTION,
        agentRuntimeArtifact={
            "codeConfiguration": {
                "code": {"s3": {"bucket": CODE_BUCKET, "prefix": CODE_KEY}},
                "runtime": "PYTHON_3_13",
                "entryPoint": ["main.py"],
            }
        },
        roleArn=runtime_role,
        networkConfiguration={"networkMode": "PUBLIC"},
        protocolConfiguration={"serverProtocol": "HTTP"},
        lifecycleConfiguration=RUNTIME_LIFECYCLE,
        environmentVariables=environment,
    )
    runtime_id = runtime["agentRuntimeId"]
    read_until(lambda: control.get_agent_runtime(agentRuntimeId=runtime_id), "runtime CustomerSupport")
    caller_role = _caller_role(iam, runtime["agentRuntimeArn"])
    return Seeded(
        pool_id=pool_id,
        client_id=client_id,
        runtime_id=runtime_id,
        runtime_arn=runtime["agentRuntimeArn"],
        old_gateway_id=gateway_id,
        old_gateway_url=gateway_url,
        warranty_lambda_arn=warranty_arn,
        runtime_environment=environment,
        runtime_role_arn=runtime_role,
        gateway_role_arn=gateway_role,
        caller_role_arn=caller_role,
    )
