"""Execution input and SSM configuration: parsed and validated before anything is changed."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from rollout_core.errors import InvalidConfiguration, InvalidExecutionInput

# AgentCore / Cognito / Lambda identifier shapes (botocore service models and AWS docs).
RUNTIME_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,47}")
GATEWAY_NAME = re.compile(r"([0-9a-zA-Z][-]?){1,100}")
TARGET_NAME = GATEWAY_NAME
ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
PARAMETER_PREFIX = re.compile(r"(/[a-zA-Z0-9_.-]+)+")
COGNITO_CLIENT_ID = re.compile(r"[\w+]{1,128}")
COGNITO_POOL_ID = re.compile(r"[\w-]+_[0-9a-zA-Z]+")
LAMBDA_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d:\d{12}:function:[a-zA-Z0-9-_]{1,64}(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
# RFC 6749 scope-token characters; Cognito scopes look like "<resource-server-id>/<scope-name>".
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
TOKEN_PATH_SUFFIX = "/oauth2/token"

# The SSM parameters read under the prefix, and what each must look like (used in error messages).
SSM_PARAMETERS: dict[str, str] = {
    "cognito_discovery_url": "an https URL ending in /.well-known/openid-configuration (http only for loopback hosts)",
    "client_id": "a Cognito app client id (letters, digits, '_' or '+', 1-128 chars)",
    "pool_id": "a Cognito user pool id like us-east-1_AbCdEf123",
    "cognito_token_url": "an https URL ending in /oauth2/token (http only for loopback hosts)",
    "cognito_auth_scope": "one or more space-separated OAuth scopes like customersupport/invoke",
    "warranty_check_lambda_arn": "a Lambda function ARN like arn:aws:lambda:us-east-1:123456789012:function:Name",
}


@dataclass(frozen=True)
class InputField:
    kind: type
    description: str
    pattern: re.Pattern[str] | None = None
    minimum: int | None = None
    maximum: int | None = None


INPUT_FIELDS: dict[str, InputField] = {
    "parameterPrefix": InputField(str, "an SSM path like /app/customersupport/agentcore", PARAMETER_PREFIX),
    "runtimeName": InputField(str, "an AgentCore runtime name ([a-zA-Z][a-zA-Z0-9_]{0,47})", RUNTIME_NAME),
    "oldGatewayName": InputField(str, "a gateway name (letters, digits, single hyphens)", GATEWAY_NAME),
    "gatewayName": InputField(str, "a gateway name (letters, digits, single hyphens)", GATEWAY_NAME),
    "targetName": InputField(str, "a gateway target name (letters, digits, single hyphens)", TARGET_NAME),
    "gatewayUrlEnvVar": InputField(str, "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", ENV_VAR_NAME),
    "dryRun": InputField(bool, "true or false"),
    "pollSeconds": InputField(int, "an integer number of seconds from 0 to 300", minimum=0, maximum=300),
    "maxPolls": InputField(int, "an integer from 1 to 1000", minimum=1, maximum=1000),
}

S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
ARTIFACT_DESCRIPTION = (
    'an object {"s3Bucket": "<bucket>", "s3Key": "<key of the CodeZip>"} (or "prefix" instead of "s3Key")'
)

# Informational keys (e.g. what EventBridge event started the run); echoed into the report, never acted upon.
INFORMATIONAL_FIELDS = {"trigger"}


@dataclass(frozen=True)
class RolloutSettings:
    """The execution input merged over the deployment defaults."""

    parameterPrefix: str
    runtimeName: str
    oldGatewayName: str
    gatewayName: str
    targetName: str
    gatewayUrlEnvVar: str
    dryRun: bool
    pollSeconds: int
    maxPolls: int
    agentArtifact: dict[str, str] | None = None  # a new agent CodeZip to switch to, if any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CognitoSettings:
    discoveryUrl: str
    clientId: str
    poolId: str
    tokenUrl: str
    scope: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gateway_url_env_var_for(gateway_name: str) -> str:
    """The tutorial CLI's convention: my-gateway-secure -> AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL."""
    return f"AGENTCORE_GATEWAY_{gateway_name.upper().replace('-', '_')}_URL"


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _check_input_value(key: str, value: Any, spec: InputField) -> Any:
    # bool is an int subclass: reject True/False where an integer is expected, and vice versa.
    type_ok = isinstance(value, spec.kind) and not (spec.kind is int and isinstance(value, bool))
    if not type_ok:
        raise InvalidExecutionInput(
            f"execution input '{key}' must be {spec.description}; got {type(value).__name__} {_describe(value)}"
        )
    if spec.pattern is not None and not spec.pattern.fullmatch(value):
        raise InvalidExecutionInput(f"execution input '{key}' must be {spec.description}; got {_describe(value)}")
    if spec.minimum is not None and value < spec.minimum:
        raise InvalidExecutionInput(f"execution input '{key}' must be {spec.description}; got {value}")
    if spec.maximum is not None and value > spec.maximum:
        raise InvalidExecutionInput(f"execution input '{key}' must be {spec.description}; got {value}")
    return value


