"""Driving the CLI as a user does: `python -m secure_rollout ...` in subprocesses (foreground or background), and a
running `secure-rollout sandbox up` whose secrets every run's stdout and stderr are scanned for (the client secret,
every token Cognito issued, approval task tokens)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from secure_rollout.sandbox_state import CONTROL_PREFIX, CONTROL_TOKEN_HEADER, SandboxState

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 300  # bounds, not expectations: the sandbox starts in ~15 s on a quiet machine
RUN_TIMEOUT_SECONDS = 600
JWT = re.compile(r"eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}")


@dataclass
class CliRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SECURE_ROLLOUT_"))}
    env |= {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "SECURE_ROLLOUT_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


def run_cli(*args: str, env: dict[str, str], timeout: float = RUN_TIMEOUT_SECONDS) -> CliRun:
    done = subprocess.run(
        [sys.executable, "-m", "secure_rollout", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliRun(args, done.returncode, done.stdout, done.stderr)


class Background:
    """A CLI run in the background whose output is read as it comes (to act while it waits)."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str]) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "secure_rollout", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(self.stdout)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; output so far:\n{''.join(self.stdout + self.stderr)}")
            time.sleep(0.2)

    def finish(self, timeout: float = RUN_TIMEOUT_SECONDS) -> CliRun:
        returncode = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return CliRun(self.args, returncode, "".join(self.stdout), "".join(self.stderr))


@dataclass
class CliSandbox:
    """A running `secure-rollout sandbox up` and how to drive the CLI against it."""

    home: Path
    state: SandboxState
    env: dict[str, str]
    runs: list[CliRun] = field(default_factory=list)
    extra_secrets: list[str] = field(default_factory=list)

    def run(self, *args: str, env: dict[str, str] | None = None) -> CliRun:
        result = run_cli(*args, env=env or self.env)
        self.runs.append(result)
        self.assert_no_secrets(result)
        return result

    def background(self, *args: str) -> Background:
        return Background(args, self.env)

    def finish(self, background: Background) -> CliRun:
        result = background.finish()
        self.runs.append(result)
        self.assert_no_secrets(result)
        return result

    def control(self, action: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.state.endpoint}{CONTROL_PREFIX}/{action}", headers={CONTROL_TOKEN_HEADER: self.state.controlToken}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def secrets(self) -> list[str]:
        """The client secret, every token the sandbox's Cognito issued (and its signature), approval task tokens."""
        return [*self.control("credentials")["values"], *self.extra_secrets]

    def assert_no_secrets(self, result: CliRun) -> None:
        leaked = [s[:6] + "..." for s in self.secrets() if s and s in result.output]
        assert not leaked, f"secure-rollout {' '.join(result.args)} printed a secret: {leaked}"
        assert not JWT.search(result.output), f"secure-rollout {' '.join(result.args)} printed a JWT"

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.state.region
        ).client(service, endpoint_url=self.state.endpoint_for(service))  # type: ignore[call-overload]
