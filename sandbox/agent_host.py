"""Agent processes behind the sandbox's runtime data plane: one agent process per runtime configuration.

AgentCore runs a runtime's code with the environment variables of the runtime record; when the record changes (a
rollout injects the gateway URL, or switches the code), new sessions land on the new version. Here each runtime id
gets one local process, started with exactly that environment on a free loopback port, running the code the record's
artifact names (`code_source`, see sandbox/code_artifacts.py), and replaced when either changes. A pool made with a
fixed `agent_entry` runs that script for every runtime instead (a stand-in agent for tests of the data planes).
Output goes to a log file per process - the runtime's log group - so tests can scan what the agent wrote. Every
process also finds the sandbox's agent site on its path (AGENT_SITE_DIR: the offline model), never in its code.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from sandbox.code_artifacts import AgentCode, ArtifactRefused

logger = logging.getLogger(__name__)

# The agent imports strands, mcp and bedrock-agentcore before it answers /ping: seconds on an idle machine, far more
# on a loaded two-CPU one (seen past 30 s while tests ran in parallel). A harness bound, not an AgentCore limit.
DEFAULT_STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
LOG_TAIL_CHARS = 4000
# Modules the sandbox gives every agent process, after the agent's own code: the offline model (offline_model.py)
# that the agent's model.load imports when AGENT_MODEL_PROVIDER=offline-deterministic. Never part of an agent package.
AGENT_SITE_DIR = Path(__file__).resolve().parent / "agent_site"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class AgentStartError(RuntimeError):
    """The agent process exited or did not answer /ping in time; the message carries its output's tail."""


CodeSource = Callable[[Mapping[str, Any] | None], AgentCode]


