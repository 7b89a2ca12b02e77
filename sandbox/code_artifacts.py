"""AgentCore Runtime direct code deployment as the sandbox runs it: the record's CodeZip, never the checkout's agent/.

For a runtime whose record has ``agentRuntimeArtifact.codeConfiguration``, the agent process runs the code of the S3
object the record names (``bucket``, ``prefix``, ``versionId``), read from moto's S3 and unzipped into a directory of
its own, with the record's ``runtime`` and ``entryPoint``:

- AgentCore runs the zip on Linux ARM64 with the managed Python of ``runtime`` and installs nothing: every bundled
  wheel must have been built for that interpreter. Each bundled ``*.dist-info/WHEEL`` must carry a tag CPython 3.x on
  manylinux aarch64 accepts (``packaging.tags``, glibc up to 2.34 assumed), and native extension modules must be
  named for that interpreter and machine; otherwise the runtime does not start.
- How AWS reports that (direct code deploy, issue threads aws/bedrock-agentcore-sdk-python#519,
  aws/bedrock-agentcore-starter-toolkit#356, awslabs/fullstack-solution-template-for-agentcore#93): UpdateAgentRuntime
  succeeds and the runtime is READY - AgentCore does not inspect the zip - but the session's container never becomes
  healthy, InvokeAgentRuntime answers 424 ``RuntimeClientError`` "Runtime initialization time exceeded..." and the
  traceback is in the runtime's log group. The sandbox does the same: the reason goes to the runtime's agent log, the
  data plane answers 424 with AWS's message (``RUNTIME_START_FAILURE``).
- The bundled wheels cannot run here (aarch64, another Python). The zip's own top-level modules (everything at the
  root that no bundled distribution's RECORD/top_level.txt claims) run from the unzipped directory, first on
  sys.path; dependencies are imported from the sandbox's own environment, once their tags passed the check above.
  The agent runs on the sandbox's interpreter, not on the record's Python version.
- ``entryPoint``: ``[script]`` runs ``python script``. A launcher (``["opentelemetry-instrument", "main.py"]``) must be
  a console script of a bundled distribution, or the runtime does not start (on AWS the command does not exist); when
  it is bundled, the sandbox runs the script without it (instrumentation is not modelled).
- Container runtimes (``containerConfiguration``) have no code the sandbox can run: they do not start.

The S3 object is read the way the service reads it (no caller IAM here: AgentCore checked the caller's s3:GetObject
when the record was written, see sandbox/iam/requests.py).
"""

from __future__ import annotations

import email.parser
import hashlib
import io
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag

# What InvokeAgentRuntime answers when the session's agent never became healthy (AWS's wording).
RUNTIME_START_FAILURE = "Runtime initialization time exceeded. Please make sure that initialization completes in 30s."
PYTHON_RUNTIME = re.compile(r"PYTHON_3_(\d+)")
MAX_GLIBC_MINOR = 34  # Amazon Linux 2023 (assumed for AgentCore's managed runtimes; unconfirmed)
_EXTENSION = re.compile(r"\.cpython-(\d+)[a-z]*-([A-Za-z0-9_]+)-linux-gnu\.so$")
_NOT_CODE = ("bin",)  # console scripts of dependencies (shebangs of the build host)


class ArtifactRefused(Exception):
    """The runtime cannot start this artifact; the message is what the runtime's log would say."""


@dataclass(frozen=True)
class AgentCode:
    """What an agent process runs: `argv` (script first) inside `code_dir`; `identity` decides process reuse."""

    identity: str
    code_dir: Path
    argv: tuple[str, ...]

    @property
    def script(self) -> Path:
        return self.code_dir / self.argv[0]


@cache
def supported_tags(runtime: str) -> frozenset[Tag]:
    """Every wheel tag the managed Python of `runtime` (PYTHON_3_x, Linux aarch64) accepts."""
    match = PYTHON_RUNTIME.fullmatch(runtime)
    if match is None:
        return frozenset()
    version = (3, int(match.group(1)))
    platforms = [f"manylinux_2_{minor}_aarch64" for minor in range(MAX_GLIBC_MINOR, 16, -1)]
    platforms += ["manylinux2014_aarch64", "linux_aarch64"]
    interpreter = f"cp3{version[1]}"
    return frozenset(
        [
            *cpython_tags(version, platforms=platforms),
            *compatible_tags(version, interpreter=interpreter, platforms=platforms),
        ]
    )


def _wheel_tags(text: str) -> list[str]:
    message = email.parser.Parser().parsestr(text, headersonly=True)
    return [str(tag).strip() for tag in message.get_all("Tag") or []]


def wheel_problems(root: Path, runtime: str) -> list[str]:
    """Why the bundled distributions under `root` cannot load on `runtime` (empty: they can)."""
    accepted = supported_tags(runtime)
    problems: list[str] = []
    for wheel_file in sorted(root.glob("*.dist-info/WHEEL")):
        dist = wheel_file.parent.name.removesuffix(".dist-info")
        tags = _wheel_tags(wheel_file.read_text(errors="replace"))
        if not tags:
            problems.append(f"{dist}: WHEEL names no Tag")
            continue
        try:
            compatible = any(parsed in accepted for tag in tags for parsed in parse_tag(tag))
        except ValueError:
            compatible = False
        if not compatible:
            problems.append(f"{dist}: built for {', '.join(tags)}, not loadable by {runtime} on Linux aarch64")
    match = PYTHON_RUNTIME.fullmatch(runtime)
    wanted = f"3{match.group(1)}" if match else ""
    for path in sorted(root.rglob("*.so")):
        tag = _EXTENSION.search(path.name)
        if tag and (tag.group(1) != wanted or tag.group(2) != "aarch64"):
            relative = path.relative_to(root).as_posix()
            problems.append(f"{relative}: extension module for cpython-{tag.group(1)} {tag.group(2)}, not {runtime}")
    return problems


