"""Switching the runtime to a new agent CodeZip: the package's manifest decides the runtime version and entry point,
a package that is not what its manifest says is refused before anything changes, and the runtime then serves the
new package's own code."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from rollout_core.desired import runtime_update_request

from sandbox.callers import ask
from sandbox.codezip import CPYTHON311_X86_64, build_codezip, upload_codezip
from sandbox.core import REPO_ROOT, Sandbox
from sandbox.seed import CODE_BUCKET

AGENT_DIR = REPO_ROOT / "agent"
V2_MARKER = "[CustomerSupport v2] "
WARRANTY_TOOL = "WarrantyCheck___check_warranty"


def agent_v2_main() -> str:
    """agent/main.py, except that every answer starts with V2_MARKER (so it shows which build answered)."""
    lines = (AGENT_DIR / "main.py").read_text().splitlines(keepends=True)
    anchors = [i for i, line in enumerate(lines) if line.startswith('    log.info("Invocation from caller=')]
    assert len(anchors) == 1, "agent/main.py changed: pick another line to patch"
    lines.insert(anchors[0] + 1, f"    yield {V2_MARKER!r}\n")
    return "".join(lines)


def publish(sandbox: Sandbox, tmp_path: Path, key: str, with_manifest: bool = True, **build: Any) -> dict[str, str]:
    zip_path = build_codezip(AGENT_DIR, tmp_path / uuid.uuid4().hex / "CustomerSupport.zip", **build)
    return upload_codezip(sandbox.client("s3"), zip_path, CODE_BUCKET, key, with_manifest)


def set_code_configuration(sandbox: Sandbox, **changes: Any) -> None:
    """Change the seeded runtime's codeConfiguration outside the rollout (as its owner would), and wait for READY."""
    control = sandbox.client("bedrock-agentcore-control")
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    artifact = copy.deepcopy(runtime["agentRuntimeArtifact"])
    artifact["codeConfiguration"].update(changes)
    control.update_agent_runtime(**runtime_update_request(runtime, artifact=artifact))
    for _ in range(20):
        if control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)["status"] == "READY":
            return
    raise AssertionError("the runtime did not settle after the code change")


def code_configuration(sandbox: Sandbox) -> dict[str, Any]:
    control = sandbox.client("bedrock-agentcore-control")
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    code: dict[str, Any] = runtime["agentRuntimeArtifact"]["codeConfiguration"]
    return code


def test_code_switch_runs_the_package_with_the_runtime_and_entry_point_it_was_built_for(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # A runtime created the starter toolkit's way: Python 3.11 and the OpenTelemetry launcher.
    set_code_configuration(sandbox, runtime="PYTHON_3_11", entryPoint=["opentelemetry-instrument", "main.py"])
    v2_key = "CustomerSupport/v2/CustomerSupport.zip"
    artifact = publish(sandbox, tmp_path, v2_key, overlay={"main.py": agent_v2_main()})

    execution = sandbox.wait(sandbox.start_rollout({"agentArtifact": artifact}))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    code = code_configuration(sandbox)
    assert code["code"]["s3"]["bucket"] == CODE_BUCKET
    assert code["code"]["s3"]["prefix"] == artifact["s3Key"]
    assert (code["runtime"], code["entryPoint"]) == ("PYTHON_3_13", ["main.py"])  # from the package's manifest
    smoke = json.loads(execution["output"])["smoke"]
    assert smoke["warranty"]["answerExcerpt"].startswith(V2_MARKER.strip())
    token = sandbox.cognito.mint_token(sandbox.seeded.client_id, pool_id=sandbox.seeded.pool_id)
    status, text, tools = ask(sandbox, "Check the warranty for PROD-002", f"artifact-test-{uuid.uuid4()}", token)
    assert status == 200
    assert text.startswith(V2_MARKER)  # the new package's main.py answered, not the checkout's agent/
    assert tools == [WARRANTY_TOOL]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no manifest", "has no manifest at s3://customersupport-agent-code/bad/no-manifest.zip.manifest.json"),
        ("not JSON", "s3://customersupport-agent-code/bad/not-json.zip.manifest.json is not a JSON object"),
        ("another zip's manifest", "sha256 of s3://customersupport-agent-code/bad/other.zip is"),
        ("no zip", "cannot read s3://customersupport-agent-code/bad/no-zip.zip"),
        ("x86 package", "platform is 'manylinux_2_17_x86_64', expected a Linux aarch64 platform tag"),
    ],
)
def test_a_package_that_is_not_what_its_manifest_says_is_refused_before_any_change(
    sandbox: Sandbox, tmp_path: Path, case: str, expected: str
) -> None:
    s3 = sandbox.client("s3")
    if case == "no manifest":
        artifact = publish(sandbox, tmp_path, "bad/no-manifest.zip", with_manifest=False)
    elif case == "not JSON":
        artifact = publish(sandbox, tmp_path, "bad/not-json.zip")
        s3.put_object(Bucket=CODE_BUCKET, Key="bad/not-json.zip.manifest.json", Body=b"{not json")
    elif case == "another zip's manifest":
        artifact = publish(sandbox, tmp_path, "bad/other.zip")
        other = publish(sandbox, tmp_path, "bad/v2.zip", overlay={"main.py": agent_v2_main()})
        manifest = s3.get_object(Bucket=CODE_BUCKET, Key=other["s3Key"] + ".manifest.json")["Body"].read()
        s3.put_object(Bucket=CODE_BUCKET, Key="bad/other.zip.manifest.json", Body=manifest)
    elif case == "no zip":
        artifact = publish(sandbox, tmp_path, "bad/no-zip.zip")
        s3.delete_object(Bucket=CODE_BUCKET, Key="bad/no-zip.zip")
    else:  # an honest manifest of a package AgentCore cannot run (Linux ARM64 only)
        manifest = {"runtime": "PYTHON_3_11", "pythonTag": "cp311", "platform": "manylinux_2_17_x86_64"}
        artifact = publish(sandbox, tmp_path, "bad/x86.zip", target=CPYTHON311_X86_64, manifest=manifest)
    before = len(sandbox.behaviour.mutations)

    execution = sandbox.wait(sandbox.start_rollout({"agentArtifact": artifact}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidAgentArtifact"
    message = json.loads(execution["cause"])["errorMessage"]
    assert expected in message
    assert sandbox.behaviour.mutations[before:] == []
    assert code_configuration(sandbox)["code"]["s3"]["prefix"] == "CustomerSupport/code.zip"
