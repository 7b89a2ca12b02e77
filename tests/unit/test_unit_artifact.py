"""rollout_core.artifact: the agentArtifact is verified against its manifest; the code switch takes runtime and entry
point from it (moto S3, no sandbox)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from rollout_core import agentcore, desired
from rollout_core.artifact import MANIFEST_FORMAT, parse_manifest, verify_agent_artifact
from rollout_core.errors import InvalidAgentArtifact
from rollout_core.state import AgentArtifact, CognitoConfig

from functions.switch_runtime import app as switch_runtime
from scripts import agent_package
from tests.unit.helpers import (
    CLIENT_ID,
    DISCOVERY_URL,
    REGION,
    RUNTIME_ARTIFACT,
    SCOPE,
    Seeded,
    present,
    run_load_config,
)

BUCKET = "customersupport-agent-code"
ZIP = b"PK\x05\x06" + b"\x00" * 18  # an empty zip: the content is not what is checked here
MANIFEST: dict[str, Any] = {
    "format": MANIFEST_FORMAT,
    "artifact": "CustomerSupport.zip",
    "sha256": hashlib.sha256(ZIP).hexdigest(),
    "sizeBytes": len(ZIP),
    "runtime": "PYTHON_3_13",
    "entryPoint": ["main.py"],
    "pythonTag": "cp313",
    "platform": "manylinux2014_aarch64",
    "withDependencies": True,
    "builtAt": "2026-01-01T00:00:00Z",
}


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def put_package(s3: Any, key: str, manifest: dict[str, Any] | bytes | None = MANIFEST, body: bytes = ZIP) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    if manifest is not None:
        raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        s3.put_object(Bucket=BUCKET, Key=key + ".manifest.json", Body=raw)


def test_a_package_is_completed_from_its_manifest(s3: Any) -> None:
    put_package(s3, "v2/CustomerSupport.zip")

    verified = verify_agent_artifact(s3, {"s3Bucket": BUCKET, "s3Key": "v2/CustomerSupport.zip"})

    assert verified == {
        "s3Bucket": BUCKET,
        "s3Key": "v2/CustomerSupport.zip",
        "sha256": MANIFEST["sha256"],
        "runtime": "PYTHON_3_13",
        "entryPoint": ["main.py"],
    }
    assert desired.code_artifact(verified) == {
        "codeConfiguration": {
            "code": {"s3": {"bucket": BUCKET, "prefix": "v2/CustomerSupport.zip"}},
            "runtime": "PYTHON_3_13",
            "entryPoint": ["main.py"],
        }
    }


def test_a_versioned_bucket_pins_the_verified_version(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    put_package(s3, "v2.zip")
    version = s3.head_object(Bucket=BUCKET, Key="v2.zip")["VersionId"]

    verified = verify_agent_artifact(s3, {"s3Bucket": BUCKET, "s3Key": "v2.zip"})

    assert verified["versionId"] == version
    assert desired.code_artifact(verified)["codeConfiguration"]["code"]["s3"]["versionId"] == version


def test_the_manifest_make_agent_package_writes_is_accepted(s3: Any, tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "main.py").write_text("print('agent')\n")
    out = tmp_path / "CustomerSupport.zip"
    assert agent_package.main(["--no-deps", "--agent-dir", str(agent), "--out", str(out)]) == 0
    put_package(s3, "built.zip", agent_package.manifest_path(out).read_bytes(), out.read_bytes())

    verified = verify_agent_artifact(s3, {"s3Bucket": BUCKET, "s3Key": "built.zip"})

    assert (verified["runtime"], verified["entryPoint"]) == (agent_package.TARGET_RUNTIME, [agent_package.ENTRY_POINT])


@pytest.mark.parametrize(
    ("manifest", "body", "expected"),
    [
        (None, ZIP, "has no manifest at s3://customersupport-agent-code/a.zip.manifest.json (NoSuchKey)"),
        (b"{not json", ZIP, "a.zip.manifest.json is not a JSON object"),
        (b"[]", ZIP, "a.zip.manifest.json is not a JSON object"),
        (b" " * 70_000, ZIP, "is larger than 65536 bytes"),
        ({**MANIFEST, "format": "other/1"}, ZIP, "format is 'other/1'"),
        ({**MANIFEST, "runtime": "PYTHON_2_7"}, ZIP, "runtime is 'PYTHON_2_7', expected one of PYTHON_3_10"),
        ({**MANIFEST, "entryPoint": "main.py"}, ZIP, "entryPoint is 'main.py'"),
        ({**MANIFEST, "entryPoint": []}, ZIP, "entryPoint is []"),
        ({**MANIFEST, "entryPoint": ["a", "b", "main.py"]}, ZIP, "entryPoint is ['a', 'b', 'main.py']"),
        ({**MANIFEST, "sha256": "abc"}, ZIP, "sha256 is 'abc'"),
        ({**MANIFEST, "platform": "manylinux_2_17_x86_64"}, ZIP, "platform is 'manylinux_2_17_x86_64'"),
        ({**MANIFEST, "pythonTag": "cp311"}, ZIP, "pythonTag is 'cp311', expected 'cp313' (PYTHON_3_13)"),
        (MANIFEST, b"another build", "sha256 of s3://customersupport-agent-code/a.zip is"),
    ],
)
def test_a_package_that_is_not_what_its_manifest_says_is_refused(
    s3: Any, manifest: dict[str, Any] | bytes | None, body: bytes, expected: str
) -> None:
    put_package(s3, "a.zip", manifest, body)

    with pytest.raises(InvalidAgentArtifact) as refused:
        verify_agent_artifact(s3, {"s3Bucket": BUCKET, "s3Key": "a.zip"})

    assert expected in str(refused.value)


def test_a_missing_zip_is_named(s3: Any) -> None:
    put_package(s3, "gone.zip")
    s3.delete_object(Bucket=BUCKET, Key="gone.zip")

    with pytest.raises(InvalidAgentArtifact, match=r"cannot read s3://customersupport-agent-code/gone.zip: NoSuchKey"):
        verify_agent_artifact(s3, {"s3Bucket": BUCKET, "s3Key": "gone.zip"})


def test_manifest_errors_name_the_manifest_object() -> None:
    with pytest.raises(InvalidAgentArtifact, match=r"^s3://b/k.manifest.json: runtime is None"):
        parse_manifest(json.dumps({**MANIFEST, "runtime": None}).encode(), "s3://b/k.manifest.json")


def test_load_config_completes_the_artifact_before_anything_changes(
    client: Any, seeded: Seeded, s3: Any, backend: Any
) -> None:
    put_package(s3, "v2.zip")
    config = run_load_config(client, {"agentArtifact": {"s3Bucket": BUCKET, "s3Key": "v2.zip"}}, s3=s3)

    artifact = present(config["settings"]["agentArtifact"])
    assert artifact["runtime"] == "PYTHON_3_13"
    assert artifact["entryPoint"] == ["main.py"]
    put_package(s3, "bad.zip", None)
    with pytest.raises(InvalidAgentArtifact, match=r"bad\.zip\.manifest\.json"):
        run_load_config(client, {"agentArtifact": {"s3Bucket": BUCKET, "s3Key": "bad.zip"}}, s3=s3)
    assert backend.agent_runtimes[seeded.runtime_id].agent_runtime_artifact == RUNTIME_ARTIFACT


def test_switch_runtime_sets_the_packages_runtime_and_entry_point(client: Any, seeded: Seeded, backend: Any) -> None:
    record = backend.agent_runtimes[seeded.runtime_id]
    record.agent_runtime_artifact = {
        "codeConfiguration": {
            **RUNTIME_ARTIFACT["codeConfiguration"],
            "runtime": "PYTHON_3_11",
            "entryPoint": ["opentelemetry-instrument", "main.py"],
        }
    }
    package = cast(
        AgentArtifact, {"s3Bucket": BUCKET, "s3Key": "v2.zip", "runtime": "PYTHON_3_13", "entryPoint": ["main.py"]}
    )

    result = switch_runtime.switch_runtime(
        client,
        seeded.runtime_id,
        cast(CognitoConfig, {"discoveryUrl": DISCOVERY_URL, "clientId": CLIENT_ID, "scopes": [SCOPE]}),
        "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL",
        "https://gw/mcp",
        "my-gateway-secure",
        package,
    )

    assert result["artifactChanged"] is True
    code = agentcore.get_runtime(client, seeded.runtime_id)["agentRuntimeArtifact"]["codeConfiguration"]
    assert code == {
        "code": {"s3": {"bucket": BUCKET, "prefix": "v2.zip"}},
        "runtime": "PYTHON_3_13",
        "entryPoint": ["main.py"],
    }
