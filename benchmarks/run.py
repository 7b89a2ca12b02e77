"""`make bench`: how long the offline rollout takes, end to end and per step; its critical path; the fault table.

Targets (from the issues): the whole `make demo` - sandbox start, rollout, re-run - finishes well under a minute.
Each round starts a fresh sandbox, runs the rollout, then the no-op re-run. Then the critical path per phase
(benchmarks/critical_path.py: offline, time-scaled, modeled AWS) and the fault table (benchmarks/faults.py: one fault
per fresh sandbox, then plain re-runs; several minutes). Figures are printed, never asserted by the test suite.
Usage: python -m benchmarks.run [--rounds N] [--no-critical-path] [--no-faults] [--faults-only SUBSTRING]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from benchmarks.availability import run_availability
from benchmarks.critical_path import Measured, measure_rollout, run_critical_path
from benchmarks.faults import run_table
from sandbox.core import Sandbox

DEMO_BUDGET_SECONDS = 60.0


def _state_durations(history: list[dict[str, Any]]) -> dict[str, list[float]]:
    entered: dict[str, list[datetime]] = defaultdict(list)
    durations: dict[str, list[float]] = defaultdict(list)
    for event in sorted(history, key=lambda e: e["timestamp"]):
        if event["type"].endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]].append(event["timestamp"])
        elif event["type"].endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if entered[name]:
                durations[name].append((event["timestamp"] - entered[name].pop()).total_seconds() * 1000)
    return durations


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):8.1f}  min {min(values):8.1f}  max {max(values):8.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-critical-path", action="store_true", help="skip the time-scaled rollout")
    parser.add_argument("--no-faults", action="store_true", help="skip the fault table")
    parser.add_argument("--no-availability", action="store_true", help="skip the availability probe")
    parser.add_argument("--faults-only", metavar="SUBSTRING", help="the fault table's rows whose name contains this")
    args = parser.parse_args()
    rounds = args.rounds

    figures: dict[str, list[float]] = defaultdict(list)
    per_state: dict[str, list[float]] = defaultdict(list)
    first_rollouts: list[Measured] = []
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        with Sandbox(poll_seconds=0) as sandbox:
            ready = time.perf_counter()
            try:
                first_rollouts.append(measure_rollout(sandbox))
            except RuntimeError as failed:
                print(f"round {round_number}: {failed}")
                return 1
            rolled = time.perf_counter()
            second = sandbox.wait(sandbox.start_rollout({}))
            rerun = time.perf_counter()
            if second["status"] != "SUCCEEDED":
                print(f"round {round_number}: re-run failed: {second.get('error')}")
                return 1
            for name, values in _state_durations(sandbox.history(first_rollouts[-1].execution_arn)).items():
                per_state[name].extend(values)
        figures["sandbox start (s)"].append(ready - started)
        figures["rollout (s)"].append(rolled - ready)
        figures["no-op re-run (s)"].append(rerun - rolled)
        figures["start + rollout + re-run (s)"].append(rerun - started)
        print(f"round {round_number}/{rounds}: {rerun - started:.1f}s")

    print(f"\n{'figure':34} {'':>6}")
    for name, values in figures.items():
        print(f"{name:34} {_summary(values)}")
    print("\nper state, first rollout (ms; loops counted once per visit)")
    for name, values in sorted(per_state.items(), key=lambda item: -statistics.median(item[1])):
        print(f"  {name:32} n={len(values):3d}  {_summary(values)}")
    worst = max(figures["start + rollout + re-run (s)"])
    verdict = "within" if worst < DEMO_BUDGET_SECONDS else "OVER"
    print(f"\nworst full cycle {worst:.1f}s: {verdict} the {DEMO_BUDGET_SECONDS:.0f}s demo budget")
    if not args.no_availability:
        print()
        run_availability()
    if not args.no_critical_path:
        run_critical_path(_median_rollout(first_rollouts))
    if not args.no_faults:
        print()
        run_table(args.faults_only)
    return 0 if worst < DEMO_BUDGET_SECONDS else 1


def _median_rollout(rollouts: list[Measured]) -> Measured:
    """The rounds' first rollouts as one: median seconds per phase and wall time; the first one's counts."""
    phases = {phase for r in rollouts for phase in r.timings}
    return Measured(
        timings={p: statistics.median(r.timings.get(p, 0.0) for r in rollouts) for p in phases},
        wall=statistics.median(r.wall for r in rollouts),
        transitions=rollouts[0].transitions,
        aws_calls=rollouts[0].aws_calls,
        execution_arn=rollouts[0].execution_arn,
    )


if __name__ == "__main__":
    sys.exit(main())
