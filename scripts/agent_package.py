"""Package the CustomerSupport agent as an AgentCore Runtime direct code deployment zip (CodeZip).

AgentCore runs the zip's entry point (``main.py`` at the zip root) on Linux ARM64 with the managed ``PYTHON_3_13``
runtime, so the dependencies are installed next to it as manylinux2014 aarch64 / CPython 3.13 wheels (never built
from source, never for the build host). The zip is reproducible: entries are sorted and carry a fixed timestamp and
normalised permissions, so the same agent code and the same resolved dependencies give the same sha256.

Usage (from the repository root)::

    .venv/bin/python -m scripts.agent_package [--out build/agent/CustomerSupport.zip] [--agent-dir agent] [--no-deps]

``--no-deps`` packs the agent code only (for tests; not deployable on its own). Exits 1 with a message on stderr if
a requirement has no aarch64/cp313 wheel, ``main.py`` is missing, or the zip is over AgentCore's size limits;
a failed build leaves no zip (and no manifest) at ``--out``.

Next to the zip goes ``<zip>.manifest.json``: what the package was built for (AgentCore ``runtime`` and
``entryPoint``, Python tag, platform) and the zip's sha256. Upload it next to the zip (same key + ``.manifest.json``):
the rollout switches a runtime to the package with exactly that runtime and entry point, and refuses a package
whose manifest is missing, invalid, or names another zip (sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

ENTRY_POINT = "main.py"
TARGET_PYTHON = "3.13"
TARGET_PLATFORM = "manylinux2014_aarch64"
TARGET_ABI_TAG = "313"
TARGET_MACHINE = "aarch64"
ELF_MACHINE_AARCH64 = 183  # e_machine of an ARM64 ELF file (EM_AARCH64)
# What AgentCore must run the package with (CodeConfiguration.runtime / entryPoint), recorded in the manifest.
TARGET_RUNTIME = "PYTHON_3_13"
TARGET_PYTHON_TAG = f"cp{TARGET_ABI_TAG}"
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = "agentcore-codezip-manifest/1"

MB = 1_000_000  # AgentCore quotas are stated in MB; decimal megabytes are the stricter reading.
# AgentCore Runtime quotas (not adjustable): direct code deployment package 250 MB compressed, 750 MB uncompressed.
MAX_ZIP_MB = 250.0
MAX_UNZIPPED_MB = 750.0

DEFAULT_OUT = Path("build/agent/CustomerSupport.zip")
DEFAULT_AGENT_DIR = Path("agent")

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # earliest date a zip entry can carry
_UNIX = 3  # ZipInfo.create_system: the external attributes hold POSIX mode bits

# Agent code: directories and files never packaged.
_SKIP_DIRS = frozenset(
    {"__pycache__", "tests", "test", "node_modules", "venv", "build", "dist", "htmlcov"},
)
_SKIP_FILES = frozenset({"conftest.py", "requirements.txt"})
_TEST_FILE = re.compile(r"^(test_.*|.*_test)\.py$")
# Extension modules name the interpreter and machine they were built for: foo.cpython-313-aarch64-linux-gnu.so.
_EXTENSION_TAG = re.compile(r"\.cpython-(\d+)[a-z]*-([A-Za-z0-9_]+)-linux-gnu\.so$")
_NO_MATCHING_DIST = re.compile(r"No matching distribution found for (.+?)\s*$", re.MULTILINE)

# PEP 508 marker environment of the AgentCore PYTHON_3_13 runtime (pip evaluates markers for the build host only).
TARGET_MARKER_ENV: dict[str, str] = {
    "implementation_name": "cpython",
    "implementation_version": f"{TARGET_PYTHON}.0",
    "os_name": "posix",
    "platform_machine": TARGET_MACHINE,
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": f"{TARGET_PYTHON}.0",
    "python_version": TARGET_PYTHON,
    "sys_platform": "linux",
}


class PackageError(Exception):
    """The package cannot be built or would not be accepted by AgentCore."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    zip_bytes: int
    unzipped_bytes: int
    file_count: int
    sha256: str
    with_deps: bool
    manifest_path: Path


# --- agent code ------------------------------------------------------------------------------------------------------


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _skip_agent_file(name: str) -> bool:
    return (
        _is_hidden(name)
        or name in _SKIP_FILES
        or name.endswith((".pyc", ".pyo"))
        or name.upper().startswith("README")
        or _TEST_FILE.match(name) is not None
    )


def _skip_agent_dir(name: str) -> bool:
    return _is_hidden(name) or name in _SKIP_DIRS or name.endswith(".egg-info")


