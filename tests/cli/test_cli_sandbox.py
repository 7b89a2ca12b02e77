"""The secure-rollout CLI against a running offline sandbox, as an operator uses it: plan, a rejected rollout, a
failing rollout (a fault injected into AgentCore), an approved rollout followed live, status, logs, invoke, and
rollback/restore - then the one-line errors. The tests run in this order on one sandbox (each rollout is slow)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from secure_rollout.sandbox_state import STATE_FILE, SandboxState
from tests.cli.helpers import CliRun, CliSandbox, cli_env, run_cli

PLAN_ACTIONS = [
    "~ secure runtime CustomerSupport: CUSTOM_JWT authorizer + Authorization allowlist",
    "+ create gateway my-gateway-secure with CUSTOM_JWT authorizer",
    "+ create target ShippingEstimate",
    "+ create target WarrantyCheck",
    "- delete old gateway my-gateway and its targets",
]
STATE_ENTERED = re.compile(r"^\s*\d+\.\ds  > (\w+)")
STATE_LEFT = re.compile(r"^\s*\d+\.\ds  < (\w+) \(\d+\.\ds\)$")


def _gateways(cli: CliSandbox) -> dict[str, str]:
    items = cli.client("bedrock-agentcore-control").list_gateways()["items"]
    return {g["name"]: g["authorizerType"] for g in items}


def _gateway_ids(cli: CliSandbox) -> dict[str, str]:
    items = cli.client("bedrock-agentcore-control").list_gateways()["items"]
    return {g["name"]: g["gatewayId"] for g in items}


def _error_lines(result: CliRun) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def _assert_one_line_error(result: CliRun, *fragments: str) -> str:
    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output
    (error,) = _error_lines(result)
    for fragment in fragments:
        assert fragment in error, error
    return error


def _order(lines: list[str], *wanted: str) -> list[int]:
    """The index of the first line containing each wanted text, after the previous one's (fails if missing)."""
    found, start = [], 0
    for text in wanted:
        index = next((i for i in range(start, len(lines)) if text in lines[i]), None)
        assert index is not None, f"{text!r} not found after line {start}:\n" + "\n".join(lines)
        found.append(index)
        start = index + 1
    return found


def test_plan_prints_the_changes_as_a_diff_and_changes_nothing(cli: CliSandbox) -> None:
    result = cli.run("plan", "--sandbox")
    assert result.returncode == 0, result.output
    assert result.lines()[0].startswith("plan for stack agentcore-secure-rollout (the offline sandbox): 7 change(s)")
    _order(result.lines(), *PLAN_ACTIONS)
    assert "apply it with: secure-rollout apply --sandbox" in result.stdout
    assert _gateways(cli) == {"my-gateway": "NONE"}

    as_json = cli.run("plan", "--sandbox", "--json")
    assert as_json.returncode == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert (report["dryRun"], report["plannedChanges"], report["changed"]) == (True, True, False)
    assert [f"{a.split()[0]}" for a in report["actions"]][:2] == ["secure", "create"]


def _doctor_checks(result: CliRun) -> dict[str, str]:
    """check -> OK/FAIL of each finding line."""
    found = {}
    for line in result.lines():
        verdict, _, rest = line.partition("  ")
        if verdict.strip() in ("OK", "FAIL") and rest.strip():
            found[rest.split()[0]] = verdict.strip()
    return found


def _failure_block(result: CliRun, check: str) -> list[str]:
    """The FAIL line of a check and its two lines below (the status with the cause, the fix), stripped."""
    lines = result.lines()
    index = next(i for i, line in enumerate(lines) if line.startswith("FAIL") and f" {check} " in line)
    return [line.strip() for line in lines[index : index + 3]]


def test_doctor_before_the_rollout_says_the_runtime_takes_no_bearer_and_the_gateway_is_missing(
    cli: CliSandbox,
) -> None:
    result = cli.run("doctor", "--sandbox")
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    checks = _doctor_checks(result)
    assert {check for check, verdict in checks.items() if verdict == "FAIL"} == {
        "runtime.auth_method",
        "runtime.header_allowlist",
        "gateway.exists",
    }
    method = _failure_block(result, "runtime.auth_method")
    assert method[1].startswith("-> 403: a bearer call to a runtime without a JWT authorizer is refused")
    assert method[2].startswith("fix: run the rollout (`secure-rollout apply`)")
    assert result.lines()[-1].endswith("the runtime would answer 403; the gateway would answer 404")


