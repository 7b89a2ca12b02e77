"""The runtime runs the artifact it is given: the record's CodeZip from S3, its runtime version and entry point.

Packages are built like `make agent-package` output (sandbox/codezip.py); the agent in them is a tiny HTTP app whose
answer names its build, so what the data plane serves shows which code runs.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.tags import Tag

from sandbox.agent_host import AgentProcessPool
from sandbox.code_artifacts import (
    RUNTIME_START_FAILURE,
    ArtifactRefused,
    CodeArtifacts,
    supported_tags,
    wheel_problems,
)
from sandbox.codezip import AGENTCORE_TARGET, CPYTHON311_X86_64, WheelTarget, build_codezip, upload_codezip
from sandbox.runtime_dataplane import RuntimeDataPlane
from tests.sandbox.helpers import ACCOUNT_ID, REGION, invoke_headers, runtime_record, signed

BUCKET = "agent-packages"
BUILD_AGENT = '''"""A minimal AgentCore HTTP agent that answers with its build name."""

import os

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from build_info import BUILD


async def ping(request):
    return JSONResponse({"status": "Healthy"})


async def invocations(request):
    return JSONResponse({"build": BUILD, "pid": os.getpid()})


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host=os.environ["HOST"], port=int(os.environ["PORT"]), log_level="warning")
'''

Package = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def s3(aws: None, boto_session: Any) -> Any:
    client = boto_session.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def package(tmp_path: Path, s3: Any) -> Package:
    """Build an agent whose answer is `build` as a CodeZip for `target`, upload it; returns the S3 location."""

    def make(build: str, target: WheelTarget = AGENTCORE_TARGET, **overlay: str) -> dict[str, str]:
        agent = tmp_path / f"agent-{build}"
        agent.mkdir()
        (agent / "main.py").write_text(BUILD_AGENT)
        (agent / "build_info.py").write_text(f"BUILD = {build!r}\n")
        (agent / "requirements.txt").write_text("starlette\nuvicorn\npydantic\n")  # pydantic-core: native
        zip_path = build_codezip(agent, tmp_path / f"{build}.zip", target=target, overlay=overlay)
        return upload_codezip(s3, zip_path, BUCKET, f"agents/{build}.zip")

    return make


@pytest.fixture
def code_artifacts(tmp_path: Path) -> Iterator[CodeArtifacts]:
    artifacts = CodeArtifacts(ACCOUNT_ID, REGION, tmp_path / "codezips")
    yield artifacts
    artifacts.close()


@pytest.fixture
def code_agents(tmp_path: Path, code_artifacts: CodeArtifacts) -> Iterator[AgentProcessPool]:
    with AgentProcessPool(
        code_source=code_artifacts.resolve, startup_timeout=20.0, log_dir=tmp_path / "agents"
    ) as pool:
        yield pool


@pytest.fixture
def plane(aws: None, code_agents: AgentProcessPool) -> Iterator[RuntimeDataPlane]:
    with RuntimeDataPlane(ACCOUNT_ID, REGION, code_agents) as dataplane:
        yield dataplane


def code_configuration(location: dict[str, str], runtime: str = "PYTHON_3_13", *entry: str) -> dict[str, Any]:
    return {
        "codeConfiguration": {
            "code": {"s3": {"bucket": location["s3Bucket"], "prefix": location["s3Key"]}},
            "runtime": runtime,
            "entryPoint": list(entry or ("main.py",)),
        }
    }


@pytest.fixture
def runtime_on(control: Any) -> Callable[..., dict[str, Any]]:
    def create(name: str, artifact: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = control.create_agent_runtime(
            agentRuntimeName=name,
            agentRuntimeArtifact=artifact,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreRuntimeRole",
            networkConfiguration={"networkMode": "PUBLIC"},
        )
        control.get_agent_runtime(agentRuntimeId=response["agentRuntimeId"])  # CREATING -> READY
        return response

    return create


def invoke(http: httpx.Client, plane: RuntimeDataPlane, runtime: dict[str, Any]) -> httpx.Response:
    """A SigV4 call (the runtime has no authorizer) with the process's own credentials."""
    url = plane.invocation_url(runtime["agentRuntimeArn"])
    return http.post(url, headers=signed(url, invoke_headers(), b"{}"), content=b"{}")


def test_the_runtime_serves_its_records_package_and_a_code_switch_serves_the_new_one(
    http: httpx.Client, plane: RuntimeDataPlane, runtime_on: Callable[..., dict[str, Any]], package: Package
) -> None:
    runtime = runtime_on("SwitchedAgent", code_configuration(package("v1")))

    first = invoke(http, plane, runtime)
    runtime_record(runtime["agentRuntimeId"]).agent_runtime_artifact = code_configuration(package("v2"))
    second = invoke(http, plane, runtime)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert first.json()["build"] == "v1"
    assert second.json()["build"] == "v2"
    assert second.json()["pid"] != first.json()["pid"]  # the new code runs in a new process


def test_a_cp311_x86_64_package_is_refused_like_aws_does(
    http: httpx.Client,
    plane: RuntimeDataPlane,
    code_agents: AgentProcessPool,
    runtime_on: Callable[..., dict[str, Any]],
    package: Package,
) -> None:
    runtime = runtime_on("X86Agent", code_configuration(package("x86", CPYTHON311_X86_64)))

    response = invoke(http, plane, runtime)

    assert response.status_code == 424
    assert response.json() == {"__type": "RuntimeClientError", "message": RUNTIME_START_FAILURE}
    log = code_agents.logs(runtime["agentRuntimeId"])
    assert "cannot start on PYTHON_3_13" in log
    assert "pydantic_core-" in log  # the native dependency, named
    assert "built for cp311-cp311-manylinux_2_17_x86_64" in log
    assert code_agents.running() == {}


