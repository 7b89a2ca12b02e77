"""Agent CodeZips shaped like `make agent-package` output, built cheaply for the sandbox (no pip, no network).

`make agent-package` (scripts/agent_package.py) puts the agent code at the zip root, installs every dependency's
Linux ARM64 / CPython 3.13 wheel next to it (each with its ``*.dist-info``) and writes ``<zip>.manifest.json``. Those
wheels cannot run on this machine, and fetching them would tie every sandbox start to the network. This builder packs
the same agent code (the packager's own file selection and reproducible zip writer) and, for every distribution the
requirements need on the target (walked through the local environment's metadata with the target's markers), only
its ``*.dist-info``: METADATA, RECORD and a WHEEL whose tags are the ones the real wheel would carry (``py3-none-any``
for pure Python, ``<python tag>-<python tag>-<platform>`` for native code). The sandbox runtime checks those tags
against the runtime record and imports the dependencies' code from the local environment
(sandbox/code_artifacts.py). The manifest is the packager's.

Used by the seed (the tutorial's runtime code) and by tests that switch code; never part of a shipped artifact.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from scripts import agent_package

TARGET_PYTHON_TAG = agent_package.TARGET_PYTHON_TAG
TARGET_PLATFORM_TAGS = ("manylinux_2_17_aarch64", "manylinux2014_aarch64")  # what pip's aarch64 wheels carry


@dataclass(frozen=True)
class WheelTarget:
    """What the bundled wheels claim to be built for (the tags in each *.dist-info/WHEEL)."""

    python_tag: str = TARGET_PYTHON_TAG
    platforms: tuple[str, ...] = TARGET_PLATFORM_TAGS

    def tags(self, purelib: bool) -> list[str]:
        if purelib:
            return ["py3-none-any"]
        return [f"{self.python_tag}-{self.python_tag}-{platform}" for platform in self.platforms]


AGENTCORE_TARGET = WheelTarget()
CPYTHON311_X86_64 = WheelTarget("cp311", ("manylinux_2_17_x86_64", "manylinux2014_x86_64"))


@dataclass(frozen=True)
class Dist:
    name: str
    version: str
    purelib: bool
    top_level: tuple[str, ...] = ()  # what the real wheel puts at the zip root (its RECORD's first components)


def _requirements(path: Path) -> list[Requirement]:
    requirements: list[Requirement] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            try:
                requirements.append(Requirement(line))
            except InvalidRequirement:
                continue
    return requirements


def _purelib(dist: importlib.metadata.Distribution) -> bool:
    wheel = dist.read_text("WHEEL") or ""
    return "root-is-purelib: false" not in wheel.lower()


def _top_level(dist: importlib.metadata.Distribution) -> tuple[str, ...]:
    names = {Path(str(f)).parts[0] for f in dist.files or [] if Path(str(f)).parts}
    return tuple(sorted(n for n in names if n != ".." and not n.endswith((".dist-info", ".data")) and n != "bin"))


def dependency_dists(requirements: Path) -> list[Dist]:
    """Every installed distribution the requirements need on the target (markers evaluated for CPython 3.13 on Linux
    aarch64, as the packager does), from this environment's metadata; missing ones are skipped."""
    env = agent_package.TARGET_MARKER_ENV
    queue = [req for req in _requirements(requirements) if req.marker is None or req.marker.evaluate(env)]
    found: dict[str, Dist] = {}
    while queue:
        req = queue.pop()
        key = canonicalize_name(req.name)
        if key in found:
            continue
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[key] = Dist(dist.metadata["Name"], dist.version, _purelib(dist), _top_level(dist))
        for line in dist.requires or []:
            try:
                dep = Requirement(line)
            except InvalidRequirement:
                continue
            extras = [{**env, "extra": extra} for extra in req.extras] or [{**env, "extra": ""}]
            if dep.marker is None or any(dep.marker.evaluate(e) for e in extras):
                queue.append(dep)
    return sorted(found.values(), key=lambda d: canonicalize_name(d.name))


def _dist_info_files(dist: Dist, target: WheelTarget) -> dict[str, str]:
    info = f"{dist.name.replace('-', '_')}-{dist.version}.dist-info"
    tags = "".join(f"Tag: {tag}\n" for tag in target.tags(dist.purelib))
    files = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist.name}\nVersion: {dist.version}\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: sandbox-codezip\n"
            f"Root-Is-Purelib: {'true' if dist.purelib else 'false'}\n{tags}"
        ),
    }
    if dist.top_level:
        # Like pip's: the dependency owns these root entries (the sandbox then runs them from its own environment).
        files[f"{info}/top_level.txt"] = "".join(f"{name.removesuffix('.py')}\n" for name in dist.top_level)
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    return files


def build_codezip(
    agent_dir: Path,
    out: Path,
    *,
    target: WheelTarget = AGENTCORE_TARGET,
    overlay: Mapping[str, str] | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> Path:
    """Write `out` (+ `<out>.manifest.json`): the agent code of `agent_dir` with `overlay` files added or replaced
    (zip path -> text), stand-in dist-infos tagged for `target`, and the packager's manifest with `manifest`'s keys
    replacing its own (a package that lies about itself). Returns `out`."""
    files = agent_package.collect_agent_files(agent_dir)
    requirements = agent_dir / "requirements.txt"
    generated: dict[str, str] = {}
    if requirements.is_file():
        for dist in dependency_dists(requirements):
            generated.update(_dist_info_files(dist, target))
    generated.update(overlay or {})
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sandbox-codezip-") as tmp:
        for name, text in generated.items():
            path = Path(tmp, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            files[name] = path
        agent_package.write_zip(files, out)
    described = agent_package.build_manifest(out, hashlib.sha256(out.read_bytes()).hexdigest(), with_deps=True)
    described.update(manifest or {})
    agent_package.write_manifest(agent_package.manifest_path(out), dict(described))
    return out


def upload_codezip(s3: Any, zip_path: Path, bucket: str, key: str, with_manifest: bool = True) -> dict[str, str]:
    """Put the zip at s3://bucket/key and its manifest at key + .manifest.json; returns the agentArtifact input."""
    s3.put_object(Bucket=bucket, Key=key, Body=zip_path.read_bytes())
    if with_manifest:
        manifest = agent_package.manifest_path(zip_path)
        s3.put_object(Bucket=bucket, Key=key + agent_package.MANIFEST_SUFFIX, Body=manifest.read_bytes())
    return {"s3Bucket": bucket, "s3Key": key}
