"""The desired state and the requests that reach it: the JWT authorizer and the header allowlist the runtime must
have, the full-replace UpdateAgentRuntime / CreateGateway / UpdateGateway requests, target definitions, and the
checks of whether a record already is as desired. Field sets come from the botocore service model, so new optional
settings are carried over without a code change. No calls here (those are rollout_core.agentcore's)."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

import botocore.session

from rollout_core.errors import AuthorizerConflict, RuntimeUpdateFailed
from rollout_core.state import AfterCreate, AgentArtifact, AwsRecord, AwsRequest, CarryPlan, GatewayBrief

AUTHORIZATION_HEADER = "Authorization"
MAX_ALLOWLIST = 20

# --- field sets, derived from the service model so new optional fields are carried over automatically ----------


@cache
def _members(operation: str, direction: str) -> frozenset[str]:
    client_model = (
        botocore.session.get_session().get_service_model("bedrock-agentcore-control").operation_model(operation)
    )
    shape = client_model.input_shape if direction == "in" else client_model.output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def runtime_update_fields() -> frozenset[str]:
    """Every setting UpdateAgentRuntime accepts that GetAgentRuntime returns (a full replace sends them all)."""
    return (_members("UpdateAgentRuntime", "in") & _members("GetAgentRuntime", "out")) - {"agentRuntimeId"}


# GetGateway members that describe one gateway's identity and state, not a setting a replacement could take.
GATEWAY_OWN_MEMBERS = frozenset(
    {"gatewayArn", "gatewayId", "gatewayUrl", "createdAt", "updatedAt", "status", "statusReasons"}
    | {"workloadIdentityDetails"}  # AgentCore creates a workload identity per gateway
)
# Tag keys with this prefix belong to AWS (e.g. CloudFormation's): TagResource refuses them.
RESERVED_TAG_PREFIX = "aws:"
RESERVED_TAGS_ENTRY = "tags:aws:*"


def gateway_clone_fields() -> frozenset[str]:
    """Settings of the old gateway that carry over to its replacement (everything but identity and auth)."""
    excluded = {"name", "authorizerType", "authorizerConfiguration", "clientToken", "tags"}
    return (_members("CreateGateway", "in") & _members("GetGateway", "out")) - excluded


def gateway_post_create_fields() -> frozenset[str]:
    """Settings GetGateway shows that CreateGateway cannot take but UpdateGateway can (e.g. wafConfiguration)."""
    return (_members("UpdateGateway", "in") & _members("GetGateway", "out")) - _members("CreateGateway", "in")


def gateway_uncarried_fields() -> frozenset[str]:
    """Settings GetGateway shows that neither CreateGateway nor UpdateGateway can set (e.g. webAclArn: a WAFv2
    association). A replacement cannot inherit them from the control plane; the plan and report name them."""
    settable = _members("CreateGateway", "in") | _members("UpdateGateway", "in")
    return _members("GetGateway", "out") - settable - GATEWAY_OWN_MEMBERS


def target_clone_fields() -> frozenset[str]:
    excluded = {"gatewayIdentifier", "clientToken"}
    return (_members("CreateGatewayTarget", "in") & _members("GetGatewayTarget", "out")) - excluded


# --- authorizers, allowlist, requests ----------------------------------------------------------------------------


def jwt_authorizer(
    discovery_url: str, client_id: str, scopes: list[str], existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The CUSTOM_JWT authorizer for Cognito M2M tokens.

    Cognito access tokens carry no ``aud``, so clients are checked with allowedClients (``client_id`` claim) and
    the scope with allowedScopes. Other allowed clients and custom-claim rules already configured for the same
    discovery URL are kept (they were put there on purpose; custom claims only narrow who gets in).
    """
    jwt: dict[str, Any] = {"discoveryUrl": discovery_url, "allowedClients": [client_id]}
    current = (existing or {}).get("customJWTAuthorizer") or {}
    if current.get("discoveryUrl") == discovery_url:
        jwt["allowedClients"] = sorted({*current.get("allowedClients", []), client_id})
        if current.get("customClaims"):
            jwt["customClaims"] = copy.deepcopy(current["customClaims"])
    jwt["allowedScopes"] = sorted(set(scopes))
    return {"customJWTAuthorizer": jwt}


