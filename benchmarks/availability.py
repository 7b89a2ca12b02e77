"""Availability during a rollout (issue 8): what a caller of the agent gets at every step.

The probe (sandbox/availability.py) looks at the world each time a function of the stack starts and asks the agent a
warranty question - without a token while the runtime is open, as the tutorial's callers did, with a valid token once
it is secured. Printed: the steps observed, how many found the live agent's gateway missing or not READY, and how many
warranty calls failed. The expected number of both is 0. Figures are printed, never asserted.
"""

from __future__ import annotations

from sandbox.availability import AvailabilityProbe
from sandbox.core import Sandbox


def run_availability() -> int:
    """One rollout of the tutorial under the probe; returns the number of failed warranty calls."""
    print("availability during a rollout (a warranty question at every step; the agent's gateway checked each time)")
    with Sandbox(poll_seconds=0) as sandbox:
        probe = AvailabilityProbe(sandbox, ask_agent=True)
        with probe.watching():
            execution = sandbox.wait(sandbox.start_rollout({}), timeout=300)
    print(f"  rollout {execution['status']}: {len(probe.observations)} steps observed")
    print(f"  {'step':32} {'live':>5} {'gateway':20} {'ready':>5} {'old gateway':12} {'warranty call':>13}")
    for o in probe.observations:
        answered = {True: "ok", False: "FAILED", None: "-"}[o.agent_used_gateway_tool]
        print(
            f"  {o.function:32} {o.live_version or '-':>5} {o.gateway or '-':20} {o.gateway_ready!s:>5} "
            f"{o.old_gateway or 'gone':12} {answered:>13}"
        )
    failed = probe.failed_warranty_calls()
    print(f"  steps without a READY gateway for the live agent: {len(probe.outages())} (expected 0)")
    print(f"  warranty calls failed: {len(failed)} of {len(probe.observations)} (expected 0)")
    return len(failed)