def dependency_roots(root: Path) -> set[str]:
    """Top-level names the bundled distributions own (their RECORD and top_level.txt), plus their metadata dirs."""
    owned = {p.name for p in root.iterdir() if p.name.endswith((".dist-info", ".data"))} | set(_NOT_CODE)
    for info in root.glob("*.dist-info"):
        record = info / "RECORD"
        if record.is_file():
            for line in record.read_text(errors="replace").splitlines():
                first = PurePosixPath(line.split(",", 1)[0]).parts[:1]
                if first and first[0] not in ("..", "/"):
                    owned.add(first[0])
        top_level = info / "top_level.txt"
        if top_level.is_file():
            for name in top_level.read_text().splitlines():
                if name.strip():
                    owned.update({name.strip(), f"{name.strip()}.py"})
    return owned


def console_scripts(root: Path) -> set[str]:
    scripts: set[str] = set()
    for entry_points in root.glob("*.dist-info/entry_points.txt"):
        section = ""
        for line in entry_points.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]").strip()
            elif section == "console_scripts" and "=" in line:
                scripts.add(line.split("=", 1)[0].strip())
    return scripts


def _extract(data: bytes, target: Path) -> None:
    """Unzip with the checks a service applies to untrusted archives: no absolute paths, no '..', no links."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise ArtifactRefused(f"zip entry {info.filename!r} escapes the code directory")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise ArtifactRefused(f"zip entry {info.filename!r} is a symbolic link")
        archive.extractall(target)


class CodeArtifacts:
    """Resolves a runtime record's agentRuntimeArtifact to runnable AgentCode, unzipped once per object version."""

    def __init__(self, account_id: str, region: str, work_dir: Path | None = None) -> None:
        self.account_id = account_id
        self.region = region
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="sandbox-codezips-")) if work_dir is None else Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._resolved: dict[str, AgentCode] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _read(self, bucket: str, key: str, version_id: str | None) -> bytes:
        backend = s3_backends[self.account_id][get_partition(self.region)]
        where = f"s3://{bucket}/{key}" + (f" (version {version_id})" if version_id else "")
        try:
            stored = backend.get_object(bucket, key, version_id=version_id)
        except Exception as exc:  # moto's MissingBucket / MissingKey / MissingVersion
            raise ArtifactRefused(f"cannot read the code at {where}: {type(exc).__name__}") from None
        if stored is None:
            raise ArtifactRefused(f"cannot read the code at {where}: NoSuchKey")
        return bytes(stored.value)

    def resolve(self, artifact: Mapping[str, Any] | None) -> AgentCode:
        code = (artifact or {}).get("codeConfiguration")
        if not isinstance(code, Mapping):
            raise ArtifactRefused("the runtime has no codeConfiguration (container images are not run by the sandbox)")
        s3 = (code.get("code") or {}).get("s3") or {}
        bucket, key, version_id = s3.get("bucket"), s3.get("prefix"), s3.get("versionId")
        runtime = str(code.get("runtime") or "")
        entry_point = tuple(str(part) for part in code.get("entryPoint") or ())
        if not bucket or not key:
            raise ArtifactRefused("the runtime's codeConfiguration names no S3 object")
        data = self._read(str(bucket), str(key), str(version_id) if version_id else None)
        digest = hashlib.sha256(data).hexdigest()
        identity = f"{digest}|{runtime}|{'|'.join(entry_point)}"
        with self._lock:
            if identity in self._resolved:
                return self._resolved[identity]
            resolved = self._unpack(data, digest, runtime, entry_point, f"s3://{bucket}/{key}")
            self._resolved[identity] = resolved
            return resolved

    def _unpack(self, data: bytes, digest: str, runtime: str, entry_point: tuple[str, ...], where: str) -> AgentCode:
        if PYTHON_RUNTIME.fullmatch(runtime) is None:
            raise ArtifactRefused(f"runtime {runtime or '(none)'}: the sandbox runs Python runtimes only")
        target = Path(tempfile.mkdtemp(prefix=f"{digest[:12]}-", dir=self.work_dir))
        unzipped, code_dir = target / "package", target / "code"
        try:
            _extract(data, unzipped)
        except (zipfile.BadZipFile, ArtifactRefused) as exc:
            raise ArtifactRefused(f"{where} is not a usable zip: {exc}") from None
        problems = wheel_problems(unzipped, runtime)
        if problems:
            raise ArtifactRefused(
                f"{where} cannot start on {runtime}: its bundled packages were built for another Python or "
                "machine:\n  " + "\n  ".join(problems)
            )
        script = entry_point[-1] if entry_point else ""
        launcher = entry_point[0] if len(entry_point) > 1 else None
        if launcher is not None and launcher not in console_scripts(unzipped):
            raise ArtifactRefused(f"entryPoint {list(entry_point)}: {launcher}: command not found in {where}")
        owned = dependency_roots(unzipped)
        code_dir.mkdir()
        for entry in unzipped.iterdir():
            if entry.name not in owned:
                entry.rename(code_dir / entry.name)
        script_path = PurePosixPath(script)
        if (
            not script.endswith(".py")
            or script_path.is_absolute()
            or ".." in script_path.parts
            or not (code_dir / script).is_file()
        ):
            raise ArtifactRefused(
                f"entryPoint {list(entry_point)}: python: can't open file {script!r}: not a Python file of {where}"
            )
        return AgentCode(identity=f"{digest}|{runtime}|{'|'.join(entry_point)}", code_dir=code_dir, argv=(script,))