def authorizer_satisfied(actual: dict[str, Any] | None, discovery_url: str, client_id: str, scopes: list[str]) -> bool:
    """Whether an authorizer trusts exactly the deployed pool, admits the client and enforces the scope list."""
    jwt = (actual or {}).get("customJWTAuthorizer") or {}
    return (
        jwt.get("discoveryUrl") == discovery_url
        and client_id in (jwt.get("allowedClients") or [])
        and not jwt.get("allowedAudience")  # an audience check would reject every Cognito M2M token
        and sorted(set(jwt.get("allowedScopes") or [])) == sorted(set(scopes))
    )


def describe_authorizer(authorizer: dict[str, Any] | None) -> str:
    """An authorizer in one line, for messages (no secrets: a JWT authorizer holds only public identifiers)."""
    jwt = (authorizer or {}).get("customJWTAuthorizer")
    if not jwt:
        return "none" if not authorizer else f"a non-JWT authorizer ({', '.join(sorted(authorizer))})"
    parts = [f"discoveryUrl {jwt.get('discoveryUrl')}"]
    for key in ("allowedClients", "allowedAudience", "allowedScopes"):
        if jwt.get(key):
            parts.append(f"{key} {sorted(jwt[key])}")
    if jwt.get("customClaims"):
        parts.append(f"{len(jwt['customClaims'])} customClaims rule(s)")
    return ", ".join(parts)


def authorizer_conflict_message(runtime: dict[str, Any], desired: dict[str, Any]) -> str:
    name = runtime.get("agentRuntimeName") or runtime.get("agentRuntimeId")
    return (
        f"runtime {name} already has a JWT authorizer that differs from the desired one: "
        f"current [{describe_authorizer(runtime.get('authorizerConfiguration'))}], "
        f"desired [{describe_authorizer(desired)}]. AgentCore refuses to replace a runtime's authorizer in place "
        '("Authorizer already exists"), so nothing was changed. Either make the deployment describe the authorizer '
        "the runtime has (UserPoolId, and the client_id / cognito_auth_scope parameters), or remove the runtime's "
        "authorizer (e.g. re-create the runtime without one; the rollout never removes an authorizer it did not put "
        "there) and run the rollout again."
    )


def header_allowlist(runtime: dict[str, Any]) -> list[str]:
    return list((runtime.get("requestHeaderConfiguration") or {}).get("requestHeaderAllowlist") or [])


def allows_authorization_header(allowlist: list[str]) -> bool:
    return any(h.lower() == AUTHORIZATION_HEADER.lower() for h in allowlist)


def with_authorization_header(allowlist: list[str]) -> list[str]:
    if allows_authorization_header(allowlist):
        return list(allowlist)
    if len(allowlist) >= MAX_ALLOWLIST:
        raise RuntimeUpdateFailed(
            f"requestHeaderAllowlist already has {len(allowlist)} entries (AgentCore allows {MAX_ALLOWLIST}); "
            f"cannot add {AUTHORIZATION_HEADER}"
        )
    return [*allowlist, AUTHORIZATION_HEADER]


def normalize_gateway_url(url: str) -> str:
    """AgentCore returns gateway URLs ending in /mcp; older records and some tools drop it."""
    trimmed = url.rstrip("/")
    return trimmed if trimmed.endswith("/mcp") else f"{trimmed}/mcp"


def gateway_brief(record: AwsRecord | None) -> GatewayBrief | None:
    """What the plan and the report show of a gateway."""
    if record is None:
        return None
    return {
        "id": record["gatewayId"],
        "name": record["name"],
        "url": normalize_gateway_url(record["gatewayUrl"]) if record.get("gatewayUrl") else None,
        "status": record.get("status"),
        "authorizerType": record.get("authorizerType"),
        "authorizerConfiguration": record.get("authorizerConfiguration"),
    }


