"""LoadConfig: the deployment's settings, SSM parameters and the resources they name, validated."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core.errors import (
    InvalidConfiguration,
    InvalidExecutionInput,
    RuntimeNotFound,
)

from functions.load_config import app
from tests.unit.helpers import (
    ACCOUNT,
    CLIENT_ID,
    DEFAULT_ENV,
    DISCOVERY_URL,
    NEW_ENV_VAR,
    PREFIX,
    SSM_VALUES,
    WARRANTY_ARN,
    FakeCognitoIdp,
    Seeded,
    client_error,
    run_load_config,
)


def test_load_config_refuses_a_gateway_name_create_gateway_would_refuse(aws: None) -> None:
    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"{name} called before the configuration was validated")

    with pytest.raises(InvalidConfiguration) as caught:
        run_load_config(NoCalls(), env={**DEFAULT_ENV, "ROLLOUT_GATEWAY_NAME": "my_gateway_secure"})
    message = str(caught.value)
    for expected in ("ROLLOUT_GATEWAY_NAME", "GatewayName", "'my_gateway_secure'", "([0-9a-zA-Z][-]?){1,48}"):
        assert expected in message


def test_load_config_resolves_everything(client: Any, seeded: Seeded) -> None:
    cognito_idp = FakeCognitoIdp()
    config = run_load_config(client, {"dryRun": True}, cognito_idp=cognito_idp)
    assert config["settings"]["dryRun"] is True
    assert config["settings"]["pollSeconds"] == 0
    assert config["settings"]["maxPolls"] == 5
    assert config["settings"]["gatewayUrlEnvVar"] == NEW_ENV_VAR
    assert config["cognito"] == {
        "discoveryUrl": DISCOVERY_URL,
        "clientId": CLIENT_ID,
        "poolId": SSM_VALUES["pool_id"],
        "tokenUrl": SSM_VALUES["cognito_token_url"],
        "scopes": [SSM_VALUES["cognito_auth_scope"]],
    }
    assert cognito_idp.described == [SSM_VALUES["pool_id"]]
    assert config["warrantyLambdaArn"] == WARRANTY_ARN
    assert config["runtime"] == {"id": seeded.runtime_id, "arn": seeded.runtime_arn, "name": "CustomerSupport"}
    assert config["oldGateway"] == {"id": seeded.old_gateway_id, "name": "my-gateway", "status": "READY"}
    assert config["newGateway"] is None
    assert "trigger" not in config


def test_load_config_echoes_the_validated_trigger(client: Any, seeded: Seeded) -> None:
    trigger = {"source": "aws.ssm", "parameter": f"{PREFIX}/client_id", "operation": "Update"}
    assert run_load_config(client, {"trigger": trigger})["trigger"] == trigger


def test_load_config_runtime_not_found_names_the_runtime(client: Any, seeded: Seeded) -> None:
    env = {**DEFAULT_ENV, "ROLLOUT_RUNTIME_NAME": "OtherAgent"}
    with pytest.raises(RuntimeNotFound, match="no agent runtime named 'OtherAgent'"):
        run_load_config(client, {}, env=env)


def test_load_config_refuses_another_teams_runtime_before_reading_anything(client: Any, seeded: Seeded) -> None:
    cognito_idp = FakeCognitoIdp()
    with pytest.raises(InvalidExecutionInput, match="'runtimeName'"):
        run_load_config(client, {"runtimeName": "OtherAgent"}, cognito_idp=cognito_idp)
    assert cognito_idp.described == []


def test_load_config_missing_ssm_parameter(client: Any, seeded: Seeded) -> None:
    import boto3

    boto3.client("ssm").delete_parameter(Name=f"{PREFIX}/cognito_token_url")
    with pytest.raises(InvalidConfiguration, match=f"missing SSM parameter\\(s\\): {PREFIX}/cognito_token_url"):
        run_load_config(client)


def test_load_config_reads_only_the_known_parameters(client: Any, seeded: Seeded) -> None:
    import boto3

    boto3.client("ssm").put_parameter(Name=f"{PREFIX}/unrelated_secret", Value="s3cr3t-value", Type="SecureString")
    config = run_load_config(client)
    assert "s3cr3t-value" not in str(config)


def test_load_config_ssm_access_denied(client: Any, seeded: Seeded) -> None:
    class DeniedSsm:
        def get_parameters(self, **_: Any) -> Any:
            raise client_error("AccessDeniedException", "not allowed", "GetParameters")

    denied: Any = DeniedSsm()
    idp: Any = FakeCognitoIdp()
    with pytest.raises(InvalidConfiguration, match=f"cannot read SSM parameters under {PREFIX}: AccessDeniedException"):
        app.load_config(
            {},
            DEFAULT_ENV,
            client,
            region="us-east-1",
            account_id=ACCOUNT,
            ssm=denied,
            cognito_idp=idp,
        )


def test_load_config_handler(seeded: Seeded, context: LambdaContext, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEFAULT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(app.boto3, "client", _clients_with_fake_cognito(app.boto3.client))
    config = app.lambda_handler(
        {"input": {"gatewayName": "my-gateway-secure"}, "executionArn": "arn:execution"}, context
    )
    assert config["runtime"]["id"] == seeded.runtime_id
    assert config["settings"]["gatewayUrlEnvVar"] == NEW_ENV_VAR


def _clients_with_fake_cognito(real: Any) -> Any:
    def client(service: str, **kwargs: Any) -> Any:
        return FakeCognitoIdp() if service == "cognito-idp" else real(service, **kwargs)

    return client
