"""The fault table (issue 8): one fault injected into a fresh sandbox's first rollout, then plain re-runs without it.

For each fault the sandbox can inject at a step of the rollout (sandbox/behaviour.py `Faults`, a bucket policy, the
agent's code) it prints: the first run (status, named error, rolled back / held), how many plain re-runs it took to
converge (0: the first run absorbed it; at most RERUNS), how many targets of the original gateway the end state's
gateway lacks (the gateway the live agent calls), and whether the live agent was ever pointed at a deleted gateway
(its runtime's gateway variables, in the version DEFAULT serves, against the gateways that exist - looked at before
every step of every run and after each run). The bar (issue 8): every row converges in one re-run with 0 targets lost.
Figures are printed, never asserted.
Usage: python -m benchmarks.faults [--only SUBSTRING] [--reruns N]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

from sandbox.behaviour import live_version
from sandbox.core import Sandbox

# SAM's translator warns about its own unpublished metrics whenever a sandbox's deployment is garbage-collected.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

RERUNS = 3
OLD_GATEWAY = "my-gateway"
# AWS seconds a slow or stalled deletion / DEFAULT move takes: hours, far past any poll budget of these runs.
HOURS = 6 * 3600.0
BROKEN_AGENT = Path(__file__).resolve().parent.parent / "tests" / "workflow" / "broken_agent" / "main.py"
# The agent's own rule (agent/mcp_client/client.py) when AGENTCORE_GATEWAY_NAME is unset: these variables, in order.
FALLBACK_GATEWAYS = ("my-gateway-secure", OLD_GATEWAY)


def _nothing(sandbox: Sandbox) -> None:
    """No action."""


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[Sandbox], None]
    # The fault is over (a knob reset, AWS finished what it was slow at) - right after the first run, or, with
    # `heal_before`, just before that stack function is first invoked in the re-runs (AWS finishes meanwhile).
    heal: Callable[[Sandbox], None] = _nothing
    heal_before: str | None = None
    first_input: Mapping[str, Any] = field(default_factory=dict)


def _set(**knobs: Any) -> Callable[[Sandbox], None]:
    def inject(sandbox: Sandbox) -> None:
        for name, value in knobs.items():
            setattr(sandbox.behaviour.faults, name, value)

    return inject


def _refuse(operation: str, code: str, times: int = 1) -> Callable[[Sandbox], None]:
    def inject(sandbox: Sandbox) -> None:
        sandbox.behaviour.faults.refuse(operation, code, times)

    return inject


def _elapse(seconds: float) -> Callable[[Sandbox], None]:
    def heal(sandbox: Sandbox) -> None:
        sandbox.behaviour.elapse(seconds)

    return heal


DENY_WRITES = "FaultDenyWrites"


def _backup_policy(sandbox: Sandbox, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    s3 = sandbox.client("s3")
    bucket = sandbox.deployment.outputs["BackupBucketName"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"] = change(policy["Statement"])
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def _deny_backup_writes(sandbox: Sandbox) -> None:
    """Someone tightened the backup bucket's policy: PutObject is denied (the sandbox applies a bucket policy's Deny
    statements as AWS does)."""
    deny = {"Sid": DENY_WRITES, "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}
    _backup_policy(sandbox, lambda statements: [*statements, deny])


def _allow_backup_writes(sandbox: Sandbox) -> None:
    _backup_policy(sandbox, lambda statements: [s for s in statements if s.get("Sid") != DENY_WRITES])


def _break_agent(sandbox: Sandbox) -> None:
    sandbox.agents.agent_entry = BROKEN_AGENT  # every version's agent answers 424: the smoke test fails


def _fix_agent(sandbox: Sandbox) -> None:
    sandbox.agents.agent_entry = None  # back to the runtime record's CodeZip


THROTTLED = 8  # more than botocore's own attempts (4): the state machine's Retry has to take over

FAULTS: tuple[Fault, ...] = (
    Fault("backup: bucket policy denies PutObject", _deny_backup_writes, _allow_backup_writes),
    Fault("CreateGateway refused (AccessDenied)", _refuse("CreateGateway", "AccessDeniedException")),
    Fault(f"CreateGateway throttled x{THROTTLED}", _refuse("CreateGateway", "ThrottlingException", THROTTLED)),
    Fault("new gateway ends FAILED", _set(gateway_create_failure="Internal failure creating the gateway")),
    Fault("CreateGatewayTarget refused (Validation)", _refuse("CreateGatewayTarget", "ValidationException")),
    Fault(
        "target WarrantyCheck ends FAILED",
        _set(target_create_failure="Lambda function not found", target_create_failure_name="WarrantyCheck"),
    ),
    Fault(
        "target ShippingEstimate ends FAILED",
        _set(target_create_failure="Lambda function not found", target_create_failure_name="ShippingEstimate"),
    ),
    Fault("switch refused (Validation)", _refuse("UpdateAgentRuntime", "ValidationException")),
    Fault(f"switch throttled x{THROTTLED}", _refuse("UpdateAgentRuntime", "ThrottlingException", THROTTLED)),
    Fault("switch ends UPDATE_FAILED", _set(runtime_update_failure="Container failed health check on port 8080")),
    Fault(
        "runtime left UPDATE_FAILED (onFailure=hold)",
        _set(runtime_update_failure="Container failed health check on port 8080"),
        first_input={"onFailure": "hold"},
    ),
    Fault("DEFAULT fails to move to the new version", _set(endpoint_update_failure="Version failed its health check")),
    Fault("DEFAULT slower than the poll budget", _set(endpoint_update_seconds=HOURS), _elapse(HOURS)),
    Fault("smoke check fails (agent answers 424)", _break_agent, _fix_agent),
    Fault("DeleteGatewayTarget refused (AccessDenied)", _refuse("DeleteGatewayTarget", "AccessDeniedException")),
    Fault("old target deletion ends FAILED", _set(target_delete_failure="Target is referenced by an interceptor")),
    Fault("DeleteGateway refused (AccessDenied)", _refuse("DeleteGateway", "AccessDeniedException")),
    Fault(
        "old gateway deletion stalls, ends FAILED",
        _set(gateway_delete_seconds=HOURS, gateway_delete_failure="Gateway deletion did not complete"),
        _elapse(HOURS),
    ),
    Fault(
        "old gateway deletion slower than poll budget",
        _set(gateway_delete_seconds=HOURS),
        _elapse(HOURS),
        heal_before="PlanFunction",  # it completes during the next run, after LoadConfig listed it DELETING
    ),
)


@dataclass
class Row:
    fault: str
    first: str
    reruns: str
    converged: bool
    targets_lost: int
    on_deleted_gateway: bool
    seconds: float
    notes: list[str] = field(default_factory=list)


def _backend(sandbox: Sandbox) -> Any:
    return bedrockagentcorecontrol_backends[sandbox.account_id][sandbox.region]


def _url_variable(name: str) -> str:
    return f"AGENTCORE_GATEWAY_{name.upper().replace('-', '_')}_URL"


def agent_gateway(sandbox: Sandbox) -> tuple[str | None, Any]:
    """The gateway URL the live agent calls (the version DEFAULT serves) and the gateway record that has it (None:
    no existing gateway has it). Read from the control-plane records, as the data planes do."""
    backend = _backend(sandbox)
    runtime = backend.agent_runtimes[sandbox.seeded.runtime_id]
    environment = dict(live_version(backend, runtime).configuration.get("environment_variables") or {})
    name = environment.get("AGENTCORE_GATEWAY_NAME")
    candidates = (name,) if name else FALLBACK_GATEWAYS
    url = next((environment[_url_variable(n)] for n in candidates if environment.get(_url_variable(n))), None)
    if url is None:
        return None, None
    for gateway in list(backend.gateways.values()):
        if gateway.gateway_url.rstrip("/") == url.rstrip("/") and gateway.status != "DELETED":
            return url, gateway
    return url, None


def on_deleted_gateway(sandbox: Sandbox) -> bool:
    """The live agent calls a gateway that is gone or being deleted."""
    url, gateway = agent_gateway(sandbox)
    return url is not None and (gateway is None or gateway.status == "DELETING")


def targets_lost(sandbox: Sandbox, original: set[str]) -> int:
    """Targets of the original gateway the end state's gateway (the one the live agent calls) lacks or has not READY."""
    _, gateway = agent_gateway(sandbox)
    if gateway is None:
        return len(original)
    targets = list(_backend(sandbox).gateway_targets.items())
    ready = {t.name for (gid, _), t in targets if gid == gateway.gateway_id and t.status == "READY"}
    return len(original - ready)


