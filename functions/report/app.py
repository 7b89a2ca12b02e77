"""Report: read the end state back, check it against the desired state, and write the execution's report - with the
backup key and how long each phase took (from the execution's own history)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import control
from rollout_core.errors import RolloutVerificationFailed
from rollout_core.observability import task_handler
from rollout_core.planner import authorizer_secure
from rollout_core.settings import GATEWAY_NAME_ENV_VAR

logger = Logger()
tracer = Tracer()


def _runtime_problems(
    runtime: dict[str, Any], endpoint: dict[str, Any], config: dict[str, Any], gateway_url: str | None
) -> list[str]:
    cognito, env_var = config["cognito"], config["settings"]["gatewayUrlEnvVar"]
    problems = []
    if runtime.get("status") != control.READY:
        problems.append(f"runtime status is {runtime.get('status')}, expected READY")
    # What is verified below is the latest version; callers meet the one DEFAULT serves.
    if (endpoint.get("status"), endpoint.get("liveVersion")) != (control.READY, runtime.get("agentRuntimeVersion")):
        problems.append(
            f"runtime endpoint {control.DEFAULT_ENDPOINT} is {endpoint.get('status')} serving version "
            f"{endpoint.get('liveVersion')}, expected READY serving version {runtime.get('agentRuntimeVersion')}"
        )
    if not authorizer_secure(runtime.get("authorizerConfiguration"), cognito):
        problems.append("runtime authorizer does not trust exactly the deployed pool, client and scopes")
    if not control.allows_authorization_header(control.header_allowlist(runtime)):
        problems.append("runtime requestHeaderAllowlist lacks Authorization")
    artifact = config["settings"].get("agentArtifact")
    if artifact and not control.runs_code(runtime.get("agentRuntimeArtifact"), artifact):
        actual = (runtime.get("agentRuntimeArtifact") or {}).get("codeConfiguration")
        problems.append(f"runtime code is {actual}, expected {control.desired_code_configuration(artifact)}")
    environment = runtime.get("environmentVariables") or {}
    actual_url = environment.get(env_var)
    if gateway_url is None or actual_url != gateway_url:
        problems.append(f"runtime env {env_var} is {actual_url!r}, expected {gateway_url!r}")
    gateway_name = config["settings"]["gatewayName"]
    if environment.get(GATEWAY_NAME_ENV_VAR) != gateway_name:
        actual_name = environment.get(GATEWAY_NAME_ENV_VAR)
        problems.append(f"runtime env {GATEWAY_NAME_ENV_VAR} is {actual_name!r}, expected {gateway_name!r}")
    return problems


def _gateway_problems(
    gateway: dict[str, Any] | None, targets: list[dict[str, Any]], config: dict[str, Any], plan: dict[str, Any]
) -> list[str]:
    settings, cognito = config["settings"], config["cognito"]
    if gateway is None:
        return [f"gateway {settings['gatewayName']} does not exist"]
    problems = []
    if gateway.get("status") != control.READY or gateway.get("authorizerType") != "CUSTOM_JWT":
        problems.append(
            f"gateway {gateway['name']} is {gateway.get('status')}/{gateway.get('authorizerType')}, "
            "expected READY/CUSTOM_JWT"
        )
    if not authorizer_secure(gateway.get("authorizerConfiguration"), cognito):
        problems.append(
            f"gateway {gateway['name']} authorizer does not trust exactly the deployed pool, client and scopes"
        )
    by_name = {t["name"]: t for t in targets}
    expected = set(plan["gateway"]["targetNamesBefore"]) | {settings["targetName"]}
    missing = sorted(expected - set(by_name))
    if missing:
        problems.append(f"gateway {gateway['name']} lacks target(s) {', '.join(missing)}")
    not_ready = sorted(n for n, t in by_name.items() if t.get("status") != control.READY)
    if not_ready:
        problems.append(f"target(s) not READY: {', '.join(not_ready)}")
    warranty = by_name.get(settings["targetName"])
    if warranty is not None and control.target_lambda_arn(warranty) != config["warrantyLambdaArn"]:
        problems.append(f"target {settings['targetName']} does not call the Lambda ARN from SSM")
    return problems


def _carry_problems(client: Any, gateway: dict[str, Any] | None, plan: dict[str, Any]) -> list[str]:
    """The old gateway's settings CreateGateway could not take must have reached the new one (names, never values)."""
    after = plan["gateway"].get("afterCreate")
    if gateway is None or not after:
        return []
    differ = sorted(field for field, value in after["update"].items() if gateway.get(field) != value)
    if after["tags"]:
        tags = control.gateway_tags(client, gateway["gatewayArn"])
        differ += [f"tags[{key}]" for key, value in sorted(after["tags"].items()) if tags.get(key) != value]
    return [f"gateway {gateway['name']} lacks the old gateway's {', '.join(differ)}"] if differ else []


