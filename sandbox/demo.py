"""`make demo`: the whole secure rollout against the offline sandbox, shown as it happens.

1. start the sandbox (moto account + Cognito + AgentCore data plane on 127.0.0.1), deploy template.yaml, seed the
   tutorial's starting point - and show that the agent answers IAM (SigV4) callers through a gateway anyone can call;
2. run the rollout with live progress (each state as it starts and ends, with timings);
3. print the report and an independent check of the end state;
4. run the rollout again and show it was a no-op;
5. simulate a redeploy by another tool that drops the authorizer, and show the automatic repair (CloudTrail event ->
   the stack's EventBridge rule -> a rollout), with the principal and the call in its report.
Exit code 0 only if every step and check passed.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.callers import redeploy_without_authorizer
from sandbox.core import Sandbox
from sandbox.runtime_dataplane import SIGNING_SERVICE
from sandbox.sigv4 import sign


@dataclass
class Checks:
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, label: str, ok: bool, detail: str = "") -> None:
        self.results.append((label, ok, detail))
        mark = "PASS" if ok else "FAIL"
        print(f"  [{mark}] {label}{f' - {detail}' if detail else ''}")

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.results)


class ProgressPrinter:
    """Turns execution-history events into one line per state start/end, with elapsed times."""

    def __init__(self) -> None:
        self.started_at: datetime | None = None
        self.entered: dict[str, list[datetime]] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        stamp: datetime = event["timestamp"]
        if self.started_at is None:
            self.started_at = stamp
        elapsed = (stamp - self.started_at).total_seconds()
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            self.entered.setdefault(name, []).append(stamp)
            print(f"  {elapsed:6.2f}s  > {name}")
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            began = self.entered.get(name, [stamp]).pop() if self.entered.get(name) else stamp
            took = (stamp - began).total_seconds() * 1000
            print(f"  {elapsed:6.2f}s  < {name} ({took:.0f} ms)")
        elif kind in ("LambdaFunctionFailed", "TaskFailed", "ExecutionFailed"):
            details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            print(f"  {elapsed:6.2f}s  ! {kind}: {details.get('error')}")


WARRANTY_TOOL = "WarrantyCheck___check_warranty"


def _call_runtime(sandbox: Sandbox, bearer: str | None, prompt: str = "Hi", *, sigv4: bool = False) -> int:
    """HTTP status of one invocation: with a bearer token, SigV4-signed as the seeded IAM caller, or neither."""
    arn = urllib.parse.quote(sandbox.seeded.runtime_arn, safe="")
    url = f"{sandbox.runtime_plane.base_url}/runtimes/{arn}/invocations?qualifier=DEFAULT"
    headers = {
        "Content-Type": "application/json",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": f"demo-independent-check-{uuid.uuid4()}",
    }
    body = json.dumps({"prompt": prompt}).encode()
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    elif sigv4:
        headers = sign("POST", url, headers, body, sandbox.caller_credentials(), sandbox.region, SIGNING_SERVICE)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _warranty_calls(sandbox: Sandbox, gateway_name: str) -> list[Any]:
    return [c for c in sandbox.gateway_plane.calls if c.gateway_name == gateway_name and c.tool_name == WARRANTY_TOOL]


def _mint_token(sandbox: Sandbox) -> str:
    cognito = sandbox.client("cognito-idp")
    secret = cognito.describe_user_pool_client(UserPoolId=sandbox.seeded.pool_id, ClientId=sandbox.seeded.client_id)[
        "UserPoolClient"
    ]["ClientSecret"]
    body = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": sandbox.seeded.client_id,
            "client_secret": secret,
            "scope": "customersupport/invoke",
        }
    ).encode()
    request = urllib.request.Request(f"{sandbox.cognito.base_url}/oauth2/token", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])


def independent_check(sandbox: Sandbox, report: dict[str, Any], checks: Checks) -> None:
    control = sandbox.client("bedrock-agentcore-control")
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    jwt = (runtime.get("authorizerConfiguration") or {}).get("customJWTAuthorizer", {})
    checks.check(
        "runtime has a CUSTOM_JWT authorizer for the Cognito client",
        sandbox.seeded.client_id in jwt.get("allowedClients", [])
        and jwt.get("discoveryUrl", "").endswith(f"/{sandbox.seeded.pool_id}/.well-known/openid-configuration"),
    )
    allowlist = (runtime.get("requestHeaderConfiguration") or {}).get("requestHeaderAllowlist", [])
    checks.check("runtime forwards the Authorization header", "Authorization" in allowlist, str(allowlist))
    env = runtime.get("environmentVariables") or {}
    kept = {k: v for k, v in sandbox.seeded.runtime_environment.items() if env.get(k) == v}
    checks.check(
        "runtime kept its other settings",
        len(kept) == len(sandbox.seeded.runtime_environment) and runtime.get("description", "") != "",
        f"{len(kept)}/{len(sandbox.seeded.runtime_environment)} env vars, description, protocol",
    )
    gateways = {g["name"]: g for g in control.list_gateways()["items"]}
    new = gateways.get("my-gateway-secure")
    checks.check(
        "gateway my-gateway-secure exists with CUSTOM_JWT", bool(new and new["authorizerType"] == "CUSTOM_JWT")
    )
    checks.check("old gateway my-gateway is gone", "my-gateway" not in gateways)
    if new:
        detail = control.get_gateway(gatewayIdentifier=new["gatewayId"])
        targets = sorted(t["name"] for t in control.list_gateway_targets(gatewayIdentifier=new["gatewayId"])["items"])
        checks.check("every target carried over", targets == ["ShippingEstimate", "WarrantyCheck"], ", ".join(targets))
        checks.check(
            "runtime env AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL points at it, AGENTCORE_GATEWAY_NAME names it",
            env.get("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL") == detail["gatewayUrl"]
            and env.get("AGENTCORE_GATEWAY_NAME") == "my-gateway-secure",
            detail["gatewayUrl"],
        )
    smoke = report.get("smoke") or {}
    codes = {k: (smoke.get(k) or {}).get("status") for k in ("withToken", "withoutToken", "tamperedToken")}
    checks.check(
        "smoke test: token 2xx, none 401, tampered 401/403",
        200 <= (codes["withToken"] or 0) < 300
        and codes["withoutToken"] == 401
        and codes["tamperedToken"] in (401, 403),
        str(codes),
    )
    token = _mint_token(sandbox)
    status_with = _call_runtime(sandbox, token)
    del token
    status_without = _call_runtime(sandbox, None)
    checks.check("data plane (called directly): token -> 200, none -> 401", (status_with, status_without) == (200, 401))
    gateway = smoke.get("gateway") or {}
    gateway_codes = {k: (gateway.get(k) or {}).get("status") for k in ("withoutToken", "tamperedToken", "toolsCall")}
    checks.check(
        "smoke test on the gateway itself: none 401, tampered 401/403, tools/call with the token 2xx",
        gateway_codes["withoutToken"] == 401
        and gateway_codes["tamperedToken"] in (401, 403)
        and 200 <= (gateway_codes["toolsCall"] or 0) < 300
        and not (gateway.get("toolsCall") or {}).get("isError", True),
        str(gateway_codes),
    )
    warranty = smoke.get("warranty") or {}
    calls = _warranty_calls(sandbox, "my-gateway-secure")
    # Two tool calls, both as the calling client: the agent's (with the caller's token) and the smoke test's own.
    checks.check(
        "warranty answer came through the secured gateway, as the calling client",
        WARRANTY_TOOL in warranty.get("toolsUsed", [])
        and [(c.status, c.client_id) for c in calls] == [(200, sandbox.seeded.client_id)] * 2,
        ", ".join(f"{c.method} {c.tool_name} by client {c.client_id} -> HTTP {c.status}" for c in calls),
    )


def redeploy_and_repair(sandbox: Sandbox, checks: Checks) -> None:
    """An outside principal's full-replace UpdateAgentRuntime drops the authorizer; CloudTrail's event reaches the
    stack's rule, whose rollout puts it back - no operator involved."""
    sandbox.behaviour.faults.omitted_authorizer_clears = True  # the account where an omitted authorizer is cleared
    already = len(sandbox.events.started_executions)
    redeploy_without_authorizer(sandbox)
    control = sandbox.client("bedrock-agentcore-control")
    opened = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id).get("authorizerConfiguration")
    print(f"  after the redeploy the runtime's authorizer is {opened}")
    started = sandbox.events.started_executions[already:]
    checks.check("the redeploy started exactly one rollout (CloudTrail -> EventBridge rule)", len(started) == 1)
    if not started:
        return
    repair = sandbox.wait(started[0], timeout=300, on_event=ProgressPrinter())
    report = json.loads(repair.get("output") or "{}")
    print(f"  trigger: {report.get('triggeredBy')}")
    print(f"  drift:   {(report.get('drift') or {}).get('cause')}")
    secured = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id).get("authorizerConfiguration")
    checks.check("the repair rollout succeeded", repair["status"] == "SUCCEEDED", str(repair.get("cause") or ""))
    drift_cause = (report.get("drift") or {}).get("cause")
    checks.check("the report names the principal and the call", "via UpdateAgentRuntime" in str(drift_cause))
    checks.check("the runtime is secured again", bool(secured), json.dumps(secured))
    checks.check("a call without a token is refused again", _call_runtime(sandbox, None) == 401)
    checks.check("the repair's own writes started nothing", len(sandbox.events.started_executions) == already + 1)