@contextmanager
def _watching(sandbox: Sandbox, seen: list[bool], heal: tuple[str, Callable[[Sandbox], None]] | None) -> Iterator[None]:
    """Before every stack function runs: is the live agent on a deleted gateway? (and the delayed heal, once)."""
    functions = {name: logical_id for logical_id, name in sandbox.deployment.functions.items()}
    original = sandbox.lambdas.invoke
    pending = [heal] if heal else []

    def invoke(function: Any, body: Any, client_context: dict[str, Any] | None = None) -> tuple[bytes, str | None]:
        logical_id = functions.get(function.function_name)
        if logical_id is not None:
            if pending and pending[0][0] == logical_id:
                pending.pop()[1](sandbox)
            seen.append(on_deleted_gateway(sandbox))
        return original(function, body, client_context)

    with mock.patch.object(sandbox.lambdas, "invoke", invoke):
        yield


def _outcome(execution: dict[str, Any]) -> str:
    if execution["status"] == "SUCCEEDED":
        return "SUCCEEDED"
    text = f"{execution['status']} {execution.get('error', '?')}"
    try:
        cause = json.loads(execution.get("cause") or "{}")
    except ValueError:
        cause = {}
    if cause.get("rolledBack"):
        text += " rolledBack"
    elif cause.get("held"):
        text += " held"
    return text


