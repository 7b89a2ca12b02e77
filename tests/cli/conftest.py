"""Fixtures of the CLI tests: one `secure-rollout sandbox up` per test module (started like a user starts it)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from secure_rollout.sandbox_state import STATE_FILE, SandboxState
from tests.cli.helpers import REPO_ROOT, START_TIMEOUT_SECONDS, CliSandbox, cli_env, run_cli


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliSandbox]:
    home = tmp_path_factory.mktemp("secure-rollout-home")
    env = cli_env(home)
    log = (home / "sandbox-up.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "secure_rollout", "sandbox", "up"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        state = _wait_for_state(home / STATE_FILE, process)
        sandbox = CliSandbox(home, state, env)
        yield sandbox
        denials = sandbox.control("denials")["denials"]
        assert denials == [], f"IAM denied calls of the stack's roles: {denials}"
    finally:
        run_cli("sandbox", "down", env=env, timeout=120)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def _wait_for_state(path: Path, process: subprocess.Popen[bytes]) -> SandboxState:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        state = SandboxState.read(path)
        if state is not None:
            return state
        if process.poll() is not None or time.monotonic() > deadline:
            log = (path.parent / "sandbox-up.log").read_text()
            raise AssertionError(f"`secure-rollout sandbox up` did not start:\n{log}")
        time.sleep(0.5)
