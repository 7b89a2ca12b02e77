"""What a secured end state and the rollout's reports must look like, as lists of problems.

Shared by the real-account suite (tests/aws) and the sandbox (tests/workflow/test_rollout_checks.py proves these
checks pass on the offline rollout), so both worlds are held to the same checks. Everything here reads through a
bedrock-agentcore-control client and the execution's report; nothing needs the sandbox. No check reads or prints a
secret: reports carry only status codes, tool names and redacted excerpts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

AUTHORIZATION = "Authorization"
CREDENTIAL_PROVIDERS = [{"credentialProviderType": "GATEWAY_IAM_ROLE"}]
WARRANTY_TOOL = "check_warranty"
MCP_PROTOCOL_VERSION = "2025-03-26"  # what AgentCore gateways have negotiated since launch
# Runtime settings a full-replace update must send back unchanged.
PRESERVED_RUNTIME_FIELDS = (
    "description",
    "roleArn",
    "networkConfiguration",
    "protocolConfiguration",
    "lifecycleConfiguration",
)
# Settings the new gateway clones from the old one.
CLONED_GATEWAY_FIELDS = ("roleArn", "protocolConfiguration", "description")
# The state before the first change; a no-op run never enters it.
MUTATING_STATE = "Backup"
# How a no-op run ends: verified, reported.
NO_OP_END = ["SmokeTest", "AfterVerify", "Report", "ReleaseLock", "RolloutSucceeded"]


@dataclass(frozen=True)
class Expected:
    """The desired end state, and the starting point (read before the rollout) whose settings must survive it."""

    runtime_id: str
    client_id: str
    discovery_url: str
    old_gateway_name: str
    gateway_name: str
    warranty_target: str
    warranty_lambda_arn: str
    gateway_url_env_var: str
    runtime_before: Mapping[str, Any]  # GetAgentRuntime of the starting point
    old_gateway_before: Mapping[str, Any]  # GetGateway of the open gateway
    target_names_before: tuple[str, ...]  # its targets: every one must be on the new gateway
    # Offline the model is deterministic, so the answers' wording is checked too; Bedrock words them as it likes.
    exact_answers: bool = False

    @property
    def warranty_tool(self) -> str:
        return f"{self.warranty_target}___{WARRANTY_TOOL}"


def find_gateway(control: Any, name: str) -> dict[str, Any] | None:
    """The gateway summary with this name (every page of ListGateways), or None."""
    token: str | None = None
    while True:
        page = control.list_gateways(maxResults=100, **({"nextToken": token} if token else {}))
        for item in page.get("items", []):
            if item.get("name") == name:
                return dict(item)
        token = page.get("nextToken")
        if not token:
            return None


def list_targets(control: Any, gateway_id: str) -> list[dict[str, Any]]:
    """Every target of the gateway, full records (GetGatewayTarget)."""
    summaries: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = control.list_gateway_targets(
            gatewayIdentifier=gateway_id, maxResults=100, **({"nextToken": token} if token else {})
        )
        summaries += page.get("items", [])
        token = page.get("nextToken")
        if not token:
            break
    return [dict(control.get_gateway_target(gatewayIdentifier=gateway_id, targetId=t["targetId"])) for t in summaries]


def _allowlist(runtime: Mapping[str, Any]) -> list[str]:
    return list((runtime.get("requestHeaderConfiguration") or {}).get("requestHeaderAllowlist") or [])


def _jwt(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return (record.get("authorizerConfiguration") or {}).get("customJWTAuthorizer") or {}


def snapshot(control: Any, expected: Expected) -> dict[str, Any]:
    """What a no-op run must leave exactly as it was: versions and update times of everything the rollout owns."""
    runtime = control.get_agent_runtime(agentRuntimeId=expected.runtime_id)
    state: dict[str, Any] = {
        "runtime": {k: runtime.get(k) for k in ("agentRuntimeVersion", "lastUpdatedAt", "status")},
    }
    for name in (expected.old_gateway_name, expected.gateway_name):
        found = find_gateway(control, name)
        if found is None:
            state[name] = None
            continue
        gateway = control.get_gateway(gatewayIdentifier=found["gatewayId"])
        state[name] = {
            "gateway": {k: gateway.get(k) for k in ("gatewayId", "updatedAt", "status", "authorizerType")},
            "targets": sorted(
                (t["name"], t["targetId"], str(t.get("updatedAt")), t.get("status"))
                for t in list_targets(control, found["gatewayId"])
            ),
        }
    return state


def untouched_problems(control: Any, expected: Expected) -> list[str]:
    """After a dry run: the starting point exactly as it was."""
    problems = []
    runtime = control.get_agent_runtime(agentRuntimeId=expected.runtime_id)
    if runtime.get("authorizerConfiguration") != expected.runtime_before.get("authorizerConfiguration"):
        problems.append("runtime authorizer changed")
    if _allowlist(runtime) != _allowlist(expected.runtime_before):
        problems.append("runtime requestHeaderAllowlist changed")
    if runtime.get("environmentVariables") != expected.runtime_before.get("environmentVariables"):
        problems.append("runtime environment variables changed")
    if runtime.get("agentRuntimeVersion") != expected.runtime_before.get("agentRuntimeVersion"):
        problems.append(
            f"runtime version moved from {expected.runtime_before.get('agentRuntimeVersion')} to "
            f"{runtime.get('agentRuntimeVersion')}"
        )
    old = find_gateway(control, expected.old_gateway_name)
    if old is None:
        problems.append(f"old gateway {expected.old_gateway_name} is gone")
    elif control.get_gateway(gatewayIdentifier=old["gatewayId"]).get(
        "authorizerType"
    ) != expected.old_gateway_before.get("authorizerType"):
        problems.append(f"old gateway {expected.old_gateway_name} authorizer type changed")
    if expected.gateway_name != expected.old_gateway_name and find_gateway(control, expected.gateway_name):
        problems.append(f"gateway {expected.gateway_name} was created")
    return problems


def end_state_problems(control: Any, expected: Expected) -> list[str]:
    """The runtime and the new gateway, read back from the control plane, against the desired state."""
    problems: list[str] = []
    runtime = control.get_agent_runtime(agentRuntimeId=expected.runtime_id)
    if runtime.get("status") != "READY":
        problems.append(f"runtime status is {runtime.get('status')}, expected READY")
    jwt = _jwt(runtime)
    if jwt.get("allowedClients") != [expected.client_id]:
        problems.append(f"runtime allowedClients is {jwt.get('allowedClients')}, expected [{expected.client_id!r}]")
    if jwt.get("discoveryUrl") != expected.discovery_url:
        problems.append(f"runtime discoveryUrl is {jwt.get('discoveryUrl')!r}, expected {expected.discovery_url!r}")
    allowlist = _allowlist(runtime)
    if AUTHORIZATION not in allowlist or not set(_allowlist(expected.runtime_before)) <= set(allowlist):
        problems.append(f"runtime requestHeaderAllowlist is {allowlist}, expected Authorization and the earlier ones")
    for key in PRESERVED_RUNTIME_FIELDS:
        if runtime.get(key) != expected.runtime_before.get(key):
            problems.append(f"runtime {key} changed from {expected.runtime_before.get(key)!r} to {runtime.get(key)!r}")
    code_before = (expected.runtime_before.get("agentRuntimeArtifact") or {}).get("codeConfiguration") or {}
    code_after = (runtime.get("agentRuntimeArtifact") or {}).get("codeConfiguration") or {}
    if code_after.get("entryPoint") != code_before.get("entryPoint"):
        problems.append(f"runtime entryPoint changed to {code_after.get('entryPoint')}")
    environment = runtime.get("environmentVariables") or {}
    for key, value in (expected.runtime_before.get("environmentVariables") or {}).items():
        if environment.get(key) != value:
            problems.append(f"runtime environment variable {key} was not kept")

    if expected.old_gateway_name != expected.gateway_name and find_gateway(control, expected.old_gateway_name):
        problems.append(f"old gateway {expected.old_gateway_name} still exists")
    found = find_gateway(control, expected.gateway_name)
    if found is None:
        return [*problems, f"gateway {expected.gateway_name} does not exist"]
    gateway = control.get_gateway(gatewayIdentifier=found["gatewayId"])
    if gateway.get("status") != "READY" or gateway.get("authorizerType") != "CUSTOM_JWT":
        problems.append(
            f"gateway is {gateway.get('status')}/{gateway.get('authorizerType')}, expected READY/CUSTOM_JWT"
        )
    if gateway.get("authorizerConfiguration") != runtime.get("authorizerConfiguration"):
        problems.append("gateway authorizer differs from the runtime's")
    url = str(gateway.get("gatewayUrl") or "")
    if not url.endswith("/mcp"):
        problems.append(f"gateway URL {url!r} does not end with /mcp")
    if environment.get(expected.gateway_url_env_var) != url:
        problems.append(f"runtime env {expected.gateway_url_env_var} does not point at the new gateway URL")
    for key in CLONED_GATEWAY_FIELDS:
        if gateway.get(key) != expected.old_gateway_before.get(key):
            problems.append(f"gateway {key} was not cloned from the old gateway")

    targets = {t["name"]: t for t in list_targets(control, gateway["gatewayId"])}
    wanted = sorted({*expected.target_names_before, expected.warranty_target})
    if sorted(targets) != wanted:
        problems.append(f"gateway targets are {sorted(targets)}, expected {wanted}")
    not_ready = sorted(name for name, t in targets.items() if t.get("status") != "READY")
    if not_ready:
        problems.append(f"targets not READY: {not_ready}")
    warranty = targets.get(expected.warranty_target)
    if warranty is not None:
        lambda_config = ((warranty.get("targetConfiguration") or {}).get("mcp") or {}).get("lambda") or {}
        if lambda_config.get("lambdaArn") != expected.warranty_lambda_arn:
            problems.append(f"target {expected.warranty_target} does not call {expected.warranty_lambda_arn}")
        tools = (lambda_config.get("toolSchema") or {}).get("inlinePayload") or []
        if [t.get("name") for t in tools] != [WARRANTY_TOOL]:
            problems.append(f"target {expected.warranty_target} tools are {[t.get('name') for t in tools]}")
        if warranty.get("credentialProviderConfigurations") != CREDENTIAL_PROVIDERS:
            problems.append(f"target {expected.warranty_target} does not use the gateway's IAM role")
    return problems


def dry_run_problems(report: Mapping[str, Any], expected: Expected) -> list[str]:
    problems = []
    if report.get("dryRun") is not True or report.get("changed") is not False:
        problems.append(f"dry run report: dryRun={report.get('dryRun')} changed={report.get('changed')}")
    if report.get("plannedChanges") is not True:
        problems.append("dry run planned no changes")
    actions = list(report.get("actions") or [])
    for action in (
        f"create gateway {expected.gateway_name} with CUSTOM_JWT authorizer",
        f"delete old gateway {expected.old_gateway_name} and its targets",
    ):
        if action not in actions:
            problems.append(f"dry run does not plan {action!r} (plans {actions})")
    return problems


def smoke_problems(smoke: Mapping[str, Any] | None, expected: Expected) -> list[str]:
    """The smoke test's results in a report: 2xx with a token, 401 without, 401/403 tampered, the gateway tool used."""
    if not isinstance(smoke, Mapping):
        return [f"report has no smoke results ({smoke!r})"]
    problems = []
    with_token, without, tampered = (smoke.get(k) or {} for k in ("withToken", "withoutToken", "tamperedToken"))
    if not 200 <= int(with_token.get("status") or 0) < 300 or not with_token.get("streamedBytes"):
        problems.append(f"with a token: status {with_token.get('status')}, {with_token.get('streamedBytes')} bytes")
    if without.get("status") != 401 or without.get("wwwAuthenticate") is not True:
        problems.append(
            f"without a token: status {without.get('status')}, WWW-Authenticate {without.get('wwwAuthenticate')}"
        )
    if tampered.get("status") not in (401, 403):
        problems.append(f"with a tampered token: status {tampered.get('status')}")
    warranty = smoke.get("warranty") or {}
    tools = list(warranty.get("toolsUsed") or [])
    if not 200 <= int(warranty.get("status") or 0) < 300 or expected.warranty_tool not in tools:
        problems.append(f"warranty question: status {warranty.get('status')}, tools {tools}")
    if expected.exact_answers:
        if "30 days" not in str(with_token.get("answerExcerpt")):
            problems.append("the return-policy answer does not say 30 days")
        if tools != [expected.warranty_tool] or "PROD-001" not in str(warranty.get("answerExcerpt")):
            problems.append(f"warranty answer: tools {tools}, excerpt does not name PROD-001")
    return problems