def test_invoke_before_the_rollout_takes_sigv4_and_names_the_method_a_token_call_lacks(cli: CliSandbox) -> None:
    # The tutorial's runtime has no authorizer: AgentCore's default inbound auth, SigV4-signed IAM callers only.
    signed = cli.run("invoke", "--sandbox", "--sigv4", "Check the warranty for PROD-001")
    assert signed.returncode == 0, signed.output
    assert "[200; tools used: WarrantyCheck___check_warranty]" in signed.stderr
    bearer = cli.run("invoke", "--sandbox", "Hi")
    error = _assert_one_line_error(bearer, "error: the runtime answered 403 (a bearer call is the wrong method for it)")
    assert "Authorization method mismatch" in error
    assert "call it with --sigv4, or secure it with `secure-rollout apply`" in bearer.stderr
    anonymous = cli.run("invoke", "--sandbox", "--anonymous", "Hi")
    _assert_one_line_error(anonymous, "error: the runtime answered 403 (no credentials sent)")
    assert "call it with --sigv4" in anonymous.stderr


def _waiting_apply(cli: CliSandbox, *extra: str) -> tuple[Any, str]:
    """An apply that asks for approval, in the background, once it waits; with its approval task token (a secret
    the CLI must never print)."""
    apply = cli.background("apply", "--sandbox", "--require-approval", *extra)
    apply.wait_for("? waiting for an approval")
    name = apply.stdout[0].split()[0]
    states = cli.client("stepfunctions")
    arn = states.list_executions(stateMachineArn=cli.state.stateMachineArn, statusFilter="RUNNING")["executions"]
    (execution,) = [e for e in arn if e["name"] == name]
    events = states.get_execution_history(executionArn=execution["executionArn"])["events"]
    (scheduled,) = [e for e in events if e["type"] == "TaskScheduled"]
    message = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Message"]
    cli.extra_secrets.append(message["taskToken"])
    return apply, name


def test_reject_fails_the_waiting_rollout_as_rolloutrejected(cli: CliSandbox) -> None:
    apply, name = _waiting_apply(cli)
    rejected = cli.run("reject", name, "--sandbox", "--reason", "not during the sale")
    assert rejected.returncode == 0, rejected.output
    assert rejected.stdout.startswith(f"rejected {name}: it fails as RolloutRejected")

    result = cli.finish(apply)
    error = _assert_one_line_error(
        result, "error: RolloutRejected: The rollout was not approved", "not during the sale"
    )
    assert "? not approved (RolloutRejected)" in result.stdout
    assert "what to do: nothing was changed; apply again when the rollout may go ahead" in result.stderr
    assert error in result.stderr
    assert _gateways(cli) == {"my-gateway": "NONE"}


def test_a_failing_apply_exits_non_zero_with_the_error_it_rolled_back_and_what_to_do(cli: CliSandbox) -> None:
    armed = cli.run("sandbox", "fault", "runtime-update-failure", "Container failed health check on port 8080")
    assert armed.returncode == 0, armed.output

    result = cli.run("apply", "--sandbox")
    _assert_one_line_error(
        result, "error: RuntimeUpdateFailed:", "UPDATE_FAILED: Container failed health check on port 8080"
    )
    name = result.stdout.split()[0]
    lines = result.stderr.splitlines()
    assert lines[1].startswith("rolled back: the runtime serves its backed-up configuration again")
    assert f"(backup backups/{name}.json)" in lines[1]
    assert lines[2].startswith("what to do: AgentCore did not take or serve the runtime update")
    _order(result.lines(), "> SwitchRuntime", "! ", "> RollbackRuntime", "> RolledBack", "FAILED after")
    # The old gateway still serves; the new one this execution created is gone again.
    assert _gateways(cli) == {"my-gateway": "NONE"}

    status = cli.run("status", name, "--sandbox")
    assert status.returncode == 0, status.output
    assert "status      FAILED" in status.stdout
    assert "failed      RuntimeUpdateFailed: runtime CustomerSupport is UPDATE_FAILED" in status.stdout
    assert f"backup      backups/{name}.json" in status.stdout


