"""Where the sandbox's Step Functions differ from moto's: what a stopped Parallel branch leaves in the history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import HeartbeatSeconds
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

from sandbox.core import _step_functions_as_on_aws


@dataclass
class StoppedBranch:
    """The part of moto's Environment a timeout component reads: a branch whose sibling failed is not running."""

    stack: list[Any] = field(default_factory=list)
    next_field_name: str | None = None

    def is_running(self) -> bool:
        return False


def test_a_stopped_branchs_task_pops_its_own_timeout_not_its_input() -> None:
    state_input: dict[str, Any] = {"config": {"settings": {}}}
    for component in (TimeoutSeconds(timeout_seconds=60), HeartbeatSeconds(heartbeat_seconds=30)):
        with _step_functions_as_on_aws():
            branch = StoppedBranch(stack=[state_input])
            component.eval(branch)  # type: ignore[arg-type]
            popped = branch.stack.pop()
        assert isinstance(popped, int), popped
        assert branch.stack == [state_input]
    # Without the patch moto prunes the evaluation and the task would pop its state input as the timeout.
    unpatched = StoppedBranch(stack=[state_input])
    TimeoutSeconds(timeout_seconds=60).eval(unpatched)  # type: ignore[arg-type]
    assert unpatched.stack.pop() is state_input
