"""Compare the desired secure state with what the control plane reports, and say what must change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollout_core import agentcore, desired, lifecycle, triggers
from rollout_core.errors import AgentCoreBusy, AuthorizerConflict, GatewayNotFound, InvalidConfiguration
from rollout_core.settings import GATEWAY_NAME_ENV_VAR
from rollout_core.state import (
    AgentArtifact,
    Authorizer,
    AwsRecord,
    CarryPlan,
    CognitoConfig,
    Config,
    EnvironmentPlan,
    GatewayPlan,
    GatewayToDelete,
    Plan,
    RuntimePlan,
    Settings,
    TargetToReplace,
)

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient


def desired_authorizer(cognito: CognitoConfig, existing: Authorizer | None) -> Authorizer:
    return desired.jwt_authorizer(cognito["discoveryUrl"], cognito["clientId"], cognito["scopes"], existing)


def authorizer_secure(actual: Authorizer | None, cognito: CognitoConfig) -> bool:
    return desired.authorizer_satisfied(actual, cognito["discoveryUrl"], cognito["clientId"], cognito["scopes"])


def runtime_repair(runtime: AwsRecord, endpoint: AwsRecord | None) -> str | None:
    """Why the runtime needs an update whatever its settings say (None: it does not). The latest record is not what
    callers get: an update that ended UPDATE_FAILED, or a DEFAULT endpoint that never moved to the latest version,
    leaves DEFAULT serving an older version - the next update creates a version that can go live."""
    status = runtime.get("status")
    name = runtime.get("agentRuntimeName") or runtime.get("agentRuntimeId")
    if status in lifecycle.RUNTIME_PENDING:
        raise AgentCoreBusy(f"runtime {name} is {status}: another update is under way; waiting for it")
    if status == "UPDATE_FAILED":
        return f"runtime {name} is UPDATE_FAILED ({lifecycle.reasons(runtime)})"
    if status != lifecycle.READY:
        raise lifecycle.runtime_failure(runtime)  # CREATE_FAILED, DELETING: no update repairs these
    if endpoint is None:
        return None
    live, latest = endpoint.get("liveVersion"), runtime.get("agentRuntimeVersion")
    if endpoint.get("status") in lifecycle.ENDPOINT_PENDING:
        raise AgentCoreBusy(f"runtime {name}: DEFAULT endpoint is {endpoint.get('status')}; waiting for it")
    if live != latest:
        return f"runtime {name}: DEFAULT serves version {live}, not the latest version {latest}"
    return None


def plan_runtime(runtime: AwsRecord, cognito: CognitoConfig, repair: str | None = None) -> RuntimePlan:
    """What the runtime needs. An authorizer can only be added to a runtime that has none (AgentCore refuses any
    authorizer sent to a runtime that has one), so a different existing one stops the rollout here, before any
    change. `repair` (runtime_repair) says why the latest version must be replaced by one that goes live."""
    current = runtime.get("authorizerConfiguration")
    authorizer_ok = authorizer_secure(current, cognito)
    if current and not authorizer_ok:
        raise AuthorizerConflict(desired.authorizer_conflict_message(runtime, desired_authorizer(cognito, None)))
    allowlist_before = desired.header_allowlist(runtime)
    allowlist_after = desired.with_authorization_header(allowlist_before)
    return {
        "id": runtime["agentRuntimeId"],
        "arn": runtime["agentRuntimeArn"],
        "name": runtime.get("agentRuntimeName"),
        "updateRequired": not authorizer_ok or allowlist_after != allowlist_before,
        "repair": repair,
        "authorizerBefore": current,
        "authorizerAfter": current if authorizer_ok else desired_authorizer(cognito, None),
        "allowlistBefore": allowlist_before,
        "allowlistAfter": allowlist_after,
    }


def _desired_targets(source_targets: list[AwsRecord], target_name: str, warranty_arn: str) -> dict[str, AwsRecord]:
    """Every target the source gateway had (nothing lost), with WarrantyCheck rebuilt from SSM."""
    wanted = {t["name"]: desired.target_definition(t) for t in source_targets if t["name"] != target_name}
    previous = next((t for t in source_targets if t["name"] == target_name), None)
    wanted[target_name] = desired.warranty_target_definition(
        target_name, warranty_arn, (previous or {}).get("description")
    )
    return wanted


# Gateway and target statuses from which the rollout replaces the resource instead of reusing it.
REPLACED_GATEWAY_STATUSES = frozenset({"FAILED", "UPDATE_UNSUCCESSFUL", "DELETING"})
REPLACED_TARGET_STATUSES = frozenset({"FAILED", "UPDATE_UNSUCCESSFUL", "SYNCHRONIZE_UNSUCCESSFUL", "DELETING"})


def plan_gateway(client: BedrockAgentCoreControlClient, config: Config) -> GatewayPlan:
    settings, cognito = config["settings"], config["cognito"]
    old_ref, new_ref = config.get("oldGateway"), config.get("newGateway")
    same_name = settings["oldGatewayName"] == settings["gatewayName"]

    # Deletions are asynchronous: a gateway LoadConfig saw DELETING may be gone by now, which is not a failure.
    new = agentcore.get_gateway_or_none(client, new_ref["id"]) if new_ref else None
    new_targets = agentcore.list_targets(client, new["gatewayId"]) if new else []
    old = agentcore.get_gateway_or_none(client, old_ref["id"]) if old_ref and not same_name else None
    old_targets = agentcore.list_targets(client, old["gatewayId"]) if old else []

    delete_first: GatewayToDelete | None = None
    update_authorizer = False
    if new is not None and new.get("authorizerType") != "CUSTOM_JWT":
        # The authorizer type cannot change in place: this gateway is deleted, then created again.
        delete_first = {"id": new["gatewayId"], "name": new["name"], "why": "authorizer type cannot change"}
    elif new is not None and new.get("status") in REPLACED_GATEWAY_STATUSES:
        # A FAILED gateway is never reused (it cannot serve), one being deleted cannot be: it is replaced.
        delete_first = {"id": new["gatewayId"], "name": new["name"], "why": f"it is {new.get('status')}"}
    elif new is not None:
        update_authorizer = not authorizer_secure(new.get("authorizerConfiguration"), cognito)

    template = old or new
    if template is None:
        raise GatewayNotFound(
            f"neither gateway {settings['oldGatewayName']!r} nor {settings['gatewayName']!r} exists; "
            "expected the tutorial's gateway to secure"
        )
    # Every target either gateway holds (nothing lost): the old gateway's definitions first, then those only the new
    # one has - all of them once an earlier run's contract deleted the old targets (the old gateway may still be
    # DELETING, or have ended FAILED).
    old_names = {t["name"] for t in old_targets}
    source_targets = [*old_targets, *(t for t in new_targets if t["name"] not in old_names)]
    wanted = _desired_targets(source_targets, settings["targetName"], config["warrantyLambdaArn"])

    create = new is None or delete_first is not None
    existing = {} if create else {t["name"]: t for t in new_targets}
    # A target that ended FAILED (or UPDATE/SYNCHRONIZE_UNSUCCESSFUL), or is being deleted, is deleted (polled until
    # gone) and created again; one still CREATING/UPDATING is polled like a new one.
    broken = {n: t for n, t in existing.items() if n in wanted and t.get("status") in REPLACED_TARGET_STATUSES}
    to_replace: list[TargetToReplace] = [
        {"name": name, "targetId": t["targetId"], "status": t.get("status")} for name, t in sorted(broken.items())
    ]
    to_create = [definition for name, definition in wanted.items() if name not in existing or name in broken]
    to_update = [
        {**definition, "targetId": existing[name]["targetId"]}
        for name, definition in wanted.items()
        if name in existing and name not in broken and not desired.targets_equivalent(existing[name], definition)
    ]
    current_authorizer = None if create or new is None else new.get("authorizerConfiguration")
    # What CreateGateway cannot take is carried after the create (or named); tags are only read when needed.
    carry: CarryPlan = (
        desired.gateway_carry_plan(template, agentcore.gateway_tags(client, template["gatewayArn"]))
        if create
        else {"afterCreate": None, "notCarried": []}
    )
    return {
        "before": desired.gateway_brief(old if old is not None else new),
        "existing": None if create else desired.gateway_brief(new),
        "deleteFirst": delete_first,
        "create": create,
        "createRequest": desired.gateway_create_request(
            template, settings["gatewayName"], desired_authorizer(cognito, current_authorizer)
        )
        if create
        else None,
        "afterCreate": carry["afterCreate"],
        "notCarried": carry["notCarried"],
        "updateAuthorizer": update_authorizer,
        "authorizerAfter": desired_authorizer(cognito, current_authorizer),
        "targetNamesBefore": sorted(t["name"] for t in source_targets),
        "targetsToReplace": to_replace,
        "targetsToCreate": to_create,
        "targetsToUpdate": to_update,
        "deleteOld": {"id": old["gatewayId"], "name": old["name"]} if old is not None else None,
    }


def plan_environment(
    runtime: AwsRecord,
    gateway_plan: GatewayPlan,
    env_var: str,
    gateway_name: str,
    artifact: AgentArtifact | None,
    repair: str | None = None,
) -> EnvironmentPlan:
    """The runtime's gateway URL variable, the AGENTCORE_GATEWAY_NAME pointer the agent reads it by, and the code.
    `repair` (plan_runtime) forces the update: the latest record may already say all this without being live."""
    environment = runtime.get("environmentVariables") or {}
    before = environment.get(env_var)
    existing = gateway_plan["existing"]
    known_url = existing["url"] if existing and not gateway_plan["deleteFirst"] else None
    url_update = known_url is None or before != known_url
    name_before = environment.get(GATEWAY_NAME_ENV_VAR)
    artifact_update = artifact is not None and not desired.runs_code(runtime.get("agentRuntimeArtifact"), artifact)
    return {
        "name": env_var,
        "before": before,
        "update": url_update or name_before != gateway_name or artifact_update or repair is not None,
        "repair": repair is not None,
        "urlUpdate": url_update,
        "gatewayNameVar": {"name": GATEWAY_NAME_ENV_VAR, "before": name_before, "after": gateway_name},
        "artifactUpdate": artifact_update,
    }


def check_code_bucket(runtime: AwsRecord, artifact_bucket: str) -> None:
    """Every full-replace update re-sends a CodeZip runtime's code location, and AgentCore makes the caller read it:
    the rollout can only update a runtime whose code is in the bucket it was deployed to read."""
    bucket, key = desired.code_location(runtime.get("agentRuntimeArtifact"))
    if bucket is not None and bucket != artifact_bucket:
        raise InvalidConfiguration(
            f"runtime {runtime.get('agentRuntimeName')} runs the CodeZip s3://{bucket}/{key}; every update re-sends "
            f"it and the caller must be able to read it, but this stack may only read {artifact_bucket or 'no bucket'} "
            f"(template parameter ArtifactBucket) - deploy with ArtifactBucket={bucket}"
        )


def drift_diff(plan: Plan, settings: Settings) -> list[str]:
    """What differs from the secured state, as an operator reads it (the drift notification and report): one line per
    difference, derived from the plan alone. Names, header names, statuses and the gateway URL variable's value only;
    never another environment variable, never a credential."""
    runtime, gateway, environment = plan["runtime"], plan["gateway"], plan["environment"]
    name, new_name = runtime.get("name") or runtime["id"], settings["gatewayName"]
    lines: list[str] = []
    if runtime.get("repair"):
        lines.append(f"runtime not serving its latest version: {runtime['repair']}")
    if runtime.get("updateRequired") and not runtime.get("authorizerBefore"):
        lines.append(f"runtime authorizer removed: runtime {name} accepts calls without a JWT")
    if runtime.get("allowlistBefore") != runtime.get("allowlistAfter"):
        lines.append(
            f"request header allowlist changed: {runtime.get('allowlistBefore') or []} lacks Authorization "
            "(the agent never sees the caller's token)"
        )
    if first := gateway.get("deleteFirst"):
        lines.append(f"gateway {first['name']} must be replaced: {first['why']}")
    elif gateway.get("create"):
        lines.append(f"gateway {new_name} missing")
    if gateway.get("updateAuthorizer"):
        lines.append(f"JWT authorizer of gateway {new_name} changed")
    lines += [f"target {t['name']} on {new_name} is {t['status']}" for t in gateway.get("targetsToReplace", [])]
    if not gateway.get("create"):  # a gateway to create brings every target with it (its line says so)
        replaced = {t["name"] for t in gateway.get("targetsToReplace", [])}
        lines += [
            f"target {t['name']} missing on {new_name}"
            for t in gateway.get("targetsToCreate", [])
            if t["name"] not in replaced
        ]
    lines += [f"target {t['name']} on {new_name} changed" for t in gateway.get("targetsToUpdate", [])]
    if old_gateway := gateway.get("deleteOld"):
        before = gateway["before"]
        kind = (before.get("authorizerType") if before else None) or "unknown"
        lines.append(f"old gateway {old_gateway['name']} is back / still open (authorizer {kind})")
    if environment.get("urlUpdate") and not gateway.get("create"):
        lines.append(
            f"gateway URL env var reset: {environment['name']} is {environment.get('before') or 'unset'}, not the URL "
            f"of gateway {new_name}"
        )
    name_var = environment["gatewayNameVar"]
    if name_var["before"] != name_var["after"]:
        lines.append(
            f"gateway name env var reset: {name_var['name']} is {name_var['before'] or 'unset'}, not {new_name}"
        )
    if plan["changed"] and not lines:  # every action has its line above; should one be added, it is still shown
        lines = [f"a rollout would {action}" for action in plan["actions"]]
    return lines


def build_plan(client: BedrockAgentCoreControlClient, config: Config) -> Plan:
    runtime = agentcore.get_runtime(client, config["runtime"]["id"])
    check_code_bucket(runtime, config["settings"].get("artifactBucket", ""))
    endpoint = agentcore.get_default_endpoint(client, runtime["agentRuntimeId"])
    runtime_plan = plan_runtime(runtime, config["cognito"], runtime_repair(runtime, endpoint))
    gateway_plan = plan_gateway(client, config)
    settings = config["settings"]
    env_plan = plan_environment(
        runtime,
        gateway_plan,
        settings["gatewayUrlEnvVar"],
        settings["gatewayName"],
        settings.get("agentArtifact"),
        runtime_plan["repair"],
    )

    actions: list[str] = []
    if runtime_plan["repair"]:
        actions.append(f"repair: {runtime_plan['repair']}; a new runtime version must go live")
    if runtime_plan["updateRequired"]:
        actions.append(f"secure runtime {runtime_plan['name']}: CUSTOM_JWT authorizer + Authorization allowlist")
    if gateway_plan["deleteFirst"]:
        first = gateway_plan["deleteFirst"]
        actions.append(f"delete gateway {first['name']} ({first['why']})")
    if gateway_plan["create"]:
        actions.append(f"create gateway {config['settings']['gatewayName']} with CUSTOM_JWT authorizer")
    if gateway_plan["afterCreate"]:
        after = gateway_plan["afterCreate"]
        carried = ", ".join([*sorted(after["update"]), *(["tags"] if after["tags"] else [])])
        actions.append(f"carry {carried} over to gateway {config['settings']['gatewayName']} once it is READY")
    if gateway_plan["updateAuthorizer"]:
        actions.append(f"update JWT authorizer of gateway {config['settings']['gatewayName']}")
    actions += [f"delete target {t['name']} ({t['status']})" for t in gateway_plan["targetsToReplace"]]
    actions += [f"create target {t['name']}" for t in gateway_plan["targetsToCreate"]]
    actions += [f"update target {t['name']}" for t in gateway_plan["targetsToUpdate"]]
    if gateway_plan["deleteOld"]:
        actions.append(f"delete old gateway {gateway_plan['deleteOld']['name']} and its targets")
    if env_plan["artifactUpdate"] and (artifact := config["settings"]["agentArtifact"]) is not None:
        actions.append(
            f"switch runtime code to s3://{artifact['s3Bucket']}/{artifact['s3Key']} "
            f"({artifact['runtime']}, entryPoint {artifact['entryPoint']})"
        )
    if env_plan["urlUpdate"]:
        actions.append(f"set runtime env {env_plan['name']} to the new gateway URL")
    name_var = env_plan["gatewayNameVar"]
    if name_var["before"] != name_var["after"]:
        actions.append(f"set runtime env {name_var['name']} to {name_var['after']}")
    plan: Plan = {
        "changed": bool(actions),
        "actions": actions,
        "runtime": runtime_plan,
        "gateway": gateway_plan,
        "environment": env_plan,
    }
    if settings.get("checkDrift"):
        plan["driftDiff"] = drift_diff(plan, settings)
        # Who and what started the check (an out-of-band change: the principal and the API call), for the notification.
        plan["triggeredBy"] = triggers.describe(config.get("trigger"))
    return plan