def main() -> int:
    started = time.perf_counter()
    checks = Checks()
    print("== AgentCore Secure Rollout - offline demo ==")
    with Sandbox(poll_seconds=0, trail=True) as sandbox:
        print(f"sandbox ready in {time.perf_counter() - started:.1f}s: stack {sandbox.stack_name} deployed, ")
        print(f"  tutorial seeded: runtime {sandbox.seeded.runtime_id}, gateway my-gateway (authorizer NONE)")
        print(f"  Cognito on {sandbox.cognito.base_url}, AgentCore data plane on {sandbox.runtime_plane.base_url}")
        before = _call_runtime(sandbox, None, "Check the warranty for PROD-002", sigv4=True)
        open_calls = _warranty_calls(sandbox, "my-gateway")
        print(f"  before the rollout, the runtime takes IAM (SigV4) callers only: a signed call gets HTTP {before},")
        print(f"  and its warranty tool ran through the open gateway {len(open_calls)} time(s) for an unknown caller")
        print("  (the gateway has no authorizer: anyone who has its URL can call its tools)")

        print("\n-- rollout 1 --")
        progress = ProgressPrinter()
        first = sandbox.wait(sandbox.start_rollout({}), on_event=progress)
        print(f"execution {first['status']}")
        if first["status"] != "SUCCEEDED":
            print(f"  error: {first.get('error')}\n  cause: {first.get('cause')}")
            return 1
        report = json.loads(first["output"])
        print(json.dumps(report, indent=2))

        print("\n-- independent check of the end state --")
        independent_check(sandbox, report, checks)

        print("\n-- rollout 2 (nothing left to do) --")
        mutations_before = len(sandbox.behaviour.mutations)
        second = sandbox.wait(sandbox.start_rollout({}), on_event=ProgressPrinter())
        second_report = json.loads(second.get("output") or "{}")
        made = sandbox.behaviour.mutations[mutations_before:]
        checks.check("second rollout succeeded", second["status"] == "SUCCEEDED")
        checks.check("second rollout reports changed: false", second_report.get("changed") is False)
        checks.check("second rollout made zero mutating AgentCore calls", not made, ", ".join(made) or "none")

        print("\n-- someone redeploys the agent with another tool (no authorizer in their config) --")
        redeploy_and_repair(sandbox, checks)

    print(f"\n{'ALL CHECKS PASSED' if checks.passed else 'SOME CHECKS FAILED'} in {time.perf_counter() - started:.1f}s")
    return 0 if checks.passed else 1


if __name__ == "__main__":
    sys.exit(main())
