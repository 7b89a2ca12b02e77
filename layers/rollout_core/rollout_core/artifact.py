"""The agent CodeZip an execution asks to switch to, verified against the manifest `make agent-package` writes.

A direct-code-deploy zip only runs on the AgentCore runtime version (and with the entry point) it was built for: its
wheels are CPython-version and Linux ARM64 specific, and AgentCore installs nothing. So the code switch takes the
runtime and entry point from the package itself - ``<key>.manifest.json`` next to the zip in S3 - instead of keeping
the runtime's old ones, and refuses, before anything changes, a package whose manifest is missing or invalid, names a
machine AgentCore does not run, or describes another zip (sha256).

In a versioned bucket the verified object version is pinned (``versionId``), so AgentCore deploys exactly the bytes
that were checked; in an unversioned one, an upload between this check and the update cannot be detected.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import TYPE_CHECKING

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from rollout_core.errors import InvalidAgentArtifact
from rollout_core.state import AgentArtifact, ArtifactRequest, Manifest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = "agentcore-codezip-manifest/1"
MAX_MANIFEST_BYTES = 64 * 1024
MAX_ZIP_BYTES = 250_000_000  # AgentCore's direct code deployment limit (compressed)
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PYTHON_RUNTIME = re.compile(r"PYTHON_3_(\d+)")
_ENTRY_POINT_PART = re.compile(r"[^\x00-\x1f]{1,128}")
_MISSING = ("NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404")


@cache
def managed_runtimes() -> tuple[str, ...]:
    """CodeConfiguration.runtime values of the current bedrock-agentcore-control model."""
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    shape = model.shape_for("AgentManagedRuntimeType")
    return tuple(str(value) for value in shape.metadata.get("enum", ()))


def manifest_key(key: str) -> str:
    return key + MANIFEST_SUFFIX


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def parse_manifest(raw: bytes, where: str) -> Manifest:
    """The manifest's runtime, entry point and sha256, after checking every field; `where` names it in errors."""
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict):
        raise InvalidAgentArtifact(f"{where} is not a JSON object (expected the manifest make agent-package writes)")

    def field(name: str, ok: bool, expected: str) -> None:
        if not ok:
            raise InvalidAgentArtifact(f"{where}: {name} is {manifest.get(name)!r}, expected {expected}")

    field("format", manifest.get("format") == MANIFEST_FORMAT, repr(MANIFEST_FORMAT))
    runtime = manifest.get("runtime")
    field("runtime", runtime in managed_runtimes(), f"one of {', '.join(managed_runtimes())}")
    entry_point = manifest.get("entryPoint")
    field(
        "entryPoint",
        isinstance(entry_point, list)
        and 1 <= len(entry_point) <= 2
        and all(isinstance(p, str) and _ENTRY_POINT_PART.fullmatch(p) for p in entry_point),
        "a list of 1-2 strings of 1-128 characters, like ['main.py']",
    )
    field("sha256", isinstance(manifest.get("sha256"), str) and bool(_SHA256.fullmatch(manifest["sha256"])), "64 hex")
    platform = manifest.get("platform")
    # AgentCore runs direct code deployments on Linux ARM64 only.
    field("platform", isinstance(platform, str) and platform.endswith("aarch64"), "a Linux aarch64 platform tag")
    python = _PYTHON_RUNTIME.fullmatch(str(runtime))
    if python is not None:
        field("pythonTag", manifest.get("pythonTag") == f"cp3{python.group(1)}", f"'cp3{python.group(1)}' ({runtime})")
    entry = [str(part) for part in entry_point or ()]
    return {"runtime": str(runtime), "entryPoint": entry, "sha256": manifest["sha256"]}


def _read_manifest(s3: S3Client, bucket: str, key: str) -> Manifest:
    where = f"s3://{bucket}/{manifest_key(key)}"
    try:
        response = s3.get_object(Bucket=bucket, Key=manifest_key(key))
        raw = response["Body"].read(MAX_MANIFEST_BYTES + 1)
    except ClientError as exc:
        code = _error_code(exc)
        if code in _MISSING:
            raise InvalidAgentArtifact(
                f"agentArtifact s3://{bucket}/{key} has no manifest at {where} ({code}): upload the manifest "
                f"make agent-package writes next to the zip, under the zip's key + {MANIFEST_SUFFIX}"
            ) from None
        raise InvalidAgentArtifact(f"cannot read {where}: {code}") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidAgentArtifact(f"{where} is larger than {MAX_MANIFEST_BYTES} bytes; it is not a package manifest")
    return parse_manifest(raw, where)


def _hash_zip(s3: S3Client, bucket: str, key: str) -> tuple[str, str | None]:
    """(sha256, version id or None) of the zip, streamed (it may be up to 250 MB)."""
    where = f"s3://{bucket}/{key}"
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        digest, size = hashlib.sha256(), 0
        for chunk in response["Body"].iter_chunks(_CHUNK):
            size += len(chunk)
            if size > MAX_ZIP_BYTES:
                raise InvalidAgentArtifact(
                    f"{where} is over AgentCore's {MAX_ZIP_BYTES} byte limit for direct code deployment"
                )
            digest.update(chunk)
    except ClientError as exc:
        raise InvalidAgentArtifact(f"cannot read {where}: {_error_code(exc)}") from None
    except BotoCoreError as exc:
        raise InvalidAgentArtifact(f"cannot read {where}: {type(exc).__name__}") from None
    version = response.get("VersionId")
    return digest.hexdigest(), (str(version) if version and version != "null" else None)


def verify_agent_artifact(s3: S3Client, artifact: ArtifactRequest) -> AgentArtifact:
    """The execution's {s3Bucket, s3Key}, verified and completed from its manifest: {s3Bucket, s3Key, versionId?,
    sha256, runtime, entryPoint}. Raises InvalidAgentArtifact naming the object."""
    bucket, key = artifact["s3Bucket"], artifact["s3Key"]
    manifest = _read_manifest(s3, bucket, key)
    digest, version = _hash_zip(s3, bucket, key)
    if digest != manifest["sha256"]:
        raise InvalidAgentArtifact(
            f"sha256 of s3://{bucket}/{key} is {digest}, but its manifest s3://{bucket}/{manifest_key(key)} was "
            f"written for a zip with sha256 {manifest['sha256']}: upload the zip and the manifest of the same build"
        )
    located: ArtifactRequest = {"s3Bucket": bucket, "s3Key": key}
    if version:
        return {**located, "versionId": version, **manifest}
    return {**located, **manifest}
