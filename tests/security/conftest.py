"""The security suite: the deployed sandbox attacked the way an outsider (or a careless operator) would.

Every test adds rows to one table (attack → expected → observed), printed at the end of the run; any miss fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from security_support import ROWS, drain, format_table

from sandbox.core import Sandbox


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.section("security: attack -> expected -> observed")
        terminalreporter.write_line(format_table(ROWS))


@pytest.fixture(scope="module")
def secured() -> Iterator[Sandbox]:
    """A sandbox where the rollout already secured the tutorial's runtime and gateway."""
    with Sandbox(poll_seconds=0, max_polls=10) as sandbox:
        execution = sandbox.run_rollout({})
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        assert json.loads(execution["output"])["verified"] is True
        drain(sandbox)
        sandbox.notifications()  # start every test with an empty inbox
        yield sandbox
