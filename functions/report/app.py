"""Report: verify the end state by planning again - a fresh plan must find nothing left to do, so "secure" is defined
once, by the planner - and write the execution's report, with the backup key and how long each phase took (from the
execution's own history)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, desired, lifecycle, triggers
from rollout_core.errors import (
    AuthorizerConflict,
    GatewayNotFound,
    InvalidConfiguration,
    RolloutVerificationFailed,
    RuntimeUpdateFailed,
)
from rollout_core.observability import task_handler
from rollout_core.phases import PHASE_OF, PHASES
from rollout_core.planner import build_plan
from rollout_core.settings import GATEWAY_NAME_ENV_VAR
from rollout_core.state import AwsRecord, Config, Plan, Report, ReportEvent, RolloutState
from rollout_core.summary import execution_name, rollout_summary

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

logger = Logger()
tracer = Tracer()

# What the planner raises when the state is one no plan can reach: here, a verdict on the end state.
PLAN_REFUSALS = (AuthorizerConflict, GatewayNotFound, InvalidConfiguration, RuntimeUpdateFailed)


def _runtime_unsettled(runtime: AwsRecord, endpoint: AwsRecord) -> list[str]:
    """The runtime READY and its DEFAULT endpoint serving the latest version: callers meet what the plan judges."""
    problems = []
    if runtime.get("status") != lifecycle.READY:
        problems.append(f"runtime status is {runtime.get('status')}, expected READY")
    if (endpoint.get("status"), endpoint.get("liveVersion")) != (lifecycle.READY, runtime.get("agentRuntimeVersion")):
        problems.append(
            f"runtime endpoint {agentcore.DEFAULT_ENDPOINT} is {endpoint.get('status')} serving version "
            f"{endpoint.get('liveVersion')}, expected READY serving version {runtime.get('agentRuntimeVersion')}"
        )
    return problems


def _gateway_unsettled(gateway: AwsRecord | None, targets: list[AwsRecord]) -> list[str]:
    """A plan takes a gateway or target still CREATING/UPDATING as on its way; the report wants it READY."""
    if gateway is None:
        return []  # the plan says what is missing
    problems = []
    if gateway.get("status") != lifecycle.READY:
        problems.append(f"gateway {gateway['name']} is {gateway.get('status')}, expected READY")
    not_ready = sorted(t["name"] for t in targets if t.get("status") != lifecycle.READY)
    if not_ready:
        problems.append(f"target(s) not READY: {', '.join(not_ready)}")
    return problems


def _promises_kept(
    client: BedrockAgentCoreControlClient,
    gateway: AwsRecord | None,
    targets: list[AwsRecord],
    config: Config,
    plan: Plan,
) -> list[str]:
    """What this execution's plan promised that a fresh plan cannot see once the old gateway is gone: every target
    the old gateway had, and the settings CreateGateway could not take (names, never values)."""
    if gateway is None:
        return []
    expected = set(plan["gateway"]["targetNamesBefore"]) | {config["settings"]["targetName"]}
    missing = sorted(expected - {t["name"] for t in targets})
    problems = [f"gateway {gateway['name']} lacks target(s) {', '.join(missing)}"] if missing else []
    after = plan["gateway"].get("afterCreate")
    if after:
        differ = sorted(field for field, value in after["update"].items() if gateway.get(field) != value)
        if after["tags"]:
            tags = agentcore.gateway_tags(client, gateway["gatewayArn"])
            differ += [f"tags[{key}]" for key, value in sorted(after["tags"].items()) if tags.get(key) != value]
        if differ:
            problems.append(f"gateway {gateway['name']} lacks the old gateway's {', '.join(differ)}")
    return problems


def _still_to_do(client: BedrockAgentCoreControlClient, config: Config) -> list[str]:
    """'Secure' as the planner defines it: a fresh plan of the end state must have nothing left to do."""
    try:
        again = build_plan(client, config)
    except PLAN_REFUSALS as exc:
        return [f"{type(exc).__name__}: {exc}"]
    return [f"a fresh plan would still {action}" for action in again["actions"]]


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


def execution_history(states: SFNClient, execution_arn: str) -> list[HistoryEventTypeDef]:
    events: list[HistoryEventTypeDef] = []
    for page in states.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, PaginationConfig={"MaxItems": 5000}
    ):
        events += page["events"]
    return events


def build_report(
    client: BedrockAgentCoreControlClient, state: RolloutState, history: Sequence[Mapping[str, Any]] | None = None
) -> Report:
    config, plan = state["config"], state["plan"]
    settings = config["settings"]
    report: Report = {
        "changed": plan["changed"],
        "dryRun": settings["dryRun"],
        "actions": plan["actions"],
        # Settings of the old gateway no call can give its replacement (field names only).
        "notCarried": plan["gateway"].get("notCarried", []),
    }
    if "trigger" in config:
        report["trigger"] = config["trigger"]
    report["triggeredBy"] = triggers.describe(config.get("trigger"))
    # What an out-of-band change undid, who made it, with which call (a CloudTrail trigger whose change needs repair).
    cause = triggers.drift_sentence(config.get("trigger"), plan)
    if cause:
        report["drift"] = {"detected": True, "cause": cause}
    if settings["dryRun"]:
        return {**report, "changed": False, "plannedChanges": plan["changed"]}
    drift = state.get("drift")
    if settings.get("checkDrift"):
        # {"detected": false} | {"detected": true, "diff": [...], "remediated": bool}: set by the state machine's
        # drift branch (the diff was notified before anything changed).
        report["drift"] = {**drift, "cause": cause} if drift is not None and cause else drift
        if not (drift is not None and drift.get("remediated")):
            # Nothing was changed: what a rollout would do is the plan; there is no end state to verify.
            return {**report, "changed": False, "plannedChanges": plan["changed"]}
    if settings.get("requireApproval"):
        # Who approved is CloudTrail's record (SendTaskSuccess); the rollout knows only that it was asked and answered.
        report["approval"] = {
            "required": True,
            "reason": settings.get("approvalReason", ""),
            "asked": "approval" in state,  # not asked when the plan changed nothing
            "approved": bool((state.get("approval") or {"approved": False}).get("approved")),
        }
    if state.get("backup"):
        backup_ref: Mapping[str, Any] = state["backup"]
        report["backup"] = {k: backup_ref[k] for k in ("bucket", "key", "versionId") if k in backup_ref}
    if history is not None:
        timings = phase_timings(history, datetime.datetime.now(datetime.UTC))
        report["timings"] = {"seconds": timings, "total": round(sum(timings.values()), 3)}

    # The end state as the control plane reports it now, the gateways found by name again (the new one was created
    # after LoadConfig resolved them, the old one deleted).
    end_state: Config = {
        **config,
        "oldGateway": agentcore.gateway_ref(agentcore.find_gateway(client, settings["oldGatewayName"])),
        "newGateway": agentcore.gateway_ref(agentcore.find_gateway(client, settings["gatewayName"])),
    }
    gateway = agentcore.get_gateway(client, end_state["newGateway"]["id"]) if end_state["newGateway"] else None
    targets = agentcore.list_targets(client, gateway["gatewayId"]) if gateway else []
    runtime = agentcore.get_runtime(client, config["runtime"]["id"])
    endpoint = agentcore.get_default_endpoint(client, config["runtime"]["id"])

    problems = _runtime_unsettled(runtime, endpoint)
    if not problems:  # the planner waits for a runtime in transit (AgentCoreBusy) instead of judging it
        problems += _still_to_do(client, end_state)
    problems += _gateway_unsettled(gateway, targets)
    problems += _promises_kept(client, gateway, targets, config, plan)
    if problems:
        raise RolloutVerificationFailed("end state differs from the desired state: " + "; ".join(problems))
    old_deleted = settings["oldGatewayName"] == settings["gatewayName"] or end_state["oldGateway"] is None

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
                "after": desired.header_allowlist(runtime),
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
        "gateway": {"before": plan["gateway"]["before"], "after": desired.gateway_brief(gateway)},
        "targets": {
            "before": plan["gateway"]["targetNamesBefore"],
            "after": [
                {
                    "name": t["name"],
                    "id": t["targetId"],
                    "status": t["status"],
                    "lambdaArn": desired.target_lambda_arn(t),
                }
                for t in sorted(targets, key=lambda t: t["name"])
            ],
        },
        "oldGatewayDeleted": old_deleted,
        "smoke": state.get("smoke"),
        **({"bakeCheck": state["bakeSmoke"]["passed"]} if state.get("bakeSmoke") else {}),  # type: ignore[typeddict-item]
        "verified": True,
    }


@task_handler(logger, tracer)
def lambda_handler(event: ReportEvent, context: LambdaContext) -> Report:
    history = execution_history(boto3.client("stepfunctions"), event["executionArn"])
    report = build_report(agentcore.agentcore_control(), event["state"], history)
    logger.info("rollout report", extra={"changed": report["changed"], "dryRun": report["dryRun"]})
    # First in the output: the execution's SUCCEEDED event carries it to the notification topic.
    return {"summary": rollout_summary(execution_name(event["executionArn"]), report), **report}
