"""The compact summary at the head of an execution's output. The execution's SUCCEEDED status-change event carries
that output (as a JSON string) to the notification topic, so the summary is what an operator reads first: one
sentence plus the few fields it is made of. Built only from what the report already holds - action texts, HTTP
status codes, names, the backup key, the trigger - never from a token, a secret or a header value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollout_core import triggers

MAX_CHANGES = 20  # a plan lists one action per target; beyond this the summary says how many more
RUNTIME_CHECKS = ("withToken", "withoutToken", "tamperedToken", "warranty")


def execution_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def _status(check: object) -> int | None:
    status = check.get("status") if isinstance(check, Mapping) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def smoke_codes(smoke: object) -> dict[str, dict[str, int]]:
    """HTTP status of every smoke check: {"runtime": {check: code}, "gateway": {check: code}}."""
    if not isinstance(smoke, Mapping):
        return {}
    codes: dict[str, dict[str, int]] = {}
    runtime = {k: code for k in RUNTIME_CHECKS if (code := _status(smoke.get(k))) is not None}
    if runtime:
        codes["runtime"] = runtime
    gateway_checks = smoke.get("gateway")
    if isinstance(gateway_checks, Mapping):
        gateway = {str(k): code for k, v in gateway_checks.items() if (code := _status(v)) is not None}
        if gateway:
            codes["gateway"] = gateway
    return codes


def _codes_text(codes: Mapping[str, Mapping[str, int]]) -> str:
    return "; ".join(f"{where} " + ", ".join(f"{k} {v}" for k, v in checks.items()) for where, checks in codes.items())


def _changes(actions: object) -> list[str]:
    texts = [str(a) for a in actions] if isinstance(actions, list) else []
    if len(texts) > MAX_CHANGES:
        return [*texts[:MAX_CHANGES], f"... and {len(texts) - MAX_CHANGES} more (see the report's actions)"]
    return texts


def _trigger_text(trigger: object) -> str | None:
    """The report's wording (rollout_core.triggers): the principal and the call of an out-of-band change included."""
    if not isinstance(trigger, Mapping) or not trigger.get("source"):
        return None
    return triggers.describe(trigger)


def _drift_text(drift: object) -> str | None:
    """A drift check's finding: what was undone and by whom (a CloudTrail trigger), else the diff."""
    if not isinstance(drift, Mapping) or not drift.get("detected"):
        return None
    return str(drift.get("cause") or "; ".join(map(str, drift.get("diff") or [])) or "detected")


def rollout_summary(name: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a rollout's (or a dry run's) report."""
    actions = report.get("actions") or []
    changes = _changes(actions)
    codes = smoke_codes(report.get("smoke"))
    backup_key = (report.get("backup") or {}).get("key")
    duration = (report.get("timings") or {}).get("total")
    if report.get("dryRun"):
        outcome = "planned" if report.get("plannedChanges") else "noDrift"
        sentence = (
            f"Dry run {name}: {len(actions)} change(s) planned, nothing changed"
            if report.get("plannedChanges")
            else f"Dry run {name}: already secured, nothing to change"
        )
    elif _drift_text(report.get("drift")) and not report["drift"].get("remediated"):
        outcome = "driftDetected"
        sentence = f"Drift check {name}: drift found and notified, nothing changed (autoRemediate off)"
    elif report.get("changed"):
        outcome = "changed"
        sentence = f"Rollout {name} succeeded: {len(actions)} change(s) made and verified"
    else:
        outcome = "unchanged"
        sentence = f"Rollout {name} succeeded: already secured, nothing changed"
    parts = [sentence]
    if codes:
        parts.append(f"smoke test passed ({_codes_text(codes)})")
    if backup_key:
        parts.append(f"backup {backup_key}")
    if isinstance(duration, int | float):
        parts.append(f"{duration:.0f} s")
    drift = _drift_text(report.get("drift"))
    if drift:
        parts.append(f"drift: {drift}")
    trigger = _trigger_text(report.get("trigger"))
    if trigger:
        parts.append(f"trigger: {trigger}")
    return {
        "text": "; ".join(parts) + ".",
        "outcome": outcome,
        "changes": changes,
        "smokeCodes": codes,
        "durationSeconds": duration,
        "backupKey": backup_key,
        "trigger": report.get("trigger"),
        "drift": drift,
    }


def restore_summary(name: str, report: Mapping[str, Any], trigger: Any = None) -> dict[str, Any]:
    """The summary of a restore's report."""
    key = (report.get("backup") or {}).get("key")
    runtime = report.get("runtime") or {}
    gateway = report.get("gateway") or {}
    changes = [f"runtime back to the backed-up configuration (version {runtime.get('version')} live)"]
    if gateway.get("recreated"):
        targets = ", ".join(gateway.get("targets") or []) or "none"
        changes.append(f"gateway {gateway.get('name')} re-created with target(s) {targets}")
    parts = [f"Restore {name} succeeded: {key} put back and verified"]
    if runtime.get("authorizerKept"):
        parts.append("the runtime keeps its authorizer (no API removes it)")
    if report.get("notRestored"):
        parts.append(f"not restored: {', '.join(map(str, report['notRestored']))}")
    return {
        "text": "; ".join(parts) + ".",
        "outcome": "restored",
        "changes": changes,
        "smokeCodes": {},
        "durationSeconds": None,
        "backupKey": key,
        "trigger": trigger,
    }
