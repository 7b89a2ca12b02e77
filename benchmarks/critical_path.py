"""Critical path (issue 8): where a rollout's time goes, per phase, against the physical limit.

One rollout of the tutorial, three ways, per phase (plan, backup, expand, switch, verify, bake, contract, report - the
report's own timings, from the execution history):
- offline: the sandbox at test speed (latency_scale 0.001, pollSeconds 0): wall seconds, i.e. compute;
- time-scaled: the sandbox with AgentCore's LatencyProfile at SCALE and pollSeconds 1 (so one poll is 1/SCALE AWS
  seconds): wall seconds, next to the service-side waits on the critical path at that scale;
- modeled AWS: the LatencyProfile's waits on the critical path (the physical limit) and what the state machine's
  polling adds to them with the template's PollSeconds: each wait loop checks after one pollSeconds, then every
  pollSeconds (Lambda and Step Functions overhead, tens of milliseconds per state on AWS, is not modeled).
Plus the rollout's state transitions and AWS calls (every SDK call the stack's roles made, from the sandbox's IAM
audit). Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass

from sandbox.behaviour import LatencyProfile
from sandbox.core import Sandbox
from sandbox.iam.enforcement import LAMBDA_LOG_DELIVERY

# The report's phases, in the rollout's order ("load" is LoadConfig + Plan).
PHASES = ("queue", "load", "backup", "expand", "switch", "verify", "bake", "contract", "report")
PHASE_LABELS = {"load": "plan"}
SCALE = 0.1  # the time-scaled run: a 45 s runtime update takes 4.5 s
AWS_POLL_SECONDS = 10  # template.yaml PollSeconds default


@dataclass(frozen=True)
class Wait:
    """One wait loop on the critical path: the service needs `profile_field` seconds, counted from the call - or,
    `after_previous`, from when the previous wait's resource was done (DEFAULT moves once the runtime is READY)."""

    profile_field: str
    after_previous: bool = False


# The waits each phase of a tutorial rollout polls, in order (statemachine/secure_rollout.asl.json).
CRITICAL_PATH: dict[str, tuple[Wait, ...]] = {
    "expand": (Wait("gateway_create"), Wait("target_create")),  # the targets are created together, polled together
    "switch": (Wait("runtime_update"), Wait("endpoint_update", after_previous=True)),
    "contract": (Wait("target_delete"), Wait("gateway_delete")),
}


def service_seconds(profile: LatencyProfile, phase: str) -> float:
    """The physical limit of a phase: its service-side waits, back to back."""
    return sum(float(getattr(profile, w.profile_field)) for w in CRITICAL_PATH.get(phase, ()))


def modeled_seconds(profile: LatencyProfile, phase: str, poll_seconds: float) -> float:
    """The phase's waits as the state machine meets them: each loop waits `poll_seconds`, checks, and waits again
    until the resource is done; the next call is made when the loop sees it done."""
    now = done = 0.0
    for wait in CRITICAL_PATH.get(phase, ()):
        started = done if wait.after_previous else now
        done = started + float(getattr(profile, wait.profile_field))
        polls = max(1, math.ceil((done - now) / poll_seconds)) if poll_seconds > 0 else 0
        now = max(now + polls * poll_seconds, done)
    return now


@dataclass
class Measured:
    timings: dict[str, float]
    wall: float
    transitions: int
    aws_calls: Counter[str]
    execution_arn: str


def measure_rollout(sandbox: Sandbox) -> Measured:
    """One rollout in `sandbox`: the report's per-phase seconds, wall time, state transitions and AWS calls."""
    audit_before = len(sandbox.iam.audit) if sandbox.iam is not None else 0
    started = time.perf_counter()
    execution = sandbox.run_rollout({}, timeout=600.0)
    wall = time.perf_counter() - started
    if execution["status"] != "SUCCEEDED":
        raise RuntimeError(f"rollout failed: {execution.get('error')}: {execution.get('cause')}")
    report = json.loads(execution["output"])
    history = sandbox.history(execution["executionArn"])
    calls: Counter[str] = Counter()
    if sandbox.iam is not None:
        for record in sandbox.iam.audit[audit_before:]:
            if record.implied_by is None and record.operation != LAMBDA_LOG_DELIVERY:
                calls[record.operation.split(".", 1)[0]] += 1
    return Measured(
        timings=dict(report["timings"]["seconds"]),
        wall=wall,
        transitions=sum(1 for e in history if e["type"].endswith("StateEntered")),
        aws_calls=calls,
        execution_arn=execution["executionArn"],
    )


def print_critical_path(offline: Measured, scaled: Measured, profile: LatencyProfile) -> None:
    print(
        f"\ncritical path per phase (seconds; report timings). offline: latency_scale 0.001, pollSeconds 0. "
        f"time-scaled: latency_scale {SCALE}, pollSeconds 1 (= {1 / SCALE:.0f} s on AWS). "
        f"modeled AWS: LatencyProfile, PollSeconds {AWS_POLL_SECONDS}"
    )
    header = (
        f"{'phase':9} {'offline wall':>12} | {'scaled wall':>11} {'scaled waits':>12} | "
        f"{'AWS limit':>9} {'AWS modeled':>11} {'overshoot':>9}"
    )
    print(header)
    print("-" * len(header))
    totals = [0.0] * 5
    for phase in PHASES:
        limit = service_seconds(profile, phase)
        modeled = modeled_seconds(profile, phase, AWS_POLL_SECONDS)
        row = [offline.timings.get(phase, 0.0), scaled.timings.get(phase, 0.0), limit * SCALE, limit, modeled]
        totals = [t + v for t, v in zip(totals, row, strict=True)]
        over = f"{modeled - limit:+9.0f}" if limit else f"{'':9}"
        label = PHASE_LABELS.get(phase, phase)
        print(f"{label:9} {row[0]:12.2f} | {row[1]:11.2f} {row[2]:12.2f} | {row[3]:9.0f} {row[4]:11.0f} {over}")
    limit, modeled = totals[3], totals[4]
    print(
        f"{'total':9} {totals[0]:12.2f} | {totals[1]:11.2f} {totals[2]:12.2f} | {limit:9.0f} {modeled:11.0f} "
        f"{modeled - limit:+9.0f} ({(modeled - limit) / limit:.0%} of the critical path)"
    )
    print(
        f"rollout wall time: offline {offline.wall:.1f}s, time-scaled {scaled.wall:.1f}s "
        f"(its service waits {limit * SCALE:.1f}s: the rest is polling overshoot and the sandbox's compute)"
    )
    for label, measured in (("offline", offline), ("time-scaled", scaled)):
        calls = ", ".join(f"{service} {count}" for service, count in measured.aws_calls.most_common())
        print(
            f"{label}: {measured.transitions} state transitions, {sum(measured.aws_calls.values())} AWS calls "
            f"by the stack's roles ({calls})"
        )


def run_critical_path(offline: Measured) -> None:
    """The time-scaled rollout, then the table (`offline`: a rollout measured at test speed)."""
    profile = LatencyProfile()
    with Sandbox(poll_seconds=1, max_polls=60, latency_scale=SCALE, latency=profile) as sandbox:
        scaled = measure_rollout(sandbox)
    print_critical_path(offline, scaled, profile)


def main() -> int:
    with Sandbox(poll_seconds=0) as sandbox:
        offline = measure_rollout(sandbox)
    run_critical_path(offline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