# The phase each state of the rollout belongs to (a test keeps this in step with the ASL).
PHASES: dict[str, tuple[str, ...]] = {
    "queue": ("AcquireLock", "LockDecision", "WaitForLock"),
    "load": ("AcceptInput", "LoadConfig", "RestoreOrRollout", "Plan", "ApprovalGate", "ChooseRolloutPath"),
    "approval": ("RequestApproval", "ApprovalRejected", "NameRejection"),  # only when an approval was asked
    "backup": ("Backup",),
    "expand": (
        "ConflictingGatewayToDelete",
        "DeleteConflictingTargets",
        "ConflictTargetsSettled",
        "WaitForConflictTargets",
        "CheckConflictTargets",
        "DeleteConflictingGateway",
        "ConflictDeletionSettled",
        "WaitForConflictDeletion",
        "CheckConflictDeletion",
        "ProvisionGateway",
        "GatewaySettled",
        "WaitForGateway",
        "CheckGateway",
        "CarryGatewaySettings",
        "FailedTargetsToReplace",
        "DeleteFailedTargets",
        "FailedTargetsSettled",
        "WaitForFailedTargets",
        "CheckFailedTargets",
        "ProvisionTargets",
        "TargetsSettled",
        "WaitForTargets",
        "CheckTargets",
        "GatewayExpanded",
    ),
    "switch": (
        "SwitchRuntime",
        "SwitchSettled",
        "WaitForSwitch",
        "CheckSwitch",
        "SwitchCreatedVersion",
        "TrackSwitchVersion",
        "WaitForSwitchLive",
        "CheckSwitchLive",
        "SwitchLiveSettled",
        "ReassertRuntimeSecurity",
        "ReassertChanged",
        "TrackReassert",
    ),
    "verify": ("SmokeTest", "AfterVerify"),
    "bake": ("Bake", "BakeCheck"),
    "contract": (
        "OldGatewayToDelete",
        "DeleteOldTargets",
        "OldTargetsSettled",
        "WaitForOldTargets",
        "CheckOldTargets",
        "DeleteOldGateway",
        "OldDeletionSettled",
        "WaitForOldDeletion",
        "CheckOldDeletion",
    ),
    "report": ("Report",),
    # Paths that end in a failure or in the restore report (never in this report); named for the unit test.
    "rollback": (
        "VerifyFailed",
        "RollbackOrHold",
        "DescribeHold",
        "Held",
        "RollbackRuntime",
        "RollbackSettled",
        "WaitForRollback",
        "CheckRollback",
        "RollbackCreatedVersion",
        "TrackRollbackVersion",
        "WaitForRollbackLive",
        "CheckRollbackLive",
        "RollbackLiveSettled",
        "NewGatewayToRemove",
        "DeleteNewTargets",
        "NewTargetsSettled",
        "WaitForNewTargets",
        "CheckNewTargets",
        "DeleteNewGateway",
        "NewDeletionSettled",
        "WaitForNewDeletion",
        "CheckNewDeletion",
        "DescribeRolledBack",
        "RolledBack",
        "DescribeRollbackFailure",
        "RollbackFailed",
    ),
    "restore": (
        "BeginRestore",
        "RestoreGateway",
        "RestoreGatewaySettled",
        "WaitForRestoreGateway",
        "RestoreRuntime",
        "RestoreRuntimeSettled",
        "WaitForRestoreRuntime",
        "CheckRestoreRuntime",
        "RestoreRuntimeCreatedVersion",
        "TrackRestoreRuntimeVersion",
        "WaitForRestoreRuntimeLive",
        "CheckRestoreRuntimeLive",
        "RestoreRuntimeLiveSettled",
        "RestoreReport",
    ),
}
PHASE_OF = {state: phase for phase, states in PHASES.items() for state in states}


def phase_timings(events: Iterable[Mapping[str, Any]], now: datetime.datetime) -> dict[str, float]:
    """Seconds spent in each phase: from each state's entry to the next state's (the last one until `now`)."""
    entered = sorted(
        (e["timestamp"], e["stateEnteredEventDetails"]["name"]) for e in events if "stateEnteredEventDetails" in e
    )
    timings: dict[str, float] = {}
    ends = [started for started, _ in entered[1:]] + [now] if entered else []
    for (started, name), ended in zip(entered, ends, strict=True):
        phase = PHASE_OF.get(name, "other")
        timings[phase] = round(timings.get(phase, 0.0) + max((ended - started).total_seconds(), 0.0), 3)
    return {phase: timings[phase] for phase in [*PHASES, "other"] if phase in timings}