def _walk_files(root: Path, skip_dir: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """Every regular file under root (following file symlinks, not directory ones), pruning skipped dirs."""
    for dirpath, dirnames, filenames in os.walk(root):
        if skip_dir is not None:
            dirnames[:] = [d for d in dirnames if not skip_dir(d)]
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file():
                yield path


def collect_agent_files(agent_dir: Path) -> dict[str, Path]:
    """Map zip entry name -> source file for the agent's code.

    Top-level ``*.py`` files, plus every top-level directory that holds Python code (packages), with their data
    files; never tests, ``__pycache__``/``*.pyc``, READMEs, hidden files (``.env``) or ``requirements.txt``.
    """
    if not agent_dir.is_dir():
        raise PackageError(f"agent directory {agent_dir} does not exist")
    if not (agent_dir / ENTRY_POINT).is_file():
        raise PackageError(f"{ENTRY_POINT} is missing from the agent directory {agent_dir}: it must be at the zip root")
    files: dict[str, Path] = {}
    for entry in sorted(agent_dir.iterdir()):
        if entry.is_file() and entry.suffix == ".py" and not _skip_agent_file(entry.name):
            files[entry.name] = entry
        elif entry.is_dir() and not _skip_agent_dir(entry.name):
            package = {
                path.relative_to(agent_dir).as_posix(): path
                for path in _walk_files(entry, _skip_agent_dir)
                if not _skip_agent_file(path.name)
            }
            if any(name.endswith(".py") for name in package):
                files.update(package)
    return files


# --- dependencies ----------------------------------------------------------------------------------------------------


def pip_install_command(requirements: Path, target: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",  # .pyc for the build host's Python would be dead weight on 3.13
        "--no-warn-script-location",
        "--platform",
        TARGET_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        TARGET_PYTHON,
        "--only-binary=:all:",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]


def install_dependencies(requirements: Path, target: Path) -> None:
    """pip-install the requirements' aarch64/cp313 wheels into target; pip's output is shown only if it fails."""
    proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        pip_install_command(requirements, target),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        return
    output = proc.stdout.rstrip()
    missing = _NO_MATCHING_DIST.findall(output)
    if missing:
        names = ", ".join(dict.fromkeys(m.strip() for m in missing))
        reason = (
            f"no wheel for Linux aarch64 ({TARGET_PLATFORM}) / CPython {TARGET_PYTHON} satisfies requirement {names} "
            f"(from {requirements} or one of its dependencies); nothing is built from source: pin a version that "
            "ships such a wheel, or drop the requirement"
        )
    else:
        reason = f"pip install -r {requirements} failed (exit {proc.returncode})"
    raise PackageError(f"{reason}\n--- pip output ---\n{output}")


def _read_requirements_file(path: Path) -> list[Requirement]:
    """The plain requirement lines of a requirements file (options such as -r/-c/--index-url are not followed)."""
    requirements: list[Requirement] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement:
            continue  # a URL or path: pip resolved it; nothing to check against
    return requirements


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str
    requires: tuple[Requirement, ...]


def _installed_distributions(site: Path) -> dict[NormalizedName, _Dist]:
    dists: dict[NormalizedName, _Dist] = {}
    for metadata_file in sorted(site.glob("*.dist-info/METADATA")):
        with metadata_file.open("rb") as fh:
            metadata = BytesParser().parse(fh, headersonly=True)
        name = metadata.get("Name")
        if not name:
            continue
        requires: list[Requirement] = []
        for line in metadata.get_all("Requires-Dist") or []:
            try:
                requires.append(Requirement(str(line)))
            except InvalidRequirement:
                continue
        dists[canonicalize_name(str(name))] = _Dist(str(name), str(metadata.get("Version", "")), tuple(requires))
    return dists


def _marker_applies(marker: Marker | None, extra: str = "") -> bool:
    return marker is None or marker.evaluate({**TARGET_MARKER_ENV, "extra": extra})


def check_target_dependencies(requirements: Iterable[Requirement], site: Path) -> tuple[list[str], list[str]]:
    """Walk the requirements with the *target's* environment markers (Python 3.13, Linux aarch64).

    pip evaluates markers for the build host (issue pypa/pip#11664), so a dependency gated on
    ``python_version >= "3.13"`` or ``platform_machine == "aarch64"`` can be missing from the staging dir.
    Returns (problems: missing or wrong-version distributions the target needs, unneeded: installed distributions
    the target never imports, which are kept).
    """
    dists = _installed_distributions(site)
    problems: list[str] = []
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    reached: set[NormalizedName] = set()
    # Markers are evaluated when a requirement is queued (a dependency's may need its parent's extras).
    queue = [(req, "requirements.txt") for req in requirements if _marker_applies(req.marker)]
    while queue:
        req, parent = queue.pop(0)
        name = canonicalize_name(req.name)
        dist = dists.get(name)
        if dist is None:
            problems.append(f"{req} (required by {parent}) is not installed")
            continue
        if req.specifier and not _version_satisfies(dist.version, req):
            problems.append(f"{req} (required by {parent}) but {dist.name} {dist.version} is installed")
        extras = frozenset(canonicalize_name(e) for e in req.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        reached.add(name)
        for dep in dist.requires:
            if _marker_applies(dep.marker) or any(_marker_applies(dep.marker, extra) for extra in extras):
                queue.append((dep, f"{dist.name} {dist.version}"))
    unneeded = sorted(dists[name].name for name in dists.keys() - reached)
    return sorted(set(problems)), unneeded


def _version_satisfies(version: str, req: Requirement) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True


def prune_dependencies(site: Path) -> None:
    """Remove what never runs on AgentCore: bytecode caches and ``bin/`` console scripts (their shebangs name the
    build host's interpreter). Everything else, dist-info included, is kept."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        if cache.is_dir():
            shutil.rmtree(cache)
    for compiled in [*site.rglob("*.pyc"), *site.rglob("*.pyo")]:
        compiled.unlink()


def check_binaries(files: Mapping[str, Path]) -> None:
    """Fail on native code that cannot load on the target: non-ARM64 ELF files or extension modules for another
    Python/machine."""
    wrong: list[str] = []
    for arcname, path in sorted(files.items()):
        tag = _EXTENSION_TAG.search(arcname)
        if tag and (tag.group(1) != TARGET_ABI_TAG or tag.group(2) != TARGET_MACHINE):
            wrong.append(f"{arcname} (built for cpython-{tag.group(1)} {tag.group(2)})")
            continue
        with path.open("rb") as fh:
            header = fh.read(20)
        if len(header) == 20 and header[:4] == b"\x7fELF":
            machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
            if machine != ELF_MACHINE_AARCH64:
                wrong.append(f"{arcname} (ELF machine {machine}, not aarch64)")
    if wrong:
        listed = "\n  ".join(wrong[:20]) + ("\n  ..." if len(wrong) > 20 else "")
        raise PackageError(f"native code not built for Linux aarch64 / CPython {TARGET_PYTHON}:\n  {listed}")


# --- zip -------------------------------------------------------------------------------------------------------------


def _file_mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644


def _directories(names: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]) + "/")
    return dirs


def write_zip(files: Mapping[str, Path], out: Path) -> None:
    """Write a reproducible zip: sorted entries, fixed timestamps, 0644/0755 files and 0755 directories."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(_directories(files) | set(files)):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = _UNIX
            if name.endswith("/"):
                info.external_attr = ((stat.S_IFDIR | 0o755) << 16) | 0x10  # 0x10: MS-DOS directory flag
                zf.writestr(info, b"")
                continue
            src = files[name]
            info.external_attr = (stat.S_IFREG | _file_mode(src)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = src.stat().st_size
            with src.open("rb") as fh, zf.open(info, "w") as dst:
                shutil.copyfileobj(fh, dst, 1 << 20)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mb(n: int) -> str:
    return f"{n / MB:.2f} MB"


# --- manifest --------------------------------------------------------------------------------------------------------


def manifest_path(zip_path: Path) -> Path:
    """Where the manifest of a zip goes: next to it, named <zip>.manifest.json (the same rule for the S3 key)."""
    return zip_path.with_name(zip_path.name + MANIFEST_SUFFIX)


def build_manifest(zip_path: Path, sha256: str, with_deps: bool, built_at: datetime | None = None) -> dict[str, object]:
    """What the package was built for: the AgentCore runtime and entry point it needs, the wheels' Python tag and
    platform, and the sha256 that binds this manifest to exactly one zip."""
    when = (built_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "format": MANIFEST_FORMAT,
        "artifact": zip_path.name,
        "sha256": sha256,
        "sizeBytes": zip_path.stat().st_size,
        "runtime": TARGET_RUNTIME,
        "entryPoint": [ENTRY_POINT],
        "pythonTag": TARGET_PYTHON_TAG,
        "platform": TARGET_PLATFORM,
        "withDependencies": with_deps,
        "builtAt": when.isoformat().replace("+00:00", "Z"),
    }


def write_manifest(path: Path, manifest: dict[str, object]) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# --- build -----------------------------------------------------------------------------------------------------------


def _merge(agent_files: Mapping[str, Path], dep_files: Mapping[str, Path]) -> dict[str, Path]:
    agent_top = {name.split("/")[0] for name in agent_files}
    deps_top = {name.split("/")[0] for name in dep_files}
    clash = sorted(agent_top & deps_top)
    if clash:
        raise PackageError(
            f"agent code and its dependencies both provide {', '.join(clash)} at the zip root; rename the agent's "
            "module or package",
        )
    return {**dep_files, **agent_files}


def build(
    agent_dir: Path = DEFAULT_AGENT_DIR,
    out: Path = DEFAULT_OUT,
    *,
    with_deps: bool = True,
    max_zip_mb: float = MAX_ZIP_MB,
    max_unzipped_mb: float = MAX_UNZIPPED_MB,
    log: bool = True,
) -> BuildResult:
    """Build the zip at out (replacing it atomically) and its manifest next to it; on any failure neither is left."""
    manifest = manifest_path(out)
    out.unlink(missing_ok=True)  # a stale package must never pass for this build's output
    manifest.unlink(missing_ok=True)
    agent_files = collect_agent_files(agent_dir)
    requirements = agent_dir / "requirements.txt"
    if with_deps and not requirements.is_file():
        raise PackageError(f"{requirements} does not exist (use --no-deps for a code-only zip)")

    with tempfile.TemporaryDirectory(prefix="agent-package-") as tmp:
        files = dict(agent_files)
        if with_deps:
            site = Path(tmp, "site")
            if log:
                print(f"installing {requirements} for Linux aarch64 / CPython {TARGET_PYTHON} ...", flush=True)
            install_dependencies(requirements, site)
            problems, unneeded = check_target_dependencies(_read_requirements_file(requirements), site)
            if problems:
                raise PackageError(
                    "pip resolved environment markers for the build host, and the target (CPython "
                    f"{TARGET_PYTHON}, Linux aarch64) needs more: add these to {requirements}:\n  "
                    + "\n  ".join(problems),
                )
            if unneeded and log:
                print(f"note: kept {len(unneeded)} distribution(s) only the build host needs: {', '.join(unneeded)}")
            prune_dependencies(site)
            dep_files = {path.relative_to(site).as_posix(): path for path in _walk_files(site)}
            files = _merge(agent_files, dep_files)
        check_binaries(files)

        unzipped = sum(path.stat().st_size for path in files.values())
        if unzipped > max_unzipped_mb * MB:
            raise PackageError(
                f"uncompressed size {_mb(unzipped)} is over the AgentCore limit of {max_unzipped_mb:g} MB "
                "for direct code deployment",
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        try:
            write_zip(files, partial)
            zipped = partial.stat().st_size
            if zipped > max_zip_mb * MB:
                raise PackageError(
                    f"zip size {_mb(zipped)} is over the AgentCore limit of {max_zip_mb:g} MB "
                    "for direct code deployment",
                )
            with zipfile.ZipFile(partial) as zf:
                if ENTRY_POINT not in zf.namelist():
                    raise PackageError(f"{ENTRY_POINT} is not at the root of {out}")
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
        file_count = len(files)

    digest = _sha256(out)
    try:
        write_manifest(manifest, build_manifest(out, digest, with_deps))
    except OSError as exc:
        out.unlink(missing_ok=True)
        raise PackageError(f"cannot write {manifest}: {exc}") from None
    return BuildResult(out, zipped, unzipped, file_count, digest, with_deps, manifest)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.agent_package",
        description="Build the agent as an AgentCore Runtime direct code deployment zip (PYTHON_3_13, Linux ARM64).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default: {DEFAULT_OUT})")
    parser.add_argument("--agent-dir", type=Path, default=DEFAULT_AGENT_DIR, help="agent code with main.py")
    parser.add_argument("--no-deps", action="store_true", help="agent code only, no dependencies (not deployable)")
    parser.add_argument("--max-zip-mb", type=float, default=MAX_ZIP_MB, help=argparse.SUPPRESS)
    parser.add_argument("--max-unzipped-mb", type=float, default=MAX_UNZIPPED_MB, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = time.monotonic()
    try:
        result = build(
            args.agent_dir,
            args.out,
            with_deps=not args.no_deps,
            max_zip_mb=args.max_zip_mb,
            max_unzipped_mb=args.max_unzipped_mb,
        )
    except PackageError as exc:
        print(f"agent-package: error: {exc}", file=sys.stderr)
        return 1
    kind = "code + dependencies" if result.with_deps else "code only (--no-deps), not deployable"
    print(f"{result.path}  [{kind}, built in {time.monotonic() - started:.1f} s]")
    print(f"  compressed    {_mb(result.zip_bytes):>12}   (limit {args.max_zip_mb:g} MB)")
    print(f"  uncompressed  {_mb(result.unzipped_bytes):>12}   (limit {args.max_unzipped_mb:g} MB)")
    print(f"  files         {result.file_count:>12}")
    print(f"  sha256        {result.sha256}")
    print(f"  manifest      {result.manifest_path}  (runtime {TARGET_RUNTIME}, entryPoint [{ENTRY_POINT}])")
    print("upload both, the manifest under the zip's key + .manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
