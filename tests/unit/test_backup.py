"""The backup before the first change (functions/backup, rollout_core.backup) against plain moto."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import backup
from rollout_core.errors import BackupFailed, InvalidConfiguration, InvalidExecutionInput, RestoreFailed
from rollout_core.state import BackupEvent, Config

from functions.backup import app
from tests.unit.helpers import REGION, Seeded, as_agentcore, client_error

BUCKET = "stack-backupbucket-abc"


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("rollout-0123abcd", "backups/rollout-0123abcd.json"),
        ("Run_2026.01.01", "backups/Run_2026.01.01.json"),
    ],
)
def test_a_plain_execution_name_is_the_key(name: str, key: str) -> None:
    assert backup.key_for(name) == key
    assert backup.parse_key(key, "input") == key


def test_other_execution_names_get_a_readable_key_that_keeps_them_apart() -> None:
    first, second = backup.key_for("deploy (v2)"), backup.key_for("deploy [v2]")
    assert first != second
    for key in (first, second):
        assert key.startswith("backups/deploy__v2_-")
        assert backup.parse_key(key, "input") == key


@pytest.mark.parametrize(
    "value",
    [
        "other/rollout.json",  # not under the stack's prefix
        "backups/rollout.txt",
        "backups/../secrets.json",
        "backups/sub/rollout.json",
        "/backups/rollout.json",
        "backups/" + "a" * 101 + ".json",
        "",
        42,
        None,
        {"key": "backups/x.json"},
    ],
)
def test_a_restore_key_outside_the_backup_prefix_is_refused(value: Any) -> None:
    with pytest.raises(
        InvalidExecutionInput, match="'restore' must be the key of one of this stack's backups"
    ) as caught:
        backup.parse_key(value, "execution input 'restore'")
    assert "backups/<execution name>.json" in str(caught.value)


def test_the_backup_holds_the_full_records(client: Any, s3: Any, seeded: Seeded, config: Config) -> None:
    client.tag_resource(
        resourceArn=client.get_gateway(gatewayIdentifier=seeded.old_gateway_id)["gatewayArn"], tags={"team": "cs"}
    )
    result = app.take_backup(client, s3, BUCKET, config, "arn:aws:states:execution:rollout-1", "rollout-1")
    assert (result["bucket"], result["key"]) == (BUCKET, "backups/rollout-1.json")
    assert result["versionId"]
    assert result["gateways"] == [{"name": "my-gateway", "id": seeded.old_gateway_id, "targets": 2}]

    document = backup.read(s3, BUCKET, result["key"])
    runtime = client.get_agent_runtime(agentRuntimeId=seeded.runtime_id)
    assert document["runtime"]["environmentVariables"] == runtime["environmentVariables"]
    assert document["runtime"]["agentRuntimeArtifact"] == runtime["agentRuntimeArtifact"]
    assert "ResponseMetadata" not in document["runtime"]
    assert document["liveRuntime"] is None  # DEFAULT serves the latest version
    assert backup.live_runtime(document)["agentRuntimeId"] == seeded.runtime_id
    (old,) = document["gateways"]
    assert (old["role"], old["gateway"]["name"], old["tags"]) == ("old", "my-gateway", {"team": "cs"})
    assert sorted(t["name"] for t in old["targets"]) == ["ShippingEstimate", "WarrantyCheck"]
    assert all("targetConfiguration" in t for t in old["targets"])
    assert backup.backed_up_gateway(document, "my-gateway") == old
    assert document["deployment"] == {
        "runtimeName": "CustomerSupport",
        "oldGatewayName": "my-gateway",
        "gatewayName": "my-gateway-secure",
    }


def test_the_backup_keeps_the_version_default_serves_when_it_is_not_the_latest(
    client: Any, s3: Any, seeded: Seeded, config: Config, backend: Any
) -> None:
    asked: list[dict[str, Any]] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            method = getattr(client, name)
            if name != "get_agent_runtime":
                return method

            def recorded(**kwargs: Any) -> Any:
                asked.append(kwargs)
                return method(**kwargs)

            return recorded

    backend.agent_runtimes[seeded.runtime_id].agent_runtime_version = "3"  # a failed update after version 1
    result = app.take_backup(as_agentcore(Recording()), s3, BUCKET, config, "arn:execution", "rollout-2")
    # The version DEFAULT serves is read by its number (plain moto answers with the latest record; the sandbox and
    # AWS with that version's own record: tests/sandbox/test_sandbox_behaviour.py).
    assert {"agentRuntimeId": seeded.runtime_id, "agentRuntimeVersion": "1"} in asked
    assert result["runtimeVersion"] == "3"
    assert backup.read(s3, BUCKET, result["key"])["liveRuntime"] is not None


def test_a_backup_that_cannot_be_written_stops_the_rollout(client: Any, seeded: Seeded, config: Config) -> None:
    class Refusing:
        def put_object(self, **kwargs: Any) -> Any:
            raise client_error("AccessDenied", "no", "PutObject")

    refusing: Any = Refusing()
    with pytest.raises(BackupFailed, match=re.escape("cannot write the backup to s3://b/backups/r.json: AccessDenied")):
        app.take_backup(client, refusing, "b", config, "arn:execution", "r")


def test_backup_handler(
    s3: Any,
    seeded: Seeded,
    config: Config,
    context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event: BackupEvent = {"config": config, "executionArn": "arn:execution", "executionName": "rollout-3"}
    with pytest.raises(InvalidConfiguration, match="ROLLOUT_BACKUP_BUCKET"):
        app.lambda_handler(event, context)
    monkeypatch.setenv("ROLLOUT_BACKUP_BUCKET", BUCKET)
    assert app.lambda_handler(event, context)["key"] == "backups/rollout-3.json"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "is not JSON"),
        (json.dumps({"format": "something-else/1"}).encode(), "is not a rollout backup"),
        (json.dumps({"format": backup.FORMAT, "gateways": []}).encode(), "lacks the runtime record"),
    ],
)
def test_only_a_rollout_backup_is_read_back(s3: Any, body: bytes, problem: str) -> None:
    s3.put_object(Bucket=BUCKET, Key="backups/x.json", Body=body)
    with pytest.raises(RestoreFailed, match=problem):
        backup.read(s3, BUCKET, "backups/x.json")


def test_a_missing_backup_is_named(s3: Any) -> None:
    with pytest.raises(
        RestoreFailed, match=re.escape("cannot read backup s3://stack-backupbucket-abc/backups/none.json: NoSuchKey")
    ):
        backup.read(s3, BUCKET, "backups/none.json")