def runtime_update_request(
    runtime: AwsRecord,
    *,
    authorizer: dict[str, Any] | None = None,
    allowlist: list[str] | None = None,
    environment: dict[str, str] | None = None,
    artifact: dict[str, Any] | None = None,
) -> AwsRequest:
    """UpdateAgentRuntime is a full replace: send back every current setting, changing only what is asked.

    An authorizer is only ever sent to a runtime that has none: AgentCore answers "Authorizer already exists" to any
    authorizer sent to a runtime that has one (identical or not), and keeps the current one when it is left out.
    """
    # An empty string (e.g. no description) is "not set": botocore rejects "" for min-length-1 fields.
    request: dict[str, Any] = {
        field: copy.deepcopy(value)
        for field in runtime_update_fields()
        if (value := runtime.get(field)) not in (None, "")
    }
    request["agentRuntimeId"] = runtime["agentRuntimeId"]
    request.pop("authorizerConfiguration", None)
    current = runtime.get("authorizerConfiguration")
    if authorizer is not None and not current:
        request["authorizerConfiguration"] = authorizer
    elif authorizer is not None and authorizer != current:
        raise AuthorizerConflict(authorizer_conflict_message(runtime, authorizer))
    if allowlist is not None:
        request["requestHeaderConfiguration"] = {"requestHeaderAllowlist": allowlist}
    if environment is not None:
        request["environmentVariables"] = environment
    if artifact is not None:
        request["agentRuntimeArtifact"] = artifact
    return request


def runtime_restore_request(current: AwsRecord, target: AwsRecord, urls: dict[str, str] | None = None) -> AwsRequest:
    """The full replace that gives the runtime `target`'s configuration (a backed-up record: rollback and restore).
    `urls` maps old gateway URLs to new ones (gateways a restore re-created). An authorizer `target` had that is gone
    since is sent back; one added since stays (AgentCore refuses any authorizer sent to a runtime that has one)."""
    request = runtime_update_request({**target, "agentRuntimeId": current["agentRuntimeId"]})
    environment = request.get("environmentVariables")
    if environment is not None:
        request["environmentVariables"] = {
            name: (urls or {}).get(normalize_gateway_url(value), value) if value else value
            for name, value in environment.items()
        }
    if target.get("authorizerConfiguration") and not current.get("authorizerConfiguration"):
        request["authorizerConfiguration"] = target["authorizerConfiguration"]
    return request


