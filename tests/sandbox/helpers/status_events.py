"""A Step Functions execution status-change event as the sandbox's EventBridge puts it, for one made-up execution."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sandbox.events import EventBridge

ACCOUNT = "123456789012"
REGION = "us-east-1"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm"


def status_change_event(
    status: str,
    *,
    name: str = "run-1",
    input_data: Any = None,
    output: Any = None,
    error: str | None = None,
    cause: str | None = None,
) -> dict[str, Any]:
    """The one event `emit_execution_status` puts for an execution that ended (or changed) to `status`: source,
    detail-type, resources and detail, as EventBridge would deliver them to a rule."""
    bridge = EventBridge(ACCOUNT, REGION)
    sent: list[dict[str, Any]] = []
    bridge._put = lambda source, detail_type, detail, resources, time=None: sent.append(  # type: ignore[method-assign]
        {"source": source, "detail-type": detail_type, "resources": resources, "detail": detail}
    )
    execution = SimpleNamespace(
        exec_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sm:{name}",
        state_machine_arn=STATE_MACHINE_ARN,
        name=name,
        start_date=None,
        stop_date=None,
        input_data={} if input_data is None else input_data,
        output=output,
        error=error,
        cause=cause,
    )
    bridge.emit_execution_status(execution, status)
    (event,) = sent
    return event
