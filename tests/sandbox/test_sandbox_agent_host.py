"""AgentProcessPool: one agent process per runtime id and environment, started and stopped with bounds."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.agent_host import AGENT_SITE_DIR, AgentProcessPool, AgentStartError
from tests.sandbox.helpers import STANDIN_AGENT


def _first_event(http: httpx.Client, base_url: str, env_names: list[str]) -> dict[str, Any]:
    response = http.post(f"{base_url}/invocations", json={"prompt": "hi", "env": env_names})
    assert response.status_code == 200
    first = response.text.split("\n\n")[0]
    event: dict[str, Any] = json.loads(first.removeprefix("data: "))
    return event


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(")")[-1].split()[0] == "Z")


@pytest.fixture
def agent_pool(tmp_path: Path) -> Iterator[AgentProcessPool]:
    agents = AgentProcessPool(
        agent_entry=STANDIN_AGENT,
        base_env={"SANDBOX_BASE": "base", "SHADOWED": "from-base", "AWS_DEFAULT_REGION": "eu-west-1"},
        startup_timeout=20.0,
        log_dir=tmp_path / "agents",
    )
    try:
        yield agents
    finally:
        agents.close()


def test_agent_gets_exactly_the_runtime_environment(
    agent_pool: AgentProcessPool, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_ONLY_SECRET", "must-not-leak")

    url = agent_pool.get("rt-1", {"SHADOWED": "from-runtime", "AGENT_MODEL_PROVIDER": "offline-deterministic"})

    names = ["SANDBOX_BASE", "SHADOWED", "AGENT_MODEL_PROVIDER", "HOST_ONLY_SECRET", "AWS_REGION", "PYTHONPATH", "PORT"]
    env = _first_event(http, url, names)["env"]
    assert env["SANDBOX_BASE"] == "base"
    assert env["SHADOWED"] == "from-runtime"  # the control plane's value wins over the pool's base
    assert env["AGENT_MODEL_PROVIDER"] == "offline-deterministic"
    assert env["HOST_ONLY_SECRET"] is None  # the host's environment does not leak into the agent
    assert env["AWS_REGION"] == "eu-west-1"
    # The code first, then the sandbox's agent site (the offline model), nothing of the host's path.
    assert env["PYTHONPATH"] == os.pathsep.join([str(STANDIN_AGENT.parent), str(AGENT_SITE_DIR)])
    assert url == f"http://127.0.0.1:{env['PORT']}"


def test_same_environment_reuses_the_process_and_a_change_replaces_it(
    agent_pool: AgentProcessPool, http: httpx.Client
) -> None:
    first = agent_pool.get("rt-1", {"A": "1"})
    first_pid = agent_pool.pid("rt-1")
    assert first_pid is not None

    assert agent_pool.get("rt-1", {"A": "1"}) == first
    assert agent_pool.pid("rt-1") == first_pid

    second = agent_pool.get("rt-1", {"A": "2"})
    assert agent_pool.pid("rt-1") != first_pid
    assert not _alive(first_pid)
    assert _first_event(http, second, ["A"])["env"] == {"A": "2"}


def test_runtimes_get_separate_processes_and_close_stops_all(agent_pool: AgentProcessPool) -> None:
    agent_pool.get("rt-1", {})
    agent_pool.get("rt-2", {})
    pids = [agent_pool.pid("rt-1"), agent_pool.pid("rt-2")]
    assert None not in pids
    assert len(set(pids)) == 2
    assert set(agent_pool.running()) == {"rt-1", "rt-2"}

    agent_pool.close()

    assert agent_pool.running() == {}
    assert not any(_alive(pid) for pid in pids if pid is not None)
    with pytest.raises(RuntimeError):
        agent_pool.get("rt-1", {})


def test_dead_process_is_restarted(agent_pool: AgentProcessPool, http: httpx.Client) -> None:
    agent_pool.get("rt-1", {})
    pid = agent_pool.pid("rt-1")
    assert pid is not None
    os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)

    url = agent_pool.get("rt-1", {})

    assert agent_pool.pid("rt-1") != pid
    assert _first_event(http, url, [])["pid"] == agent_pool.pid("rt-1")


def test_logs_capture_agent_output_across_restarts(agent_pool: AgentProcessPool, http: httpx.Client) -> None:
    _first_event(http, agent_pool.get("rt-1", {"V": "1"}), [])
    _first_event(http, agent_pool.get("rt-1", {"V": "2"}), [])

    logs = agent_pool.logs("rt-1")

    assert logs.count("stand-in agent starting") == 2
    assert logs.count("invocation session=") == 2
    assert agent_pool.logs("rt-unknown") == ""


def test_logs_survive_close_of_an_owned_log_dir(http: httpx.Client) -> None:
    agents = AgentProcessPool(agent_entry=STANDIN_AGENT, startup_timeout=20.0)
    try:
        _first_event(http, agents.get("rt-1", {}), [])
    finally:
        agents.close()

    assert not agents.log_dir.exists()
    assert "invocation session=" in agents.logs("rt-1")


def test_agent_that_crashes_reports_its_output(tmp_path: Path) -> None:
    script = tmp_path / "broken_agent.py"
    script.write_text("import sys\nprint('boot failure: missing dependency', file=sys.stderr)\nsys.exit(3)\n")
    agents = AgentProcessPool(agent_entry=script, startup_timeout=10.0, log_dir=tmp_path / "logs")
    try:
        with pytest.raises(AgentStartError, match=r"(?s)exited with code 3.*boot failure: missing dependency"):
            agents.get("rt-1", {})
        assert agents.running() == {}
    finally:
        agents.close()


def test_agent_that_never_answers_ping_times_out(tmp_path: Path) -> None:
    script = tmp_path / "silent_agent.py"
    script.write_text("import time\nprint('thinking', flush=True)\ntime.sleep(60)\n")
    # 3 s: long enough for a stalled machine to start Python and print, far below the script's 60 s sleep.
    agents = AgentProcessPool(agent_entry=script, startup_timeout=3.0, log_dir=tmp_path / "logs")
    started = time.monotonic()
    try:
        with pytest.raises(AgentStartError, match=r"(?s)did not answer /ping within 3.0s.*thinking"):
            agents.get("rt-1", {})
    finally:
        agents.close()
    assert time.monotonic() - started < 30
    assert agents.running() == {}