def run_fault(fault: Fault, reruns: int = RERUNS) -> Row:
    started = time.perf_counter()
    with Sandbox(poll_seconds=0, max_polls=10) as sandbox:
        backend = _backend(sandbox)
        old = next(g for g in backend.gateways.values() if g.name == OLD_GATEWAY)
        original = {t.name for (gid, _), t in backend.gateway_targets.items() if gid == old.gateway_id}
        seen: list[bool] = []
        fault.inject(sandbox)
        with _watching(sandbox, seen, None):
            first = sandbox.run_rollout(dict(fault.first_input))
        seen.append(on_deleted_gateway(sandbox))
        notes = [] if first["status"] == "SUCCEEDED" else [f"first: {_first_line(first)}"]
        if fault.heal_before is None:
            fault.heal(sandbox)
        delayed = (fault.heal_before, fault.heal) if fault.heal_before else None
        converged, count = first["status"] == "SUCCEEDED", 0
        while not converged and count < reruns:
            count += 1
            with _watching(sandbox, seen, delayed):
                again = sandbox.run_rollout({})
            delayed = None
            seen.append(on_deleted_gateway(sandbox))
            converged = again["status"] == "SUCCEEDED"
            if not converged:
                notes.append(f"re-run {count}: {_outcome(again)}: {_first_line(again)}")
        return Row(
            fault=fault.name,
            first=_outcome(first),
            reruns=str(count) if converged else f"never ({count})",
            converged=converged,
            targets_lost=targets_lost(sandbox, original),
            on_deleted_gateway=any(seen),
            seconds=time.perf_counter() - started,
            notes=notes,
        )


def _first_line(execution: dict[str, Any]) -> str:
    """The named error's message, shortened (never a secret: messages name resources, never values)."""
    try:
        cause = json.loads(execution.get("cause") or "{}")
    except ValueError:
        return str(execution.get("cause"))[:160]
    message = cause.get("errorMessage") or cause.get("cause") or ""
    with suppress(ValueError, AttributeError):
        message = json.loads(message).get("errorMessage", message)
    return str(message)[:160]


def print_table(rows: list[Row]) -> None:
    width = max(len(r.fault) for r in rows)
    first_width = max(len("first run"), *(len(r.first) for r in rows))
    print(f"{'fault':{width}} | {'first run':{first_width}} | re-runs to converge | targets lost | agent on deleted gw")
    print(f"{'-' * width}-+-{'-' * first_width}-+---------------------+--------------+--------------------")
    for r in rows:
        deleted = "yes" if r.on_deleted_gateway else "no"
        print(f"{r.fault:{width}} | {r.first:{first_width}} | {r.reruns:19} | {r.targets_lost:12d} | {deleted}")
    converged = sum(r.converged for r in rows)
    lost = sum(r.targets_lost for r in rows)
    print(
        f"{len(rows)} faults, {converged} converged, {len(rows) - converged} never did, {lost} targets lost; "
        f"agent on a deleted gateway in {sum(r.on_deleted_gateway for r in rows)}"
    )
    within_one = sum(r.converged and r.reruns in ("0", "1") for r in rows)
    bar = "met" if within_one == len(rows) and lost == 0 else "NOT met"
    print(f"bar (every row converges within one re-run, 0 targets lost): {bar} ({within_one}/{len(rows)} rows)")
    noted = [r for r in rows if r.notes]
    if noted:
        print("\nnamed errors met on the way:")
        for r in noted:
            for note in r.notes:
                print(f"  {r.fault}: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only the faults whose name contains this (case-insensitive)")
    parser.add_argument("--reruns", type=int, default=RERUNS, help=f"plain re-runs at most (default {RERUNS})")
    args = parser.parse_args(argv)
    return run_table(args.only, args.reruns)


def run_table(only: str | None = None, reruns: int = RERUNS) -> int:
    faults = [f for f in FAULTS if only is None or only.lower() in f.name.lower()]
    if not faults:
        print(f"no fault matches {only!r}; faults: {', '.join(f.name for f in FAULTS)}")
        return 1
    print(f"fault table: {len(faults)} faults, each in a fresh sandbox, then up to {reruns} plain re-runs")
    rows = []
    for number, fault in enumerate(faults, 1):
        row = run_fault(fault, reruns)
        print(f"  {number:2d}/{len(faults)} {fault.name}: {row.first}, re-runs {row.reruns} ({row.seconds:.0f}s)")
        rows.append(row)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
