"""Plain-text views of plans, reports, statuses and failures (what an operator reads), and the advice per named
error (what to do next)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout_core import triggers

from secure_rollout.errors import one_line

# What to do after each named error of the rollout (README: "Failures end in the RolloutFailed state ...").
# {name}: the execution; {flags}: how to name the target; {backup}: the backup key.
ADVICE: dict[str, str] = {
    "InvalidExecutionInput": "nothing was changed; fix the input named above (see `secure-rollout apply --help` and "
    "the README's execution input table) and apply again",
    "InvalidConfiguration": "nothing was changed; fix the SSM parameter or deployment setting named above (its value "
    "must be what the deployment derives from the user pool) and apply again",
    "InvalidAgentArtifact": "nothing was changed; upload the CodeZip together with its <key>.manifest.json from "
    "`make agent-package`, from the deployed ArtifactBucket, and apply again",
    "AuthorizerConflict": "nothing was changed; the runtime already has another JWT authorizer, which AgentCore cannot "
    "replace in place: align it or re-create the runtime (docs/security.md, runtime authorizers)",
    "RuntimeNotFound": "nothing was changed; no runtime has the stack's RuntimeName in this account and region",
    "GatewayNotFound": "nothing was changed; neither the old nor the new gateway exists (stack parameters "
    "OldGatewayName/GatewayName)",
    "AmbiguousResourceName": "nothing was changed; more than one runtime or gateway has the deployed name: delete or "
    "rename the extra one",
    "RolloutRejected": "nothing was changed; apply again when the rollout may go ahead",
    "BackupFailed": "nothing was changed; check the backup bucket (stack output BackupBucketName) and "
    "`secure-rollout logs {name} {flags}`",
    "RollbackFailed": "the runtime may still run the switched configuration: put the backup back with "
    "`secure-rollout restore {backup} {flags}`",
    "RestoreFailed": "the backup was not put back; see the message, fix its cause and run the restore again",
    "TokenRequestFailed": "Cognito issued no token: check the app client (client_credentials, its secret and scope) "
    "and the pool's domain",
    "SmokeTestFailed": "see which check failed above and in `secure-rollout logs {name} {flags}` (a token the "
    "runtime or gateway refused: 'auth doctor:' names the authorizer check, `secure-rollout doctor {flags}` the fix); "
    "fix it and apply again",
    "RolloutVerificationFailed": "the end state differs from the desired one: compare with `secure-rollout plan "
    "{flags}` and apply again",
    "RuntimeUpdateFailed": "AgentCore did not take or serve the runtime update: fix the cause in the message (e.g. the "
    "agent's health check) and apply again",
    "GatewayCreateFailed": "AgentCore did not create the gateway: fix the cause in the message and apply again",
    "GatewayTargetFailed": "a gateway target failed: fix the cause in the message (e.g. the target's Lambda) and "
    "apply again",
    "GatewayDeleteFailed": "a gateway or target could not be deleted: fix the cause in the message and apply again",
    "ResourceWaitTimeout": "AgentCore did not settle within maxPolls x pollSeconds: apply again with a larger "
    "--max-polls or --poll-seconds",
    "States.Timeout": "a step ran into its timeout; look at `secure-rollout logs {name} {flags}` and apply again",
}
NOTHING_CHANGED_PREFIX = "nothing was changed"


def action_marker(action: str) -> str:
    """+ creates, - deletes, ~ changes in place."""
    verb = action.split(" ", 1)[0]
    return {"create": "+", "delete": "-"}.get(verb, "~")


def plan_lines(report: Mapping[str, Any], target_text: str, flags: str) -> list[str]:
    actions = [str(a) for a in report.get("actions") or []]
    if not report.get("plannedChanges", bool(actions)):
        return [f"no changes: {target_text} is already in the desired state"]
    lines = [f"plan for {target_text}: {len(actions)} change(s), in the order the rollout makes them"]
    lines += [f"  {action_marker(a)} {a}" for a in actions]
    not_carried = report.get("notCarried") or []
    if not_carried:
        lines.append(f"  ! not carried to the new gateway (no API can): {', '.join(map(str, not_carried))}")
    lines.append(f"apply it with: secure-rollout apply {flags}")
    return lines


def _status(check: Any) -> str:
    return str(check.get("status")) if isinstance(check, dict) else "-"


def smoke_text(smoke: Mapping[str, Any] | None) -> str | None:
    if not isinstance(smoke, dict):
        return None
    runtime = (
        f"runtime: token {_status(smoke.get('withToken'))}, no token {_status(smoke.get('withoutToken'))}, "
        f"tampered {_status(smoke.get('tamperedToken'))}"
    )
    warranty = smoke.get("warranty")
    if isinstance(warranty, dict):
        tools = ", ".join(warranty.get("toolsUsed") or []) or "no tool reported"
        runtime += f", warranty {_status(warranty)} ({tools})"
    gateway = smoke.get("gateway")
    if isinstance(gateway, dict):
        runtime += (
            f"; gateway: no token {_status(gateway.get('withoutToken'))}, tampered "
            f"{_status(gateway.get('tamperedToken'))}, tools/call {_status(gateway.get('toolsCall'))}"
        )
    return runtime


def timings_text(report: Mapping[str, Any]) -> str | None:
    timings = report.get("timings")
    if not isinstance(timings, dict) or not isinstance(timings.get("seconds"), dict):
        return None
    parts = [f"{phase} {seconds:.1f}s" for phase, seconds in timings["seconds"].items()]
    return ", ".join(parts) + f" (total {float(timings.get('total', 0)):.1f}s)"


def _authorizer_type(authorizer: Any) -> str:
    return "CUSTOM_JWT" if isinstance(authorizer, dict) and authorizer.get("customJWTAuthorizer") else "none"


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The summary of a finished execution's output (rollout report, restore report, coalesced run)."""
    if report.get("status") == "coalesced":
        return [f"coalesced into {report.get('coalescedInto')}: that pending rollout applies the latest values"]
    if report.get("restored"):
        return _restore_lines(report)
    rows: list[tuple[str, str]] = []
    changed = bool(report.get("changed"))
    rows.append(("changed", "yes, verified" if changed else "no - already secured; smoke test passed"))
    if changed:
        rows += [("", f"{action_marker(a)} {a}") for a in report.get("actions") or []]
    runtime = report.get("runtime")
    if isinstance(runtime, dict):
        allowlist = (runtime.get("requestHeaderAllowlist") or {}).get("after") or []
        rows.append(
            (
                "runtime",
                f"{runtime.get('name')} version {runtime.get('version')} (live {runtime.get('liveVersion')}), "
                f"authorizer {_authorizer_type((runtime.get('authorizer') or {}).get('after'))}, "
                f"headers {', '.join(allowlist) or 'none'}",
            )
        )
    gateway = report.get("gateway")
    if isinstance(gateway, dict):
        before, after = gateway.get("before") or {}, gateway.get("after") or {}
        text = f"{after.get('name')} ({after.get('authorizerType')}, {after.get('status')})"
        if before and before.get("name") != after.get("name"):
            text = f"{before.get('name')} ({before.get('authorizerType')}) -> {text}"
        if report.get("oldGatewayDeleted"):
            text += "; old gateway deleted"
        rows.append(("gateway", text))
    targets = (report.get("targets") or {}).get("after")
    if isinstance(targets, list):
        rows.append(("targets", ", ".join(f"{t.get('name')} ({t.get('status')})" for t in targets) or "none"))
    smoke = smoke_text(report.get("smoke"))
    if smoke:
        rows.append(("smoke", smoke))
    approval = report.get("approval")
    if isinstance(approval, dict):
        answer = "approved" if approval.get("approved") else ("not asked" if not approval.get("asked") else "no")
        rows.append(("approval", f"{answer} ({approval.get('reason')})"))
    backup = report.get("backup")
    if isinstance(backup, dict) and backup.get("key"):
        rows.append(("backup", str(backup["key"])))
    if report.get("notCarried"):
        rows.append(("not carried", ", ".join(map(str, report["notCarried"]))))
    timings = timings_text(report)
    if timings:
        rows.append(("timings", timings))
    if isinstance(report.get("trigger"), dict):
        rows.append(("trigger", triggers.describe(report["trigger"])))
    drift = report.get("drift")
    if isinstance(drift, dict) and drift.get("detected"):
        remediated = ("repaired" if drift["remediated"] else "not repaired") if "remediated" in drift else ""
        what = drift.get("cause") or "; ".join(map(str, drift.get("diff") or [])) or "detected"
        rows.append(("drift", f"{what}{f' ({remediated})' if remediated else ''}"))
    elif isinstance(drift, dict):
        rows.append(("drift", "none"))
    return [f"  {label:<12}{value}" for label, value in rows]