@dataclass
class _AgentProcess:
    runtime_id: str
    env_key: tuple[tuple[str, str], ...]
    code: AgentCode
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class AgentProcessPool:
    """Starts, reuses and replaces agent processes keyed by runtime id and environment. Thread-safe."""

    def __init__(
        self,
        agent_entry: Path | None = None,
        base_env: dict[str, str] | None = None,
        python: str = sys.executable,
        host: str = "127.0.0.1",
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        log_dir: Path | None = None,
        env_transform: Callable[[dict[str, str]], dict[str, str]] | None = None,
        code_source: CodeSource | None = None,
    ) -> None:
        if (agent_entry is None) == (code_source is None):
            raise ValueError("give either agent_entry (a stand-in run for every runtime) or code_source")
        # A stand-in script run for every runtime, whatever its record says; None: run the record's artifact.
        self.agent_entry = Path(agent_entry).resolve() if agent_entry is not None else None
        self.code_source = code_source
        # Rewrites a runtime record's environment before launch (the sandbox points AWS gateway URLs at its local
        # gateway data plane); keys must stay as they are, only values may change.
        self.env_transform = env_transform
        self.base_env = dict(base_env or {})
        self.python = python
        self.host = host
        self.startup_timeout = startup_timeout
        self._owns_log_dir = log_dir is None
        self.log_dir = Path(tempfile.mkdtemp(prefix="sandbox-agents-")) if log_dir is None else Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._agents: dict[str, _AgentProcess] = {}
        self._log_paths: dict[str, list[Path]] = {}
        self._archived_logs: dict[str, str] = {}
        self._runtime_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._started = 0

    def __enter__(self) -> AgentProcessPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- environment -----------------------------------------------------------------------------------------

    def _environment(self, runtime_env: dict[str, str], port: int, code: AgentCode) -> dict[str, str]:
        region = self.base_env.get("AWS_REGION") or self.base_env.get("AWS_DEFAULT_REGION") or "us-east-1"
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", str(self.log_dir)),
            # The code's own modules first, then the sandbox's agent site; dependencies come from this interpreter.
            "PYTHONPATH": os.pathsep.join([str(code.code_dir), str(AGENT_SITE_DIR)]),
            "PYTHONUNBUFFERED": "1",  # log lines reach the file as they are written
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **FAKE_AWS_ENV,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
        env.update(self.base_env)
        env.update({str(k): str(v) for k, v in runtime_env.items()})
        # Where the process listens is the host's business, not the runtime record's.
        env.update({"HOST": self.host, "PORT": str(port)})
        return env

    # -- processes -------------------------------------------------------------------------------------------

    def _code(self, runtime_id: str, artifact: Mapping[str, Any] | None) -> AgentCode:
        if self.agent_entry is not None:
            entry = self.agent_entry
            return AgentCode(f"stand-in:{entry}", entry.parent, (entry.name,))
        assert self.code_source is not None
        try:
            return self.code_source(artifact)
        except ArtifactRefused as refused:
            # What the runtime's log group would hold: the reason the code never started.
            log_path = self._new_log_path(runtime_id)
            log_path.write_text(f"agent runtime {runtime_id} did not start: {refused}\n")
            raise AgentStartError(f"agent for runtime {runtime_id} did not start: {refused}") from None

    def get(self, runtime_id: str, env: dict[str, str] | None = None, artifact: Mapping[str, Any] | None = None) -> str:
        """Base URL of a ready agent for this runtime id running `artifact`'s code (the record's
        agentRuntimeArtifact) with `env`; (re)starts it when needed."""
        runtime_env = {str(k): str(v) for k, v in (env or {}).items()}
        if self.env_transform is not None:
            runtime_env = self.env_transform(runtime_env)
        env_key = tuple(sorted(runtime_env.items()))
        with self._lock:
            if self._closed:
                raise RuntimeError("AgentProcessPool is closed")
            runtime_lock = self._runtime_locks.setdefault(runtime_id, threading.Lock())
        with runtime_lock:
            code = self._code(runtime_id, artifact)
            current = self._agents.get(runtime_id)
            if (
                current is not None
                and current.env_key == env_key
                and current.code == code
                and current.process.poll() is None
            ):
                return current.base_url
            if current is not None:
                reason = (
                    "environment changed"
                    if current.env_key != env_key
                    else "code changed"
                    if current.code != code
                    else "process exited"
                )
                logger.info("Replacing agent for runtime %s (%s)", runtime_id, reason)
                self._stop(current)
            agent = self._start_with_retry(runtime_id, env_key, code)
            with self._lock:
                closed = self._closed
                if not closed:
                    self._agents[runtime_id] = agent
            if closed:
                self._stop(agent)
                raise RuntimeError("AgentProcessPool was closed while the agent started")
            return agent.base_url

    def _start_with_retry(
        self, runtime_id: str, env_key: tuple[tuple[str, str], ...], code: AgentCode
    ) -> _AgentProcess:
        # The free port is probed then released: another process may grab it first. Retry only that case.
        for attempt in range(3):
            try:
                return self._start(runtime_id, env_key, code)
            except AgentStartError as exc:
                if attempt == 2 or "address already in use" not in str(exc).lower():
                    raise
                logger.info("Agent port for runtime %s was taken; retrying", runtime_id)
        raise AssertionError("unreachable")

    def _new_log_path(self, runtime_id: str) -> Path:
        with self._lock:
            self._started += 1
            log_path = self.log_dir / f"{runtime_id}-{self._started}.log"
            self._log_paths.setdefault(runtime_id, []).append(log_path)
        return log_path

    def _start(self, runtime_id: str, env_key: tuple[tuple[str, str], ...], code: AgentCode) -> _AgentProcess:
        port = _free_port(self.host)
        log_path = self._new_log_path(runtime_id)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(  # noqa: S603 - fixed interpreter, the record's entry point, no shell
                [self.python, str(code.script), *code.argv[1:]],
                cwd=code.code_dir,
                env=self._environment(dict(env_key), port, code),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        agent = _AgentProcess(runtime_id, env_key, code, process, f"http://{self.host}:{port}", log_path)
        logger.info("Started agent for runtime %s (pid %s) on %s", runtime_id, process.pid, agent.base_url)
        try:
            self._wait_ready(agent)
        except BaseException:
            self._stop(agent)
            raise
        return agent

    def _wait_ready(self, agent: _AgentProcess) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                code = agent.process.poll()
                if code is not None:
                    raise AgentStartError(
                        f"agent for runtime {agent.runtime_id} exited with code {code} before answering /ping:\n"
                        f"{_tail(agent.log_path)}"
                    )
                try:
                    if client.get(f"{agent.base_url}/ping").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise AgentStartError(
                        f"agent for runtime {agent.runtime_id} did not answer /ping within {self.startup_timeout}s:\n"
                        f"{_tail(agent.log_path)}"
                    )
                time.sleep(0.05)

    @staticmethod
    def _stop(agent: _AgentProcess) -> None:
        process = agent.process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("Agent pid %s ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        logger.info("Stopped agent for runtime %s (pid %s)", agent.runtime_id, process.pid)

    def stop(self, runtime_id: str) -> None:
        """Stop this runtime's agent (if any); the next get() starts a fresh one."""
        with self._lock:
            runtime_lock = self._runtime_locks.setdefault(runtime_id, threading.Lock())
        with runtime_lock:
            agent = self._agents.pop(runtime_id, None)
            if agent is not None:
                self._stop(agent)

    def close(self) -> None:
        """Terminate every agent (bounded wait, then kill); logs stay readable through logs()."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            agents = list(self._agents.values())
            self._agents.clear()
        for agent in agents:
            self._stop(agent)
        if self._owns_log_dir:
            with self._lock:
                for runtime_id in list(self._log_paths):
                    self._archived_logs[runtime_id] = self._read_logs(runtime_id)
            shutil.rmtree(self.log_dir, ignore_errors=True)

    # -- inspection ------------------------------------------------------------------------------------------

    def running(self) -> dict[str, str]:
        """Runtime id -> base URL of the agents currently running."""
        with self._lock:
            return {rid: a.base_url for rid, a in self._agents.items() if a.process.poll() is None}

    def pid(self, runtime_id: str) -> int | None:
        with self._lock:
            agent = self._agents.get(runtime_id)
            return agent.process.pid if agent is not None else None

    def _read_logs(self, runtime_id: str) -> str:
        if runtime_id in self._archived_logs:
            return self._archived_logs[runtime_id]
        parts = []
        for path in self._log_paths.get(runtime_id, []):
            try:
                parts.append(path.read_text(errors="replace"))
            except OSError:
                continue
        return "".join(parts)

    def logs(self, runtime_id: str | None = None) -> str:
        """Everything the agent processes of `runtime_id` (or of every runtime) have written, oldest first."""
        with self._lock:
            runtime_ids = [runtime_id] if runtime_id is not None else list(self._log_paths)
            return "".join(self._read_logs(rid) for rid in runtime_ids)