def execution_history(states: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in states.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, PaginationConfig={"MaxItems": 5000}
    ):
        events += page["events"]
    return events


def build_report(client: Any, state: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    config, plan = state["config"], state["plan"]
    settings = config["settings"]
    report: dict[str, Any] = {
        "changed": plan["changed"],
        "dryRun": settings["dryRun"],
        "actions": plan["actions"],
        # Settings of the old gateway no call can give its replacement (field names only).
        "notCarried": plan["gateway"].get("notCarried", []),
    }
    if "trigger" in config:
        report["trigger"] = config["trigger"]
    if settings["dryRun"]:
        return {**report, "changed": False, "plannedChanges": plan["changed"]}
    if settings.get("requireApproval"):
        # Who approved is CloudTrail's record (SendTaskSuccess); the rollout knows only that it was asked and answered.
        report["approval"] = {
            "required": True,
            "reason": settings.get("approvalReason", ""),
            "asked": "approval" in state,  # not asked when the plan changed nothing
            "approved": bool((state.get("approval") or {}).get("approved")),
        }
    if state.get("backup"):
        report["backup"] = {k: state["backup"][k] for k in ("bucket", "key", "versionId") if k in state["backup"]}
    if history is not None:
        timings = phase_timings(history, datetime.datetime.now(datetime.UTC))
        report["timings"] = {"seconds": timings, "total": round(sum(timings.values()), 3)}

    found = control.find_gateway(client, settings["gatewayName"])
    gateway = control.get_gateway(client, found["gatewayId"]) if found else None
    targets = control.list_targets(client, gateway["gatewayId"]) if gateway else []
    runtime = control.get_runtime(client, config["runtime"]["id"])
    endpoint = control.get_default_endpoint(client, config["runtime"]["id"])
    gateway_url = control.normalize_gateway_url(gateway["gatewayUrl"]) if gateway else None

    problems = _runtime_problems(runtime, endpoint, config, gateway_url)
    problems += _gateway_problems(gateway, targets, config, plan)
    problems += _carry_problems(client, gateway, plan)
    old_name = settings["oldGatewayName"]
    old_deleted = old_name == settings["gatewayName"] or control.find_gateway(client, old_name) is None
    if not old_deleted:
        problems.append(f"old gateway {old_name} still exists")
    if problems:
        raise RolloutVerificationFailed("end state differs from the desired state: " + "; ".join(problems))

    env_var = settings["gatewayUrlEnvVar"]
    return {
        **report,
        "runtime": {
            "id": runtime["agentRuntimeId"],
            "name": runtime.get("agentRuntimeName"),
            "version": runtime.get("agentRuntimeVersion"),
            "liveVersion": endpoint.get("liveVersion"),
            "authorizer": {"before": plan["runtime"]["authorizerBefore"], "after": runtime["authorizerConfiguration"]},
            "requestHeaderAllowlist": {
                "before": plan["runtime"]["allowlistBefore"],
                "after": control.header_allowlist(runtime),
            },
            "artifact": runtime.get("agentRuntimeArtifact"),
            "gatewayUrlEnvVar": {
                "name": env_var,
                "before": plan["environment"]["before"],
                "after": (runtime.get("environmentVariables") or {}).get(env_var),
            },
            "gatewayNameEnvVar": {
                "name": GATEWAY_NAME_ENV_VAR,
                "before": plan["environment"]["gatewayNameVar"]["before"],
                "after": (runtime.get("environmentVariables") or {}).get(GATEWAY_NAME_ENV_VAR),
            },
        },
        "gateway": {"before": plan["gateway"]["before"], "after": control.gateway_brief(gateway)},
        "targets": {
            "before": plan["gateway"]["targetNamesBefore"],
            "after": [
                {
                    "name": t["name"],
                    "id": t["targetId"],
                    "status": t["status"],
                    "lambdaArn": control.target_lambda_arn(t),
                }
                for t in sorted(targets, key=lambda t: t["name"])
            ],
        },
        "oldGatewayDeleted": old_deleted,
        "smoke": state.get("smoke"),
        **({"bakeCheck": state["bakeSmoke"]["passed"]} if state.get("bakeSmoke") else {}),
        "verified": True,
    }


@task_handler(logger, tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    history = execution_history(boto3.client("stepfunctions"), event["executionArn"])
    report = build_report(control.agentcore_control(), event["state"], history)
    logger.info("rollout report", extra={"changed": report["changed"], "dryRun": report["dryRun"]})
    return report