@pytest.fixture(scope="module")
def approved(cli: CliSandbox) -> tuple[CliRun, CliRun, str]:
    """One rollout that waited for an approval, approved from another process (`approve` finds it by itself)."""
    apply, name = _waiting_apply(cli, "--reason", "secure the agent")
    status = cli.run("status", "--sandbox")
    assert "waiting     for an approval: secure-rollout approve" in status.stdout
    approval = cli.run("approve", "--sandbox")
    assert approval.returncode == 0, approval.output
    return cli.finish(apply), approval, name


def test_apply_follows_the_approved_rollout_live_and_prints_the_report(approved: tuple[CliRun, CliRun, str]) -> None:
    result, approval, name = approved
    assert result.returncode == 0, result.output
    assert approval.stdout.startswith(f"approved {name}: the rollout goes on (7 change(s))")
    lines = result.lines()
    assert lines[0] == f"{name} started on stack agentcore-secure-rollout (the offline sandbox)"
    # One line per state entered (>) and left (<), in the rollout's order, waits and the approval shown as such.
    _order(
        lines,
        "> AcquireLock",
        "< AcquireLock",
        "> LoadConfig",
        "> Plan",
        "> RequestApproval",
        "? waiting for an approval (up to 86400 s)",
        f"approve: secure-rollout approve {name} --sandbox",
        f"reject:  secure-rollout reject {name} --sandbox",
        "? approved",
        "< RequestApproval",
        "> Backup",
        "> ProvisionGateway",
        "> WaitForGateway: waiting 0 s",
        "> SwitchRuntime",
        "> SmokeTest",
        "< SmokeTest",
        "> DeleteOldGateway",
        "> Report",
        "> ReleaseLock",
        "SUCCEEDED in",
        "changed     yes, verified",
        "smoke       runtime: token 200, no token 401, tampered 403",
        "approval    approved",
        f"backup      backups/{name}.json",
    )
    # "<elapsed>s  > State" on entry, "<elapsed>s  < State (<duration>s)" on exit: every state entered is left.
    entered = [m[1] for m in map(STATE_ENTERED.match, lines) if m]
    left = [m[1] for m in map(STATE_LEFT.match, lines) if m]
    assert len(entered) > 40
    assert sorted(entered) == sorted(left)
    assert "trigger     secure-rollout by arn:aws:sts::" in result.stdout
    assert ": secure the agent" in result.stdout


def test_status_shows_the_latest_execution(cli: CliSandbox, approved: tuple[CliRun, CliRun, str]) -> None:
    _, _, name = approved
    result = cli.run("status", "--sandbox")
    assert result.returncode == 0, result.output
    _order(
        result.lines(),
        f"execution   {name}",
        "status      SUCCEEDED",
        "state       RolloutSucceeded (phase report)",
        "progress    queue > load > approval > backup > expand > switch > verify > contract > report",
        f"backup      backups/{name}.json",
        "trigger     secure-rollout by arn:aws:sts::",
        "outcome",
        "changed     yes, verified",
    )
    as_json = json.loads(cli.run("status", name, "--sandbox", "--json").stdout)
    assert (as_json["execution"], as_json["status"], as_json["backupKey"]) == (
        name,
        "SUCCEEDED",
        f"backups/{name}.json",
    )
    assert as_json["trigger"]["source"] == "secure-rollout"
    listed = cli.run("status", "--sandbox", "--list")
    assert listed.lines()[0].startswith(f"{name} ")
    assert "SUCCEEDED" in listed.lines()[0]


def test_logs_prints_the_functions_lines_of_one_execution_in_order(
    cli: CliSandbox, approved: tuple[CliRun, CliRun, str]
) -> None:
    _, _, name = approved
    result = cli.run("logs", name, "--sandbox")
    assert result.returncode == 0, result.output
    # Every line is the execution's own (correlated by its ARN), in time order: the lock first, its release last.
    lines = result.lines()
    assert lines, result.output
    assert "RolloutLock" in lines[0]
    assert "step=acquire" in lines[0]
    assert "RolloutLock" in lines[-1]
    assert "step=release" in lines[-1]
    raw = cli.run("logs", name, "--sandbox", "--raw").lines()
    assert len(raw) == len(lines)
    assert all(f"execution:agentcore-secure-rollout-secure-rollout:{name}" in line for line in raw)


