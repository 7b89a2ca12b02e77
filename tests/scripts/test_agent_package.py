"""scripts/agent_package.py: offline tests (code-only builds, pip mocked); the real dependency build is not run here."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from scripts import agent_package
from scripts.agent_package import ENTRY_POINT, PackageError, build, check_binaries, check_target_dependencies, main

AGENT_FILES = {
    "main.py": "from model.load import load_model\n",
    "helpers.py": "X = 1\n",
    "model/__init__.py": "",
    "model/load.py": "def load_model() -> None: ...\n",
    "model/prompts/system.txt": "You are helpful.\n",  # package data is kept
    "mcp_client/__init__.py": "",
    "mcp_client/client.py": "CLIENT = None\n",
    "memory/__init__.py": "",
    "memory/session.py": "SESSION = None\n",
    # never packaged:
    "README.md": "# agent\n",
    "requirements.txt": "strands-agents\n",
    ".env": "SECRET=1\n",
    "conftest.py": "",
    "test_main.py": "def test_x() -> None: ...\n",
    "model/__pycache__/load.cpython-311.pyc": "junk",
    "model/load.pyc": "junk",
    "model/tests/test_load.py": "def test_y() -> None: ...\n",
    "model/README.md": "model docs\n",
    "tests/test_agent.py": "def test_z() -> None: ...\n",
    "notes/todo.txt": "not a package\n",
    ".venv/lib/site.py": "",
}
EXPECTED_FILES = {
    "main.py",
    "helpers.py",
    "model/__init__.py",
    "model/load.py",
    "model/prompts/system.txt",
    "mcp_client/__init__.py",
    "mcp_client/client.py",
    "memory/__init__.py",
    "memory/session.py",
}


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    return _write_tree(tmp_path / "agent", AGENT_FILES)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_code_only(agent: Path, out: Path, *extra: str) -> int:
    return main(["--no-deps", "--agent-dir", str(agent), "--out", str(out), *extra])


def test_code_only_zip_has_entry_point_at_root_and_only_agent_code(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.chmod(agent_dir / "helpers.py", 0o775)
    out = tmp_path / "out" / "CustomerSupport.zip"

    assert _build_code_only(agent_dir, out) == 0

    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        names = zf.namelist()
        assert zf.read(ENTRY_POINT) == b"from model.load import load_model\n"
    files = {n for n in names if not n.endswith("/")}
    assert files == EXPECTED_FILES
    assert {n for n in names if n.endswith("/")} == {"model/", "model/prompts/", "mcp_client/", "memory/"}
    assert names == sorted(names)
    assert not any("__pycache__" in n or n.endswith(".pyc") or "tests/" in n for n in names)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = info.external_attr >> 16
        if info.is_dir():
            assert stat.S_IMODE(mode) == 0o755
        else:
            assert stat.S_ISREG(mode)
            assert stat.S_IMODE(mode) == (0o755 if info.filename == "helpers.py" else 0o644)

    printed = capsys.readouterr().out
    assert str(out) in printed
    assert "compressed" in printed
    assert "uncompressed" in printed
    assert re.search(rf"files\s+{len(EXPECTED_FILES)}\n", printed)
    assert _sha256(out) in printed


def test_same_inputs_give_the_same_sha256(agent_dir: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.zip"
    second = tmp_path / "second.zip"
    assert _build_code_only(agent_dir, first) == 0

    # Same content elsewhere, with other timestamps and creation order: the zip must not change.
    copy = tmp_path / "elsewhere" / "agent"
    shutil.copytree(agent_dir, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    assert _build_code_only(copy, second) == 0

    assert _sha256(first) == _sha256(second)

    (copy / "model" / "load.py").write_text("def load_model() -> int: ...\n")
    assert _build_code_only(copy, second) == 0
    assert _sha256(first) != _sha256(second)


def test_missing_main_py_fails_naming_it(agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (agent_dir / "main.py").unlink()
    out = tmp_path / "CustomerSupport.zip"
    out.write_bytes(b"stale package from an earlier build")

    assert _build_code_only(agent_dir, out) == 1

    assert "main.py is missing" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("limit_flag", "message"),
    [("--max-zip-mb", "zip size"), ("--max-unzipped-mb", "uncompressed size")],
)
def test_size_limits_fail_the_build(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], limit_flag: str, message: str
) -> None:
    out = tmp_path / "CustomerSupport.zip"

    assert _build_code_only(agent_dir, out, limit_flag, "0.000001") == 1

    err = capsys.readouterr().err
    assert message in err
    assert "over the AgentCore limit of 1e-06 MB" in err
    assert not out.exists()
    assert not list(tmp_path.glob("*.partial"))


def test_default_limits_are_agentcores() -> None:
    assert agent_package.MAX_ZIP_MB == 250
    assert agent_package.MAX_UNZIPPED_MB == 750


def test_pip_targets_aarch64_cp313_wheels_only(tmp_path: Path) -> None:
    cmd = agent_package.pip_install_command(tmp_path / "requirements.txt", tmp_path / "site")
    joined = " ".join(cmd)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--implementation cp" in joined
    assert "--python-version 3.13" in joined
    assert "--only-binary=:all:" in cmd
    assert f"--target {tmp_path / 'site'}" in joined


def test_requirement_without_aarch64_wheel_is_named(
    agent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_output = (
        "Collecting sourceonly-lib>=1.0 (from -r agent/requirements.txt (line 1))\n"
        "ERROR: Could not find a version that satisfies the requirement sourceonly-lib>=1.0 (from versions: none)\n"
        "ERROR: No matching distribution found for sourceonly-lib>=1.0\n"
    )

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, stdout=pip_output)

    monkeypatch.setattr(agent_package.subprocess, "run", fake_run)
    out = tmp_path / "CustomerSupport.zip"

    assert main(["--agent-dir", str(agent_dir), "--out", str(out)]) == 1

    err = capsys.readouterr().err
    assert "satisfies requirement sourceonly-lib>=1.0" in err
    assert "aarch64" in err
    assert "--- pip output ---" in err
    assert not out.exists()


def _fake_dist(site: Path, name: str, version: str, *requires: str) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {req}" for req in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n\nLong description.\n")


def test_dependencies_are_checked_with_the_targets_markers(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _fake_dist(
        site,
        "top",
        "1.0",
        'arm-only; platform_machine == "aarch64"',  # pip on an x86_64 host skips it
        'backport; python_version < "3.12"',  # pip on a 3.11 host installs it
        "pinned>=2",
        'extra-dep; extra == "fast"',
        'win-only; sys_platform == "win32"',
    )
    _fake_dist(site, "backport", "1.0")
    _fake_dist(site, "pinned", "1.5")
    _fake_dist(site, "extra-dep", "1.0")

    problems, unneeded = check_target_dependencies([Requirement("top[fast]")], site)

    assert problems == [
        'arm-only; platform_machine == "aarch64" (required by top 1.0) is not installed',
        "pinned>=2 (required by top 1.0) but pinned 1.5 is installed",
    ]
    assert unneeded == ["backport"]


def test_native_code_for_another_machine_or_python_is_rejected(tmp_path: Path) -> None:
    elf_x86_64 = b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + (62).to_bytes(2, "little") + b"\x00" * 40
    elf_aarch64 = elf_x86_64[:18] + (183).to_bytes(2, "little") + elf_x86_64[20:]
    files = {
        "ok/_speed.cpython-313-aarch64-linux-gnu.so": elf_aarch64,
        "ok/_rust.abi3.so": elf_aarch64,
        "bad/libfoo.so.1": elf_x86_64,
        "bad/_old.cpython-311-aarch64-linux-gnu.so": elf_aarch64,
    }
    paths = {}
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths[name] = path

    check_binaries({k: v for k, v in paths.items() if k.startswith("ok/")})
    with pytest.raises(PackageError) as excinfo:
        check_binaries(paths)

    assert "bad/libfoo.so.1 (ELF machine 62, not aarch64)" in str(excinfo.value)
    assert "bad/_old.cpython-311-aarch64-linux-gnu.so (built for cpython-311 aarch64)" in str(excinfo.value)


def test_agent_module_clashing_with_a_dependency_fails(
    agent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_install(requirements: Path, target: Path) -> None:
        _fake_dist(target, "model", "1.0")
        _write_tree(target, {"model/__init__.py": "", "strands/__init__.py": ""})

    monkeypatch.setattr(agent_package, "install_dependencies", fake_install)
    (agent_dir / "requirements.txt").write_text("model\n")

    with pytest.raises(PackageError, match="both provide model at the zip root"):
        build(agent_dir, tmp_path / "CustomerSupport.zip", log=False)


def test_dependencies_are_merged_at_the_root_without_bytecode_or_scripts(
    agent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_install(requirements: Path, target: Path) -> None:
        _fake_dist(target, "strands-agents", "1.0")
        _write_tree(
            target,
            {
                "strands/__init__.py": "",
                "strands/__pycache__/__init__.cpython-311.pyc": "junk",
                "bin/strands": "#!/build/host/python\n",
            },
        )

    monkeypatch.setattr(agent_package, "install_dependencies", fake_install)
    (agent_dir / "requirements.txt").write_text("strands-agents  # the agent framework\n")

    result = build(agent_dir, tmp_path / "CustomerSupport.zip", log=False)

    with zipfile.ZipFile(result.path) as zf:
        files = {n for n in zf.namelist() if not n.endswith("/")}
    assert files == EXPECTED_FILES | {
        "strands/__init__.py",
        "strands_agents-1.0.dist-info/METADATA",
    }
    assert result.file_count == len(files)
    assert result.with_deps


def test_manifest_next_to_the_zip_records_what_the_package_was_built_for(agent_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "CustomerSupport.zip"

    assert _build_code_only(agent_dir, out) == 0

    manifest_file = out.with_name("CustomerSupport.zip.manifest.json")
    assert agent_package.manifest_path(out) == manifest_file
    manifest = json.loads(manifest_file.read_text())
    assert manifest == {
        "format": "agentcore-codezip-manifest/1",
        "artifact": "CustomerSupport.zip",
        "sha256": _sha256(out),
        "sizeBytes": out.stat().st_size,
        "runtime": "PYTHON_3_13",
        "entryPoint": ["main.py"],
        "pythonTag": "cp313",
        "platform": "manylinux2014_aarch64",
        "withDependencies": False,
        "builtAt": manifest["builtAt"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["builtAt"])


def test_failed_build_leaves_no_stale_manifest(agent_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "CustomerSupport.zip"
    assert _build_code_only(agent_dir, out) == 0
    assert agent_package.manifest_path(out).exists()

    (agent_dir / "main.py").unlink()
    assert _build_code_only(agent_dir, out) == 1

    assert not out.exists()
    assert not agent_package.manifest_path(out).exists()


# --- the real agent: nothing of the tests or the sandbox ships --------------------------------------------------------

REAL_AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
# Test and sandbox code: the offline model, the sandbox, test directories, pytest fixtures; by file and module name.
_TEST_OR_SANDBOX = re.compile(r"offline|sandbox|(^|/)tests?/|conftest|(^|/)test_[^/]*\.py$", re.IGNORECASE)
_TEST_OR_SANDBOX_ROOTS = ("sandbox", "tests", "conftest")
# Run inside the unzipped package, outside the sandbox: what the agent imports and which model it loads.
_OUTSIDE_THE_SANDBOX = """
import json, os, sys
import model.load
from model.load import load_model
loaded_at_import = sorted(m for m in sys.modules if "offline" in m or m.split(".")[0] in %r)
default = type(load_model()).__name__
os.environ["AGENT_MODEL_PROVIDER"] = "offline-deterministic"
try:
    asked = type(load_model()).__name__
