"""Rollback and restore (functions/restore) against plain moto: a backup put back."""

from __future__ import annotations

import copy
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, backup, desired
from rollout_core.errors import (
    AgentCoreBusy,
    InvalidConfiguration,
    InvalidExecutionInput,
    ResourceWaitTimeout,
    RestoreFailed,
    RolloutVerificationFailed,
)
from rollout_core.state import CognitoConfig, Config, RestoreEvent, RestoreRuntimeHandle

from functions.backup import app as backup_app
from functions.restore import app
from functions.switch_runtime import app as switch_runtime
from tests.unit.helpers import (
    CLIENT_ID,
    DISCOVERY_URL,
    REGION,
    RUNTIME_ENV,
    RUNTIME_HEADERS,
    SCOPE,
    Seeded,
    present,
)

BUCKET = "stack-backupbucket-abc"
SECURE = desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE])
NEW_URL = "https://my-gateway-secure-0123456789.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp"


@pytest.fixture
def s3(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv(backup.BUCKET_ENV, BUCKET)
    return client


@pytest.fixture
def document(client: Any, s3: Any, seeded: Seeded, config: Config) -> dict[str, Any]:
    """The backup a rollout takes of the tutorial's state."""
    result = backup_app.take_backup(client, s3, BUCKET, config, "arn:execution:rollout-1", "rollout-1")
    return backup.read(s3, BUCKET, result["key"])


def settle_runtime(backend: Any, runtime_id: str) -> None:
    """moto leaves an update UPDATING; AWS settles it and DEFAULT moves to it."""
    runtime = backend.agent_runtimes[runtime_id]
    runtime.status = "READY"
    endpoint = backend.agent_runtime_endpoints[(runtime_id, "DEFAULT")]
    endpoint.live_version = endpoint.target_version = runtime.agent_runtime_version


def switched(client: Any, backend: Any, config: Config) -> None:
    """The runtime after a switch: authorizer, allowlist, new gateway URL and name."""
    cognito = cast(CognitoConfig, {"discoveryUrl": DISCOVERY_URL, "clientId": CLIENT_ID, "scopes": [SCOPE]})
    switch_runtime.switch_runtime(
        client,
        config["runtime"]["id"],
        cognito,
        "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL",
        NEW_URL,
        "my-gateway-secure",
    )
    settle_runtime(backend, config["runtime"]["id"])


# --- runtime ----------------------------------------------------------------------------------------------------


def test_rollback_puts_the_backed_up_configuration_back_and_keeps_the_authorizer_it_cannot_remove(
    client: Any, backend: Any, config: Config, document: dict[str, Any]
) -> None:
    switched(client, backend, config)
    sent: list[dict[str, Any]] = []
    real = client.update_agent_runtime

    def recorded(**kwargs: Any) -> Any:
        sent.append(kwargs)
        return real(**kwargs)

    client.update_agent_runtime = recorded
    result = app.restore_runtime(client, document, config["runtime"]["id"])
    assert (result["changed"], result["ready"], result["version"]) == (True, False, "3")
    assert (result["restoredVersion"], result["authorizerKept"]) == ("1", True)
    (request,) = sent
    assert "authorizerConfiguration" not in request  # AgentCore would refuse it; no API removes one
    after = agentcore.get_runtime(client, config["runtime"]["id"])
    assert after["environmentVariables"] == RUNTIME_ENV
    assert after["requestHeaderConfiguration"] == RUNTIME_HEADERS
    assert after["authorizerConfiguration"] == SECURE
    # Put back and live: a second rollback has nothing to do.
    settle_runtime(backend, config["runtime"]["id"])
    assert app.restore_runtime(client, document, config["runtime"]["id"])["changed"] is False
    assert len(sent) == 1


def test_a_backed_up_authorizer_that_is_gone_is_sent_back(
    client: Any, backend: Any, config: Config, document: dict[str, Any]
) -> None:
    secured = copy.deepcopy(document)
    secured["runtime"]["authorizerConfiguration"] = SECURE
    app.restore_runtime(client, secured, config["runtime"]["id"])
    assert agentcore.get_runtime(client, config["runtime"]["id"])["authorizerConfiguration"] == SECURE


def test_nothing_differs_no_update(client: Any, backend: Any, config: Config, document: dict[str, Any]) -> None:
    settle_runtime(backend, config["runtime"]["id"])  # the switch was refused: the runtime is as backed up
    result = app.restore_runtime(client, document, config["runtime"]["id"])
    assert (result["changed"], result["ready"], result["authorizerKept"]) == (False, True, False)
    assert backend.agent_runtimes[config["runtime"]["id"]].agent_runtime_version == "1"


def test_an_update_failed_runtime_is_put_back_with_the_urls_of_re_created_gateways(
    client: Any, backend: Any, config: Config, document: dict[str, Any]
) -> None:
    backend.agent_runtimes[config["runtime"]["id"]].status = "UPDATE_FAILED"
    old_url = desired.normalize_gateway_url(RUNTIME_ENV["AGENTCORE_GATEWAY_MY_GATEWAY_URL"])
    urls = {old_url: NEW_URL}
    assert app.restore_runtime(client, document, config["runtime"]["id"], urls)["changed"] is True
    environment = agentcore.get_runtime(client, config["runtime"]["id"])["environmentVariables"]
    assert environment == {**RUNTIME_ENV, "AGENTCORE_GATEWAY_MY_GATEWAY_URL": NEW_URL}


def test_a_backup_of_another_runtime_or_a_busy_runtime_is_refused(
    client: Any, backend: Any, config: Config, document: dict[str, Any]
) -> None:
    with pytest.raises(RestoreFailed, match="this stack manages runtime OtherAgent-0123456789"):
        app.restore_runtime(client, document, "OtherAgent-0123456789")
    backend.agent_runtimes[config["runtime"]["id"]].status = "UPDATING"
    with pytest.raises(AgentCoreBusy, match="is UPDATING; restoring once it has settled"):
        app.restore_runtime(client, document, config["runtime"]["id"])


# --- gateway ----------------------------------------------------------------------------------------------------


def test_restore_re_creates_the_old_gateway_then_its_targets_then_is_ready(
    client: Any, seeded: Seeded, config: Config, document: dict[str, Any]
) -> None:
    for target_id in seeded.target_ids.values():
        client.delete_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=target_id)
    client.delete_gateway(gatewayIdentifier=seeded.old_gateway_id)
    step = app.restore_gateway

    created = step(client, document, config, "arn:execution:restore-1", {})
    assert (created["ready"], created["status"], created["attempt"]) == (False, "CREATING", 1)
    (summary,) = [g for g in client.list_gateways()["items"] if g["name"] == "my-gateway"]
    recreated = client.get_gateway(gatewayIdentifier=summary["gatewayId"])
    assert recreated["authorizerType"] == "NONE"
    assert recreated["description"] == document["gateways"][0]["gateway"]["description"]
    assert recreated["protocolConfiguration"] == document["gateways"][0]["gateway"]["protocolConfiguration"]

    targets = step(client, document, config, "arn:execution:restore-1", created)
    assert targets["status"] == "creating targets WarrantyCheck, ShippingEstimate"
    assert created["gateway"] == {"id": summary["gatewayId"], "recreated": True}
    ready = step(client, document, config, "arn:execution:restore-1", targets)
    assert ready["ready"] is True
    old_url = desired.normalize_gateway_url(seeded.old_gateway_url)
    assert ready["urls"] == {old_url: desired.normalize_gateway_url(recreated["gatewayUrl"])}
    names = sorted(t["name"] for t in client.list_gateway_targets(gatewayIdentifier=summary["gatewayId"])["items"])
    assert names == ["ShippingEstimate", "WarrantyCheck"]
    # Idempotent: called again, nothing more is created.
    assert step(client, document, config, "arn:execution:restore-1", ready)["ready"] is True
    assert len(client.list_gateways()["items"]) == 1