def _restore_lines(report: Mapping[str, Any]) -> list[str]:
    backup, runtime, gateway = report.get("backup") or {}, report.get("runtime") or {}, report.get("gateway")
    taken_by = str(backup.get("execution") or "").rsplit(":", 1)[-1]
    rows = [("restored", f"{backup.get('key')} (taken by {taken_by} at {backup.get('takenAt')})")]
    text = (
        f"{runtime.get('id')} version {runtime.get('version')} (live {runtime.get('liveVersion')}), the settings of "
        f"version {runtime.get('restoredFromVersion')}"
    )
    if runtime.get("authorizerKept"):
        text += "; its JWT authorizer stays (AgentCore cannot remove one)"
    rows.append(("runtime", text))
    if isinstance(gateway, dict):
        again = "re-created" if gateway.get("recreated") else "present"
        rows.append(("gateway", f"{gateway.get('name')} {again}, targets {', '.join(gateway.get('targets') or [])}"))
    if report.get("notRestored"):
        rows.append(("not restored", ", ".join(map(str, report["notRestored"]))))
    return [f"  {label:<12}{value}" for label, value in rows]


# --- failures -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    error: str
    message: str
    rolled_back: bool = False
    held: bool = False
    backup_key: str | None = None
    authorizer_kept: bool = False