except ValueError as refused:
    asked = f"ValueError: {refused}"
print(json.dumps({"loaded_at_import": loaded_at_import, "default": default, "offline": asked}))
"""


def _is_test_or_sandbox_module(name: str) -> bool:
    return "offline" in name.lower() or name.split(".")[0] in _TEST_OR_SANDBOX_ROOTS


def _imported_modules(source: str) -> set[str]:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return imported


def test_the_agent_package_holds_no_test_sandbox_or_offline_code(tmp_path: Path) -> None:
    result = build(REAL_AGENT_DIR, tmp_path / "CustomerSupport.zip", with_deps=False, log=False)

    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
        sources = {name: zf.read(name).decode() for name in names if name.endswith(".py")}
    assert {ENTRY_POINT, "model/load.py"} <= set(names)
    assert [name for name in names if _TEST_OR_SANDBOX.search(name)] == []
    # No shipped module imports test or sandbox code (load.py names the offline model only to import it on request).
    imports = {name: _imported_modules(source) for name, source in sources.items()}
    assert {name: sorted(filter(_is_test_or_sandbox_module, found)) for name, found in imports.items()} == {
        name: [] for name in sources
    }


def test_the_shipped_agent_loads_bedrock_and_cannot_reach_the_offline_model_outside_the_sandbox(
    tmp_path: Path,
) -> None:
    result = build(REAL_AGENT_DIR, tmp_path / "CustomerSupport.zip", with_deps=False, log=False)
    code = tmp_path / "code"
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(code)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(code),  # the package alone; dependencies from this interpreter's environment
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }

    script = _OUTSIDE_THE_SANDBOX % (_TEST_OR_SANDBOX_ROOTS,)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=code, env=env, capture_output=True, text=True, check=False
    )

    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["loaded_at_import"] == []
    assert seen["default"] == "BedrockModel"
    assert seen["offline"].startswith("ValueError: AGENT_MODEL_PROVIDER=offline-deterministic needs the module")