def test_an_existing_old_gateway_gets_its_missing_targets_only(
    client: Any, seeded: Seeded, config: Config, document: dict[str, Any]
) -> None:
    client.delete_gateway_target(gatewayIdentifier=seeded.old_gateway_id, targetId=seeded.target_ids["WarrantyCheck"])
    step = app.restore_gateway
    first = step(client, document, config, "arn:execution", {})
    assert first["status"] == "creating targets WarrantyCheck"
    assert first["gateway"] == {"id": seeded.old_gateway_id, "recreated": False}
    done = step(client, document, config, "arn:execution", first)
    assert (done["ready"], done["urls"]) == (True, {})


def test_a_name_held_by_another_kind_of_gateway_is_refused(
    client: Any, backend: Any, seeded: Seeded, config: Config, document: dict[str, Any]
) -> None:
    backend.gateways[seeded.old_gateway_id].authorizer_type = "CUSTOM_JWT"
    with pytest.raises(RestoreFailed, match=r"gateway name my-gateway is held by gateway .* \(CUSTOM_JWT\)"):
        app.restore_gateway(client, document, config, "arn:execution", {})


def test_a_backup_without_the_old_gateway_has_nothing_to_re_create(
    client: Any, config: Config, document: dict[str, Any]
) -> None:
    result = app.restore_gateway(client, {**document, "gateways": []}, config, "arn:execution", {})
    assert (result["ready"], result["gateway"], result["urls"]) == (True, None, {})