def test_invoke_calls_the_secured_runtime_with_a_minted_token(cli: CliSandbox, approved: Any) -> None:
    result = cli.run("invoke", "--sandbox", "Check the warranty for PROD-001")
    assert result.returncode == 0, result.output
    assert "PROD-001" in result.stdout
    assert "warranty_months" in result.stdout
    assert "[200; tools used: WarrantyCheck___check_warranty]" in result.stderr
    # Without a token the secured runtime refuses the call.
    anonymous = cli.run("invoke", "--sandbox", "--anonymous", "Hi")
    _assert_one_line_error(anonymous, "error: the runtime answered 401")
    # Secured: a SigV4 call is the wrong method now.
    signed = cli.run("invoke", "--sandbox", "--sigv4", "Hi")
    _assert_one_line_error(signed, "error: the runtime answered 403 (a sigv4 call is the wrong method for it)")
    assert "call it without --sigv4" in signed.stderr


def test_doctor_passes_every_check_for_a_minted_token_after_the_rollout(cli: CliSandbox, approved: Any) -> None:
    result = cli.run("doctor", "--sandbox")
    assert result.returncode == 0, result.output
    assert result.lines()[0].startswith("caller: access token of client ")
    checks = _doctor_checks(result)
    assert set(checks.values()) == {"OK"}
    assert {"runtime.issuer", "runtime.client", "runtime.scopes", "gateway.issuer", "gateway.client"} <= set(checks)
    assert result.lines()[-1] == (
        f"result: 0 of {len(checks)} checks failed; the runtime would let the call in; "
        "the gateway would let the call in"
    )
    as_json = cli.run("doctor", "--sandbox", "--json")
    assert as_json.returncode == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["outcome"]) == (True, {"runtime": None, "gateway": None})