def rollout_report_problems(report: Mapping[str, Any], expected: Expected) -> list[str]:
    problems = []
    if report.get("changed") is not True or report.get("verified") is not True or report.get("dryRun") is not False:
        problems.append(
            f"report: changed={report.get('changed')} verified={report.get('verified')} dryRun={report.get('dryRun')}"
        )
    runtime = report.get("runtime") or {}
    authorizer = runtime.get("authorizer") or {}
    if authorizer.get("before") != expected.runtime_before.get("authorizerConfiguration"):
        problems.append("report: runtime authorizer 'before' is not the starting point's")
    if _jwt({"authorizerConfiguration": authorizer.get("after")}).get("allowedClients") != [expected.client_id]:
        problems.append("report: runtime authorizer 'after' does not allow exactly the app client")
    allowlist = runtime.get("requestHeaderAllowlist") or {}
    if allowlist.get("before") != _allowlist(expected.runtime_before) or AUTHORIZATION not in (
        allowlist.get("after") or []
    ):
        problems.append(f"report: requestHeaderAllowlist {allowlist}")
    gateway = report.get("gateway") or {}
    before, after = gateway.get("before") or {}, gateway.get("after") or {}
    if (before.get("name"), before.get("authorizerType")) != (
        expected.old_gateway_name,
        expected.old_gateway_before.get("authorizerType"),
    ):
        problems.append(f"report: gateway before is {before.get('name')}/{before.get('authorizerType')}")
    if (after.get("name"), after.get("authorizerType")) != (expected.gateway_name, "CUSTOM_JWT"):
        problems.append(f"report: gateway after is {after.get('name')}/{after.get('authorizerType')}")
    targets = report.get("targets") or {}
    if list(targets.get("before") or []) != sorted(expected.target_names_before):
        problems.append(f"report: targets before {targets.get('before')}")
    after_names = [t.get("name") for t in targets.get("after") or []]
    if after_names != sorted({*expected.target_names_before, expected.warranty_target}):
        problems.append(f"report: targets after {after_names}")
    if report.get("oldGatewayDeleted") is not True:
        problems.append("report: old gateway not deleted")
    return problems + smoke_problems(report.get("smoke"), expected)