def test_a_gateway_that_never_settles_spends_the_poll_budget(
    client: Any, backend: Any, seeded: Seeded, config: Config, document: dict[str, Any]
) -> None:
    backend.gateways[seeded.old_gateway_id].status = "UPDATING"
    budget = config["settings"]["maxPolls"]
    with pytest.raises(ResourceWaitTimeout, match=f"still UPDATING after {budget} polls"):
        app.restore_gateway(client, document, config, "arn:execution", {"attempt": budget - 1})


# --- report and handler -----------------------------------------------------------------------------------------


def test_the_restore_report_verifies_the_end_state(
    client: Any, backend: Any, config: Config, document: dict[str, Any]
) -> None:
    switched(client, backend, config)
    with pytest.raises(
        RolloutVerificationFailed, match="runtime settings differ from the backup: environmentVariables"
    ):
        app.restore_report(client, document, config, "backups/rollout-1.json", cast(RestoreEvent, {}))
    runtime = app.restore_runtime(client, document, config["runtime"]["id"])
    settle_runtime(backend, config["runtime"]["id"])
    steps = cast(RestoreEvent, {"runtime": runtime, "gateway": {"urls": {}}})  # the parts the report reads
    report = app.restore_report(client, document, config, "backups/rollout-1.json", steps)
    assert report["verified"] is True
    assert report["runtime"]["authorizerKept"] is True
    assert present(report["gateway"])["targets"] == ["ShippingEstimate", "WarrantyCheck"]
    assert report["backup"]["key"] == "backups/rollout-1.json"


def test_restore_handler(
    client: Any,
    config: Config,
    document: dict[str, Any],
    context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = app.lambda_handler
    event: RestoreEvent = {
        "step": "runtime",
        "backup": {"key": "backups/rollout-1.json"},
        "runtimeId": config["runtime"]["id"],
        "executionArn": "arn:execution",
    }
    assert cast(RestoreRuntimeHandle, handler(event, context))["restoredVersion"] == "1"
    with pytest.raises(InvalidExecutionInput, match="restore got step 'undo'"):
        handler(cast(RestoreEvent, {**event, "step": "undo"}), context)
    with pytest.raises(InvalidExecutionInput, match="backup key must be the key of one of this stack's backups"):
        handler({**event, "backup": {"key": "elsewhere/x.json"}}, context)
    monkeypatch.delenv(backup.BUCKET_ENV)
    with pytest.raises(InvalidConfiguration, match="ROLLOUT_BACKUP_BUCKET"):
        handler(event, context)