def code_location(artifact: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(bucket, key) of a runtime's CodeZip, (None, None) for container runtimes."""
    s3 = (((artifact or {}).get("codeConfiguration") or {}).get("code") or {}).get("s3") or {}
    return s3.get("bucket"), s3.get("prefix")


def code_s3_location(artifact: dict[str, Any] | None) -> dict[str, Any]:
    """The {bucket, prefix, versionId?} of a runtime's CodeZip ({} for container runtimes)."""
    return dict((((artifact or {}).get("codeConfiguration") or {}).get("code") or {}).get("s3") or {})


def desired_code_configuration(desired: AgentArtifact) -> dict[str, Any]:
    """The codeConfiguration of a verified agentArtifact (rollout_core.artifact.verify_agent_artifact): its S3
    object (pinned to the verified version in a versioned bucket), and the runtime and entry point it was built for."""
    s3 = {"bucket": desired["s3Bucket"], "prefix": desired["s3Key"]}
    if desired.get("versionId"):
        s3["versionId"] = desired["versionId"]
    return {"code": {"s3": s3}, "runtime": desired["runtime"], "entryPoint": list(desired["entryPoint"])}


def runs_code(artifact: dict[str, Any] | None, desired: AgentArtifact) -> bool:
    """Whether a runtime runs the verified agentArtifact: the same object, runtime version and entry point."""
    code = (artifact or {}).get("codeConfiguration") or {}
    wanted = desired_code_configuration(desired)
    return (
        code_s3_location(artifact) == wanted["code"]["s3"]
        and code.get("runtime") == wanted["runtime"]
        and list(code.get("entryPoint") or []) == wanted["entryPoint"]
    )


def code_artifact(desired: AgentArtifact) -> dict[str, Any]:
    """The runtime artifact switched to a verified agentArtifact, with the runtime and entry point from its manifest
    (never the old ones: the zip's wheels only load on the runtime version it was built for)."""
    return {"codeConfiguration": desired_code_configuration(desired)}


def gateway_create_request(template: AwsRecord, name: str, authorizer: dict[str, Any]) -> AwsRequest:
    """CreateGateway for the replacement: the old gateway's settings with a CUSTOM_JWT authorizer."""
    request = {f: copy.deepcopy(template[f]) for f in gateway_clone_fields() if template.get(f) not in (None, "")}
    request.update(name=name, authorizerType="CUSTOM_JWT", authorizerConfiguration=authorizer)
    request.setdefault("protocolType", "MCP")
    return request


def gateway_carry_plan(template: AwsRecord, tags: dict[str, str]) -> CarryPlan:
    """What of the old gateway's settings CreateGateway cannot take, and how each reaches the replacement.

    `afterCreate.update`: UpdateGateway settings applied once the new gateway is READY; `afterCreate.tags`: TagResource
    (tags are not in GetGateway, so they are read with ListTagsForResource); `notCarried`: field names (never values)
    that no call can give the replacement - the plan and the report say so."""
    update = {
        f: copy.deepcopy(template[f])
        for f in sorted(gateway_post_create_fields())
        if template.get(f) not in (None, "", [], {})
    }
    carried_tags = {k: v for k, v in tags.items() if not k.lower().startswith(RESERVED_TAG_PREFIX)}
    not_carried = [f for f in gateway_uncarried_fields() if template.get(f) not in (None, "", [], {})]
    if len(carried_tags) < len(tags):
        not_carried.append(RESERVED_TAGS_ENTRY)
    after_create: AfterCreate | None = {"update": update, "tags": carried_tags} if update or carried_tags else None
    return {"afterCreate": after_create, "notCarried": sorted(not_carried)}


def gateway_update_request(
    current: AwsRecord, authorizer: dict[str, Any], settings: dict[str, Any] | None = None
) -> AwsRequest:
    """UpdateGateway (same CUSTOM_JWT type, new JWT settings), sending back every other current setting; `settings`
    replaces individual ones (e.g. those carried over from the old gateway)."""
    fields = _members("UpdateGateway", "in") & _members("GetGateway", "out")
    request = {f: copy.deepcopy(current[f]) for f in fields if current.get(f) not in (None, "")}
    request.update(copy.deepcopy(settings or {}))
    request.update(gatewayIdentifier=current["gatewayId"], authorizerConfiguration=authorizer)
    return request


def target_definition(target: AwsRecord) -> AwsRequest:
    """The re-creatable part of a target (what CreateGatewayTarget accepts)."""
    return {f: copy.deepcopy(target[f]) for f in target_clone_fields() if target.get(f) not in (None, "", [], {})}


@cache
def warranty_tool_schema() -> list[dict[str, Any]]:
    """The WarrantyCheck Lambda's MCP tool schema; the single copy lives beside this module."""
    text = resources.files("rollout_core").joinpath("warranty_schema.json").read_text(encoding="utf-8")
    return list(json.loads(text))


def warranty_target_definition(name: str, lambda_arn: str, description: str | None = None) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "name": name,
        "targetConfiguration": {
            "mcp": {
                "lambda": {
                    "lambdaArn": lambda_arn,
                    "toolSchema": {"inlinePayload": copy.deepcopy(warranty_tool_schema())},
                }
            }
        },
        "credentialProviderConfigurations": [{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    }
    if description:
        definition["description"] = description
    return definition


def target_lambda_arn(definition: dict[str, Any]) -> str | None:
    lambda_config = ((definition.get("targetConfiguration") or {}).get("mcp") or {}).get("lambda") or {}
    arn = lambda_config.get("lambdaArn")
    return str(arn) if arn else None


def targets_equivalent(actual: dict[str, Any], desired: dict[str, Any]) -> bool:
    keys = ("targetConfiguration", "credentialProviderConfigurations")
    return all(actual.get(k) == desired.get(k) for k in keys)