def _parsed(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def cause_message(cause: Any) -> str:
    """The human message inside a cause: a Lambda error's errorMessage (never its stack trace), a rollback outcome's
    original cause, or the text itself."""
    parsed = _parsed(cause)
    if isinstance(parsed, dict):
        if "rollbackError" in parsed:
            return (
                f"the rollback failed ({parsed.get('rollbackError')}: {cause_message(parsed.get('rollbackCause'))}) "
                f"after {parsed.get('originalError')}: {cause_message(parsed.get('originalCause'))}"
            )
        for key in ("errorMessage", "cause", "message", "Cause"):
            if key in parsed:
                return cause_message(parsed[key])
        return json.dumps(parsed, sort_keys=True)
    return "" if parsed is None else str(parsed)


def failure_of(description: Mapping[str, Any]) -> Failure:
    status = description.get("status")
    error = str(description.get("error") or status)
    cause = description.get("cause")
    message = one_line(cause_message(cause)) if cause else ""
    if not message:
        message = {
            "TIMED_OUT": "the execution reached its timeout",
            "ABORTED": "the execution was stopped (StopExecution)",
        }.get(str(status), str(status))
    outcome = _parsed(cause)
    if not isinstance(outcome, dict):
        return Failure(error, message)
    return Failure(
        error,
        message,
        rolled_back=outcome.get("rolledBack") is True,
        held=outcome.get("held") is True,
        backup_key=outcome.get("backupKey") if isinstance(outcome.get("backupKey"), str) else None,
        authorizer_kept=outcome.get("authorizerKept") is True,
    )


def failure_parts(failure: Failure, name: str, flags: str) -> tuple[str, str | None, str]:
    """(`<Error>: <message>`, what happened to the change if anything did, what to do)."""
    backup = failure.backup_key or "<backup key>"
    outcome = None
    if failure.rolled_back:
        outcome = "rolled back: the runtime serves its backed-up configuration again"
        if failure.authorizer_kept:
            outcome += "; the JWT authorizer the switch added stays (AgentCore cannot remove one)"
        outcome += f" (backup {backup})"
    elif failure.held:
        outcome = (
            f"held for inspection (onFailure=hold): restore with `secure-rollout restore {backup} {flags}`, or fix "
            "and apply again"
        )
    advice = ADVICE.get(failure.error, "see `secure-rollout logs {name} {flags}` for what the functions did")
    if outcome is not None and advice.startswith(NOTHING_CHANGED_PREFIX):
        advice = advice.split("; ", 1)[-1]
    return f"{failure.error}: {failure.message}", outcome, advice.format(name=name, flags=flags, backup=backup)


def failure_lines(failure: Failure, name: str, flags: str) -> list[str]:
    """`error: <Error>: <message>` (one line), then what happened to the change and what to do."""
    error, outcome, advice = failure_parts(failure, name, flags)
    return [f"error: {error}", *([outcome] if outcome else []), f"what to do: {advice}"]