def _bad_token(cli: CliSandbox, kind: str) -> str:
    """A token of the deployed pool's issuer, wrong in one way, signed with a local key (the doctor reads claims)."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    control = cli.client("bedrock-agentcore-control")
    runtimes = control.list_agent_runtimes()["agentRuntimes"]
    runtime_id = next(r["agentRuntimeId"] for r in runtimes if r["agentRuntimeName"] == "CustomerSupport")
    jwt_config = control.get_agent_runtime(agentRuntimeId=runtime_id)["authorizerConfiguration"]["customJWTAuthorizer"]
    issuer = jwt_config["discoveryUrl"].removesuffix("/.well-known/openid-configuration")
    client_id, now = jwt_config["allowedClients"][0], int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "client_id": client_id,
        "sub": client_id,
        "token_use": "access",
        "scope": " ".join(jwt_config["allowedScopes"]),
        "iat": now,
        "exp": now + 3600,
    }
    if kind == "wrong client":
        claims |= {"client_id": "another-client-4f2a9c", "sub": "another-client-4f2a9c"}
    elif kind == "expired":
        claims |= {"iat": now - 7200, "exp": now - 3600}
    elif kind == "other pool":
        claims["iss"] = issuer.rsplit("/", 1)[0] + "/eu-west-1_OtherPool1"
    elif kind == "id token":
        claims = {k: v for k, v in claims.items() if k not in ("client_id", "scope")} | {"token_use": "id"}
        claims["aud"] = client_id
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "cli-test"})
    cli.extra_secrets += [token, token.rsplit(".", 1)[-1]]
    return token


@pytest.mark.parametrize(
    ("kind", "failing"),
    [
        ("wrong client", {"runtime.client", "gateway.client"}),
        ("expired", {"token.expiry"}),
        ("other pool", {"runtime.issuer", "gateway.issuer"}),
        ("id token", {"token.use", "runtime.client", "runtime.scopes", "gateway.client", "gateway.scopes"}),
    ],
)
def test_doctor_names_the_403_its_cause_and_fix_for_each_kind_of_bad_token_file(
    cli: CliSandbox, approved: Any, tmp_path: Any, kind: str, failing: set[str]
) -> None:
    token_file = tmp_path / "token.jwt"
    token_file.write_text(f"Bearer {_bad_token(cli, kind)}\n")
    result = cli.run("doctor", "--sandbox", "--token-file", str(token_file))  # scanned for the token
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    checks = _doctor_checks(result)
    assert {check for check, verdict in checks.items() if verdict == "FAIL"} == failing
    for check in failing:
        block = _failure_block(result, check)
        assert block[1].startswith("-> 403: "), block
        assert block[2].startswith("fix: "), block
    assert result.lines()[-1].endswith("the runtime would answer 403; the gateway would answer 403")


def test_rollback_restores_the_latest_rollouts_backup_and_restore_takes_a_key(
    cli: CliSandbox, approved: tuple[CliRun, CliRun, str]
) -> None:
    _, _, name = approved
    assert _gateways(cli) == {"my-gateway-secure": "CUSTOM_JWT"}
    result = cli.run("rollback", "--sandbox")
    assert result.returncode == 0, result.output
    assert result.lines()[0] == f"rolling back to backups/{name}.json (taken by {name} before its first change)"
    _order(result.lines(), "> BeginRestore", "> RestoreGateway", "> RestoreRuntime", "> RestoreReport", "SUCCEEDED")
    assert f"restored    backups/{name}.json (taken by {name} at" in result.stdout
    assert "the settings of version" in result.stdout
    # The open gateway is back and the runtime is pointed at it again (the secured gateway is never deleted).
    assert _gateways(cli) == {"my-gateway-secure": "CUSTOM_JWT", "my-gateway": "NONE"}
    control = cli.client("bedrock-agentcore-control")
    (runtime,) = control.list_agent_runtimes()["agentRuntimes"]
    environment = control.get_agent_runtime(agentRuntimeId=runtime["agentRuntimeId"])["environmentVariables"]
    assert "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL" not in environment

    # Restoring the same key again finds everything in place: the same gateway, nothing created twice.
    restored_id = _gateway_ids(cli)["my-gateway"]
    again = cli.run("restore", f"backups/{name}.json", "--sandbox", "--json")
    assert again.returncode == 0, again.output
    outcome = json.loads(again.stdout)
    assert (outcome["status"], outcome["output"]["restored"]) == ("SUCCEEDED", True)
    assert outcome["output"]["gateway"]["id"] == restored_id
    items = cli.client("bedrock-agentcore-control").list_gateways()["items"]
    assert sorted(g["name"] for g in items) == ["my-gateway", "my-gateway-secure"]


def test_errors_are_one_line_with_what_to_do(cli: CliSandbox, tmp_path: Any) -> None:
    unknown = cli.run("status", "no-such-execution", "--sandbox")
    _assert_one_line_error(unknown, "unknown execution no-such-execution")
    assert "what to do: list recent ones with `secure-rollout status --list --sandbox`" in unknown.stderr

    # A deployed stack's path, with AWS's API served by the sandbox: a stack that does not exist...
    aws = cli_env(tmp_path, AWS_ENDPOINT_URL=cli.state.endpoint)
    missing = cli.run("status", "--stack", "no-such-stack", "--region", "us-east-1", env=aws)
    _assert_one_line_error(missing, "stack no-such-stack not found in us-east-1")
    # ...and one that does, named like on AWS.
    found = cli.run("status", "--stack", "agentcore-secure-rollout", "--region", "us-east-1", env=aws)
    assert found.returncode == 0, found.output
    assert found.stdout.startswith("execution   ")

    no_credentials = {k: v for k, v in aws.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    no_credentials |= {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    anonymous = cli.run("status", "--stack", "agentcore-secure-rollout", "--region", "us-east-1", env=no_credentials)
    _assert_one_line_error(anonymous, "no usable AWS credentials")

    bad_input = cli.run("apply", "--sandbox", "--agent-artifact", "bucket/key")
    _assert_one_line_error(bad_input, "--agent-artifact must look like s3://BUCKET/KEY")
    nothing_waits = cli.run("approve", "--sandbox")
    _assert_one_line_error(nothing_waits, "no execution waits for an approval")


def test_sandbox_flag_starts_a_sandbox_when_none_runs(tmp_path: Any) -> None:
    env = cli_env(tmp_path)
    try:
        first = run_cli("plan", "--sandbox", env=env, timeout=600)
        assert first.returncode == 0, first.output
        assert "starting the offline sandbox in the background" in first.stderr
        assert "sandbox ready: stack agentcore-secure-rollout" in first.stderr
        assert "runtime CustomerSupport" in first.stdout
        state = SandboxState.read(tmp_path / STATE_FILE)
        assert state is not None
        again = run_cli("status", "--sandbox", "--list", env=env)  # the same sandbox: nothing started this time
        assert again.returncode == 0, again.output
        assert "starting the offline sandbox" not in again.stderr
        assert SandboxState.read(tmp_path / STATE_FILE) == state
    finally:
        down = run_cli("sandbox", "down", env=env, timeout=120)
    assert down.returncode == 0, down.output
    assert not (tmp_path / STATE_FILE).exists()