def parse_execution_input(raw: Any, defaults: Mapping[str, Any]) -> RolloutSettings:
    """Merge the execution input over the deployment defaults; unknown keys and wrong types are errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidExecutionInput(f"execution input must be a JSON object; got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(INPUT_FIELDS) - INFORMATIONAL_FIELDS - {"agentArtifact"})
    if unknown:
        raise InvalidExecutionInput(
            f"execution input has unknown key(s) {', '.join(unknown)}; allowed keys are "
            f"{', '.join(sorted([*INPUT_FIELDS, 'agentArtifact']))} (and 'trigger')"
        )
    merged: dict[str, Any] = {}
    for key, spec in INPUT_FIELDS.items():
        if key in raw:
            merged[key] = _check_input_value(key, raw[key], spec)
        elif key in defaults:
            merged[key] = _check_input_value(key, defaults[key], spec)
        elif key == "gatewayUrlEnvVar":
            continue  # derived below from the (possibly overridden) gateway name
        else:
            raise InvalidExecutionInput(f"no value for '{key}': neither the execution input nor the defaults set it")
    merged.setdefault("gatewayUrlEnvVar", gateway_url_env_var_for(merged["gatewayName"]))
    if raw.get("agentArtifact") is not None:
        merged["agentArtifact"] = parse_agent_artifact(raw["agentArtifact"])
    return RolloutSettings(**merged)


def parse_agent_artifact(value: Any) -> dict[str, str]:
    """The agent CodeZip to deploy with the rollout: {"s3Bucket", "s3Key"} (AgentCore calls the key "prefix")."""
    if not isinstance(value, Mapping):
        raise InvalidExecutionInput(
            f"execution input 'agentArtifact' must be {ARTIFACT_DESCRIPTION}; got {_describe(value)}"
        )
    unknown = sorted(set(value) - {"s3Bucket", "s3Key", "prefix"})
    if unknown or ("s3Key" in value and "prefix" in value):
        raise InvalidExecutionInput(
            f"execution input 'agentArtifact' must be {ARTIFACT_DESCRIPTION}; got keys {sorted(value)}"
        )
    bucket, key = value.get("s3Bucket"), value.get("s3Key", value.get("prefix"))
    if not isinstance(bucket, str) or not S3_BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidExecutionInput(
            f"execution input 'agentArtifact.s3Bucket' must be an S3 bucket name; got {_describe(bucket)}"
        )
    if not isinstance(key, str) or not key.strip() or len(key) > 1024 or key.startswith("/"):
        raise InvalidExecutionInput(
            f"execution input 'agentArtifact.s3Key' must be the S3 key of the agent CodeZip; got {_describe(key)}"
        )
    return {"s3Bucket": bucket, "s3Key": key}


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(prefix: str, name: str, value: str, path_suffix: str) -> None:
    expected = SSM_PARAMETERS[name]
    problem = InvalidConfiguration(f"SSM parameter {prefix}/{name} must be {expected}; got {_describe(value)}")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        raise problem from None
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        pass  # the offline sandbox serves Cognito on 127.0.0.1 without TLS
    elif parts.scheme != "https":
        raise problem
    if not parts.hostname or not parts.path.endswith(path_suffix) or parts.query or parts.fragment:
        raise problem


def validate_cognito_parameters(values: Mapping[str, str], prefix: str) -> tuple[CognitoSettings, str]:
    """Validate the SSM values (name -> value, names relative to the prefix). Returns Cognito settings and the ARN."""
    missing = [name for name in SSM_PARAMETERS if not values.get(name, "").strip()]
    if missing:
        listing = ", ".join(f"{prefix}/{name} ({SSM_PARAMETERS[name]})" for name in missing)
        raise InvalidConfiguration(f"missing SSM parameter(s): {listing}")
    cleaned = {name: values[name].strip() for name in SSM_PARAMETERS}

    _check_url(prefix, "cognito_discovery_url", cleaned["cognito_discovery_url"], DISCOVERY_SUFFIX)
    _check_url(prefix, "cognito_token_url", cleaned["cognito_token_url"], TOKEN_PATH_SUFFIX)
    for name, pattern in (
        ("client_id", COGNITO_CLIENT_ID),
        ("pool_id", COGNITO_POOL_ID),
        ("warranty_check_lambda_arn", LAMBDA_ARN),
    ):
        if not pattern.fullmatch(cleaned[name]):
            raise InvalidConfiguration(
                f"SSM parameter {prefix}/{name} must be {SSM_PARAMETERS[name]}; got {_describe(cleaned[name])}"
            )
    scopes = cleaned["cognito_auth_scope"].split()
    if not scopes or not all(SCOPE_TOKEN.fullmatch(scope) for scope in scopes):
        raise InvalidConfiguration(
            f"SSM parameter {prefix}/cognito_auth_scope must be {SSM_PARAMETERS['cognito_auth_scope']}; "
            f"got {_describe(cleaned['cognito_auth_scope'])}"
        )
    # Cognito's discovery document lives at /<poolId>/.well-known/...: a URL for another pool is a misconfiguration.
    discovery_path = urlsplit(cleaned["cognito_discovery_url"]).path
    if discovery_path != f"/{cleaned['pool_id']}{DISCOVERY_SUFFIX}":
        raise InvalidConfiguration(
            f"SSM parameter {prefix}/cognito_discovery_url must be the discovery URL of pool {cleaned['pool_id']} "
            f"(path /{cleaned['pool_id']}{DISCOVERY_SUFFIX}); got {_describe(cleaned['cognito_discovery_url'])}"
        )
    cognito = CognitoSettings(
        discoveryUrl=cleaned["cognito_discovery_url"],
        clientId=cleaned["client_id"],
        poolId=cleaned["pool_id"],
        tokenUrl=cleaned["cognito_token_url"],
        scope=" ".join(scopes),
    )
    return cognito, cleaned["warranty_check_lambda_arn"]
