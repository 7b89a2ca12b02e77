"""`make demo`: the whole offline story told with the `secure-rollout` CLI, the commands a newcomer types.

Each step runs `python -m secure_rollout ...` as a subprocess against `secure-rollout sandbox up` (its own process,
with a CloudTrail trail), prints it as `$ secure-rollout ...` with its output as it comes, and checks it:

1. `sandbox up`: the stack deployed, the tutorial's agent seeded - a runtime that takes IAM (SigV4) callers only,
   behind a gateway without an authorizer; `doctor` and `invoke --anonymous` show no JWT gets in;
2. `plan`, then `apply` followed live, `status`;
3. `invoke` with a minted token (200) and without (401), `doctor` (all OK);
4. `apply` again: a no-op;
5. `sandbox redeploy`: another tool's full-replace UpdateAgentRuntime drops the authorizer; CloudTrail's event
   reaches the stack's rule, whose rollout repairs it - `status` names the principal and the call;
6. `sandbox down` (always, also when a step fails).

The checks read the CLI's output (`--json` where it has it) and, independently, the sandbox's AWS APIs through its
endpoint. No secret (the client secret, any token) may appear in any output: lines are scanned before they are
shown. Exit code 0 only if every check passed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3

from secure_rollout.sandbox_state import CONTROL_PREFIX, CONTROL_TOKEN_HEADER, STATE_FILE, SandboxState

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 300  # bounds, not expectations: the sandbox starts in ~15 s on a quiet machine
RUN_TIMEOUT_SECONDS = 600
STOP_TIMEOUT_SECONDS = 120
JWT = re.compile(r"eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}")
SECURED_GATEWAY = "my-gateway-secure"
OPEN_GATEWAY = "my-gateway"
WARRANTY_TOOL = "WarrantyCheck___check_warranty"


@dataclass
class Checks:
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, label: str, ok: bool, detail: str = "") -> bool:
        self.results.append((label, ok, detail))
        mark = "PASS" if ok else "FAIL"
        print(f"  [{mark}] {label}{f' - {detail}' if detail else ''}", flush=True)
        return ok

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)


@dataclass
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError:
            return None


class Demo:
    """Runs the CLI as a user does, against the demo's own sandbox (its own SECURE_ROLLOUT_HOME)."""

    def __init__(self, home: Path, checks: Checks) -> None:
        self.home = home
        self.checks = checks
        self.env = os.environ | {"SECURE_ROLLOUT_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.env.setdefault("PYTHONPATH", f"{REPO_ROOT / 'layers' / 'rollout_core'}{os.pathsep}{REPO_ROOT}")
        self.state: SandboxState | None = None
        self.server: subprocess.Popen[str] | None = None
        self.leaks = 0

    # -- running the CLI -----------------------------------------------------------------------------------------

    def cli(self, *args: str, show_stdout: bool = True) -> Run:
        """`secure-rollout ARGS`, its output shown as it comes (stdout only when `show_stdout`: JSON is read, not
        shown), every line scanned for secrets first."""
        print(f"\n$ secure-rollout {' '.join(_quoted(a) for a in args)}", flush=True)
        secrets = self._secrets()
        process = subprocess.Popen(  # noqa: S603 - this interpreter, the CLI module, the demo's own args
            [sys.executable, "-m", "secure_rollout", *args],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out: list[str] = []
        err: list[str] = []
        readers = [
            threading.Thread(target=self._pump, args=(process.stdout, out, show_stdout, secrets), daemon=True),
            threading.Thread(target=self._pump, args=(process.stderr, err, True, secrets), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            returncode = process.wait(timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            returncode = process.wait(timeout=30)
        for reader in readers:
            reader.join(timeout=10)
        return Run(args, returncode, "".join(out), "".join(err))

    def _pump(self, stream: IO[str], into: list[str], show: bool, secrets: list[str]) -> None:
        for line in stream:
            leaked = [s for s in secrets if s and s in line] or JWT.findall(line)
            for secret in leaked:
                line = line.replace(secret, "<REDACTED SECRET>")
            if leaked:
                self.leaks += 1
            into.append(line)
            if show:
                print(f"  {line}", end="", flush=True)

    def _secrets(self) -> list[str]:
        """This fake account's client secret and every token its Cognito issued so far (tokens issued during a run
        are JWTs: the pattern catches those)."""
        if self.state is None:
            return []
        try:
            values: list[str] = self._control("credentials")["values"]
            return values
        except OSError:
            return []

    def _control(self, action: str) -> dict[str, Any]:
        assert self.state is not None
        request = urllib.request.Request(
            f"{self.state.endpoint}{CONTROL_PREFIX}/{action}", headers={CONTROL_TOKEN_HEADER: self.state.controlToken}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def client(self, service: str) -> Any:
        """The sandbox's AWS API, read directly: the independent side of the checks."""
        assert self.state is not None
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.state.region
        ).client(service, endpoint_url=self.state.endpoint_for(service))  # type: ignore[call-overload]

    # -- the sandbox's lifetime ----------------------------------------------------------------------------------

    def up(self) -> bool:
        print("\n$ secure-rollout sandbox up &", flush=True)
        log = (self.home / "sandbox-up.log").open("w")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "secure_rollout", "sandbox", "up"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        path = self.home / STATE_FILE
        while (state := SandboxState.read(path)) is None:
            if self.server.poll() is not None or time.monotonic() > deadline:
                log.close()
                print((self.home / "sandbox-up.log").read_text(), flush=True)
                return self.checks.check("`sandbox up` started the sandbox", False)
            time.sleep(0.5)
        self.state = state
        time.sleep(0.2)  # its ready lines follow the state file
        for line in (self.home / "sandbox-up.log").read_text().splitlines():
            print(f"  {line}")
        return self.checks.check("`sandbox up` started the sandbox", True, f"endpoint {state.endpoint}")

    def down(self) -> None:
        if self.server is None:
            return
        self.cli("sandbox", "down")
        try:
            self.server.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(timeout=30)
        self.server = None


def _quoted(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def _findings(run: Run) -> dict[str, dict[str, Any]]:
    document = run.json() or {}
    return {f["check"]: f for f in document.get("findings", [])}


def _gateways(demo: Demo) -> dict[str, str]:
    return {g["name"]: g["authorizerType"] for g in demo.client("bedrock-agentcore-control").list_gateways()["items"]}


def _runtime(demo: Demo) -> dict[str, Any]:
    control = demo.client("bedrock-agentcore-control")
    (summary,) = control.list_agent_runtimes()["agentRuntimes"]
    runtime: dict[str, Any] = control.get_agent_runtime(agentRuntimeId=summary["agentRuntimeId"])
    return runtime


# -- the story ---------------------------------------------------------------------------------------------------


def before_the_rollout(demo: Demo) -> None:
    print("\n-- the tutorial's starting point: who can call the agent? --")
    checks = demo.checks
    checks.check(
        f"the agent's gateway {OPEN_GATEWAY} has no authorizer: anyone with its URL can call its tools",
        _gateways(demo) == {OPEN_GATEWAY: "NONE"},
        str(_gateways(demo)),
    )
    sigv4 = _findings(demo.cli("doctor", "--sandbox", "--sigv4", "--json", show_stdout=False))
    method = sigv4.get("runtime.auth_method") or {}
    checks.check(
        "doctor --sigv4: the runtime takes IAM (SigV4) callers - no JWT authorizer",
        bool(method.get("ok")) and "SigV4" in str(method.get("detail")),
        str(method.get("detail")),
    )
    bearer = _findings(demo.cli("doctor", "--sandbox", "--json", show_stdout=False))
    refused = bearer.get("runtime.auth_method") or {}
    checks.check(
        "doctor: a bearer token is refused (403) - the runtime takes no JWT yet",
        refused.get("ok") is False and refused.get("status") == 403,
        str(refused.get("cause")),
    )
    check_answered(
        demo,
        "invoke --sigv4 (an IAM caller: the open runtime's only way in) is answered through the old gateway",
        "--sigv4",
        prompt="Check the warranty for PROD-002",
    )
    anonymous = demo.cli("invoke", "--sandbox", "--anonymous", "Check the warranty for PROD-002")
    checks.check(
        "invoke --anonymous is refused",
        anonymous.returncode != 0 and "Traceback" not in anonymous.stderr,
        (anonymous.stderr.strip().splitlines() or [""])[0],
    )


def check_answered(demo: Demo, label: str, *flags: str, prompt: str) -> None:
    """`invoke` answers 200 and the agent used the gateway's warranty tool."""
    answered = demo.cli("invoke", "--sandbox", *flags, prompt)
    demo.checks.check(
        label,
        answered.returncode == 0 and f"[200; tools used: {WARRANTY_TOOL}]" in answered.stderr,
        (answered.stderr.strip().splitlines() or [""])[-1],
    )


def rollout(demo: Demo) -> str | None:
    """plan, apply (live), status; the execution's name, or None if it did not succeed."""
    checks = demo.checks
    print("\n-- plan: what the rollout would change (a dry run) --")
    plan = demo.cli("plan", "--sandbox")
    planned = demo.cli("plan", "--sandbox", "--json", show_stdout=False).json() or {}
    actions = [str(a) for a in planned.get("actions") or []]
    checks.check(
        "plan: changes planned, nothing changed",
        plan.returncode == 0 and planned.get("plannedChanges") is True and planned.get("changed") is False,
        f"{len(actions)} action(s)",
    )
    checks.check("plan left the open gateway alone", _gateways(demo) == {OPEN_GATEWAY: "NONE"})

    print("\n-- apply: the rollout, followed live --")
    apply = demo.cli("apply", "--sandbox", "--reason", "secure the tutorial agent")
    if not checks.check("apply succeeded", apply.returncode == 0, f"exit code {apply.returncode}"):
        return None
    status = demo.cli("status", "--sandbox", "--json", show_stdout=False).json() or {}
    demo.cli("status", "--sandbox")
    report = status.get("report") or {}
    checks.check(
        "status: the latest execution SUCCEEDED, changed and verified",
        status.get("status") == "SUCCEEDED" and report.get("changed") is True,
        f"{status.get('execution')}: {status.get('status')}",
    )
    smoke = report.get("smoke") or {}
    codes = {k: (smoke.get(k) or {}).get("status") for k in ("withToken", "withoutToken", "tamperedToken")}
    checks.check(
        "the rollout's smoke test: token 2xx, none 401, tampered 401/403",
        200 <= (codes["withToken"] or 0) < 300
        and codes["withoutToken"] == 401
        and codes["tamperedToken"] in (401, 403),
        str(codes),
    )
    independent_check(demo)
    return str(status.get("execution"))


def independent_check(demo: Demo) -> None:
    """The end state read from the sandbox's AWS API, not from the rollout's report."""
    print("\n-- independent check of the end state (the sandbox's AWS API) --")
    checks = demo.checks
    runtime = _runtime(demo)
    jwt = (runtime.get("authorizerConfiguration") or {}).get("customJWTAuthorizer") or {}
    checks.check(
        "runtime has a CUSTOM_JWT authorizer for a Cognito client",
        bool(jwt.get("allowedClients")) and str(jwt.get("discoveryUrl", "")).endswith("/openid-configuration"),
    )
    allowlist = (runtime.get("requestHeaderConfiguration") or {}).get("requestHeaderAllowlist", [])
    checks.check("runtime forwards the Authorization header", "Authorization" in allowlist, str(allowlist))
    gateways = _gateways(demo)
    checks.check(
        f"only {SECURED_GATEWAY} is left, with CUSTOM_JWT", gateways == {SECURED_GATEWAY: "CUSTOM_JWT"}, str(gateways)
    )
    control = demo.client("bedrock-agentcore-control")
    gateway_id = next(g["gatewayId"] for g in control.list_gateways()["items"] if g["name"] == SECURED_GATEWAY)
    targets = sorted(t["name"] for t in control.list_gateway_targets(gatewayIdentifier=gateway_id)["items"])
    checks.check("every target carried over", targets == ["ShippingEstimate", "WarrantyCheck"], ", ".join(targets))
    url = control.get_gateway(gatewayIdentifier=gateway_id)["gatewayUrl"]
    env = runtime.get("environmentVariables") or {}
    checks.check(
        "runtime env AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL points at it, AGENTCORE_GATEWAY_NAME names it",
        env.get("AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL") == url
        and env.get("AGENTCORE_GATEWAY_NAME") == SECURED_GATEWAY,
        url,
    )


def call_the_secured_agent(demo: Demo) -> None:
    print("\n-- call the secured agent --")
    checks = demo.checks
    check_answered(
        demo,
        "invoke with a minted token: 200, the warranty tool answered through the secured gateway",
        prompt="Check the warranty for PROD-001",
    )
    anonymous = demo.cli("invoke", "--sandbox", "--anonymous", "Hi")
    checks.check(
        "invoke without a token: 401",
        anonymous.returncode != 0 and "the runtime answered 401" in anonymous.stderr,
        (anonymous.stderr.strip().splitlines() or [""])[0],
    )
    demo.cli("doctor", "--sandbox", "--mint")
    doctor = demo.cli("doctor", "--sandbox", "--mint", "--json", show_stdout=False)
    report = doctor.json() or {}
    checks.check(
        "doctor --mint: every check OK, runtime and gateway would let the call in",
        doctor.returncode == 0
        and report.get("ok") is True
        and report.get("outcome") == {"runtime": None, "gateway": None},
        f"{len(report.get('findings') or [])} checks",
    )


def apply_again(demo: Demo) -> None:
    print("\n-- apply again: nothing left to do --")
    before = _versions(demo)
    again = demo.cli("apply", "--sandbox")
    status = demo.cli("status", "--sandbox", "--json", show_stdout=False).json() or {}
    report = status.get("report") or {}
    demo.checks.check(
        "second apply succeeded",
        again.returncode == 0 and status.get("status") == "SUCCEEDED",
        str(status.get("execution")),
    )
    demo.checks.check("second apply reports changed: false", report.get("changed") is False, str(report.get("actions")))
    after = _versions(demo)
    demo.checks.check(
        "the runtime and the gateway were not touched (independent read: same version, same update time)",
        before == after,
        str(after),
    )


def _versions(demo: Demo) -> dict[str, str]:
    """The runtime's version and every gateway's last update: any AgentCore write changes one of them."""
    control = demo.client("bedrock-agentcore-control")
    found = {"runtime": str(_runtime(demo).get("agentRuntimeVersion"))}
    for gateway in control.list_gateways()["items"]:
        found[gateway["name"]] = str(gateway.get("updatedAt"))
        for target in control.list_gateway_targets(gatewayIdentifier=gateway["gatewayId"])["items"]:
            found[f"{gateway['name']}/{target['name']}"] = str(target.get("updatedAt"))
    return found


def redeploy_and_repair(demo: Demo, first: str | None) -> None:
    print("\n-- someone redeploys the agent with another tool (no authorizer in their config) --")
    checks = demo.checks
    before = {item.get("name") for item in _recent(demo)}
    redeploy = demo.cli("sandbox", "redeploy")
    checks.check(
        "sandbox redeploy: the runtime lost its authorizer, CloudTrail's event started a repair that succeeded",
        redeploy.returncode == 0
        and "authorizer now: none" in redeploy.stdout
        and "CloudTrail -> the stack's rule started" in redeploy.stdout,
        f"exit code {redeploy.returncode}",
    )
    demo.cli("status", "--sandbox")
    status = demo.cli("status", "--sandbox", "--json", show_stdout=False).json() or {}
    trigger = status.get("trigger") or {}
    drift = str(((status.get("report") or {}).get("drift") or {}).get("cause"))
    checks.check(
        "status: the repair rollout SUCCEEDED, a new execution",
        status.get("status") == "SUCCEEDED" and status.get("execution") not in (None, first),
        str(status.get("execution")),
    )
    checks.check(
        "its trigger names the principal and the call",
        "assumed-role/DeveloperRole/" in str(trigger.get("by")) and trigger.get("call") == "UpdateAgentRuntime",
        f"{trigger.get('call')} by {trigger.get('by')}",
    )
    checks.check("its report's drift names them too", "DeveloperRole" in drift and "via UpdateAgentRuntime" in drift)
    runtime = _runtime(demo)
    checks.check(
        "the runtime is secured again (independent read)",
        bool((runtime.get("authorizerConfiguration") or {}).get("customJWTAuthorizer")),
    )
    anonymous = demo.cli("invoke", "--sandbox", "--anonymous", "Hi")
    checks.check("a call without a token is refused again (401)", "the runtime answered 401" in anonymous.stderr)
    started = [item.get("name") for item in _recent(demo) if item.get("name") not in before]
    checks.check(
        "the redeploy started exactly one rollout: the repair's own writes started none",
        started == [status.get("execution")],
        ", ".join(map(str, started)),
    )


def _recent(demo: Demo) -> list[dict[str, Any]]:
    recent: list[dict[str, Any]] = demo.cli("status", "--sandbox", "--list", "--json", show_stdout=False).json() or []
    return recent


def main() -> int:
    started = time.perf_counter()
    checks = Checks()
    print("== AgentCore Secure Rollout - the offline demo, with the secure-rollout CLI ==")
    with tempfile.TemporaryDirectory(prefix="secure-rollout-demo-") as home:
        demo = Demo(Path(home), checks)
        try:
            if demo.up():
                before_the_rollout(demo)
                first = rollout(demo)
                if first is not None:
                    call_the_secured_agent(demo)
                    apply_again(demo)
                    redeploy_and_repair(demo, first)
        finally:
            demo.down()
        checks.check("no secret (client secret, token) in any output", demo.leaks == 0, f"{demo.leaks} line(s)")
    print(f"\n{'ALL CHECKS PASSED' if checks.passed else 'SOME CHECKS FAILED'} in {time.perf_counter() - started:.1f}s")
    return 0 if checks.passed else 1


if __name__ == "__main__":
    sys.exit(main())