def test_a_cp313_package_does_not_start_on_a_python_3_11_runtime(
    http: httpx.Client,
    plane: RuntimeDataPlane,
    code_agents: AgentProcessPool,
    runtime_on: Callable[..., dict[str, Any]],
    package: Package,
) -> None:
    location = package("cp313")
    old_runtime = runtime_on("Py311Agent", code_configuration(location, "PYTHON_3_11"))
    right_runtime = runtime_on("Py313Agent", code_configuration(location, "PYTHON_3_13"))

    assert invoke(http, plane, old_runtime).status_code == 424
    assert "not loadable by PYTHON_3_11" in code_agents.logs(old_runtime["agentRuntimeId"])
    assert invoke(http, plane, right_runtime).json()["build"] == "cp313"


@pytest.mark.parametrize(
    ("entry_point", "logged"),
    [
        (("opentelemetry-instrument", "main.py"), "opentelemetry-instrument: command not found"),
        (("app.py",), "can't open file 'app.py'"),
        (("starlette/__init__.py",), "can't open file"),  # a dependency's file is not the package's code
    ],
)
def test_the_entry_point_must_be_the_packages_own(
    http: httpx.Client,
    plane: RuntimeDataPlane,
    code_agents: AgentProcessPool,
    runtime_on: Callable[..., dict[str, Any]],
    package: Package,
    entry_point: tuple[str, ...],
    logged: str,
) -> None:
    location = package("entry", **{"starlette/__init__.py": "raise SystemExit('a bundled dependency ran')\n"})
    runtime = runtime_on("EntryAgent", code_configuration(location, "PYTHON_3_13", *entry_point))

    assert invoke(http, plane, runtime).status_code == 424
    assert logged in code_agents.logs(runtime["agentRuntimeId"])


def test_a_bundled_launcher_runs_the_script(
    http: httpx.Client, plane: RuntimeDataPlane, runtime_on: Callable[..., dict[str, Any]], package: Package
) -> None:
    otel = "aws_opentelemetry_distro-0.10.0.dist-info"
    location = package(
        "otel",
        **{
            f"{otel}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            f"{otel}/entry_points.txt": "[console_scripts]\nopentelemetry-instrument = x.auto:run\n",
        },
    )
    launched = code_configuration(location, "PYTHON_3_13", "opentelemetry-instrument", "main.py")
    runtime = runtime_on("OtelAgent", launched)

    assert invoke(http, plane, runtime).json()["build"] == "otel"


def test_a_missing_object_does_not_start(
    http: httpx.Client, plane: RuntimeDataPlane, code_agents: AgentProcessPool, runtime_on: Callable[..., Any]
) -> None:
    runtime = runtime_on("GoneAgent", code_configuration({"s3Bucket": BUCKET, "s3Key": "agents/never-uploaded.zip"}))

    assert invoke(http, plane, runtime).status_code == 424
    assert "cannot read the code at s3://agent-packages/agents/never-uploaded.zip" in code_agents.logs(
        runtime["agentRuntimeId"]
    )


def test_zip_entries_may_not_escape_the_code_directory(tmp_path: Path, s3: Any, code_artifacts: CodeArtifacts) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("main.py", "print('hi')\n")
        archive.writestr("../outside.py", "print('escaped')\n")
    s3.put_object(Bucket=BUCKET, Key="agents/evil.zip", Body=evil.read_bytes())

    with pytest.raises(ArtifactRefused, match="escapes the code directory"):
        code_artifacts.resolve(code_configuration({"s3Bucket": BUCKET, "s3Key": "agents/evil.zip"}))
    assert not (tmp_path / "codezips" / "outside.py").exists()


@pytest.mark.parametrize(
    ("tag", "loadable"),
    [
        ("py3-none-any", True),
        ("cp313-cp313-manylinux_2_17_aarch64", True),
        ("cp313-cp313-manylinux2014_aarch64", True),
        ("cp313-cp313-manylinux_2_34_aarch64", True),
        ("cp39-abi3-manylinux_2_17_aarch64", True),
        ("cp313-cp313-manylinux_2_39_aarch64", False),  # needs a newer glibc
        ("cp313-cp313-musllinux_1_2_aarch64", False),
        ("cp313-cp313-manylinux_2_17_x86_64", False),
        ("cp312-cp312-manylinux_2_17_aarch64", False),
        ("cp311-cp311-manylinux_2_17_x86_64", False),
    ],
)
def test_wheel_tags_are_checked_against_the_runtime(tmp_path: Path, tag: str, loadable: bool) -> None:
    info = tmp_path / "dep-1.0.dist-info"
    info.mkdir()
    (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nTag: {tag}\n")

    assert (wheel_problems(tmp_path, "PYTHON_3_13") == []) is loadable
    assert Tag("py3", "none", "any") in supported_tags("PYTHON_3_11")


def test_the_seed_package_is_shaped_like_make_agent_package_output(tmp_path: Path) -> None:
    agent_dir = Path(__file__).resolve().parents[2] / "agent"
    zip_path = build_codezip(agent_dir, tmp_path / "code.zip")

    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    manifest = json.loads(zip_path.with_name("code.zip.manifest.json").read_text())
    assert "main.py" in names
    assert any(name.startswith("strands_agents-") and name.endswith(".dist-info/WHEEL") for name in names)
    assert (manifest["runtime"], manifest["entryPoint"], manifest["pythonTag"]) == ("PYTHON_3_13", ["main.py"], "cp313")
    assert not any(name.startswith(("tests/", "sandbox/")) for name in names)
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unzipped)
    assert wheel_problems(unzipped, "PYTHON_3_13") == []
    assert wheel_problems(unzipped, "PYTHON_3_12")  # cp313 native wheels: not for another Python