def states_entered(history: Iterable[Mapping[str, Any]]) -> list[str]:
    """State names in the order an execution entered them (from GetExecutionHistory events)."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def no_op_problems(
    report: Mapping[str, Any],
    states: list[str],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    expected: Expected,
) -> list[str]:
    """A re-run with nothing to change: nothing planned, no mutating state, everything as it was, still verified."""
    problems = []
    if report.get("changed") is not False or report.get("actions") != []:
        problems.append(f"re-run: changed={report.get('changed')} actions={report.get('actions')}")
    if report.get("verified") is not True:
        problems.append("re-run: not verified")
    if MUTATING_STATE in states:
        problems.append(f"re-run entered {MUTATING_STATE}")
    if states[-len(NO_OP_END) :] != NO_OP_END:
        problems.append(f"re-run ended with states {states[-len(NO_OP_END) :]}, expected {', '.join(NO_OP_END)}")
    if before != after:
        problems.append(f"re-run changed versions or update times: {before} -> {after}")
    return problems + smoke_problems(report.get("smoke"), expected)


def mcp_initialize(client_name: str, protocol_version: str = MCP_PROTOCOL_VERSION) -> dict[str, Any]:
    """The JSON-RPC `initialize` request any MCP client sends a gateway first."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1"},
        },
    }
