"""The CLI's parts without a sandbox: what it says about each kind of failure, how it reads samconfig.toml, finds a
pending approval in a history, maps AWS errors to one line, and how the sandbox endpoint routes requests."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
import urllib.error
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from sandbox.server import aws_url
from secure_rollout import executions, invoke, render, target
from secure_rollout.errors import CliError, from_aws
from secure_rollout.logs import correlated, readable
from secure_rollout.sandbox_state import SandboxState
from secure_rollout.target import samconfig_env
from tests.cli.helpers import REPO_ROOT, cli_env, run_cli

ARN = "arn:aws:states:us-east-1:123456789012:execution:stack-secure-rollout:apply-20260101T000000Z"


def _lambda_error(error: str, message: str) -> str:
    return json.dumps({"errorMessage": message, "errorType": error, "stackTrace": ['  File "app.py", line 1']})


def test_every_state_of_the_state_machine_has_a_phase() -> None:
    definition = json.loads((REPO_ROOT / "statemachine" / "secure_rollout.asl.json").read_text())
    names = {name for name, _ in executions._all_states(definition["States"])}
    assert sorted(names - set(executions.PHASE_OF)) == []
    assert sorted(set(executions.PHASE_OF) - names) == []


def test_a_lambda_failure_is_its_message_without_the_stack_trace_and_says_nothing_changed() -> None:
    description = {
        "status": "FAILED",
        "error": "InvalidExecutionInput",
        "cause": _lambda_error("InvalidExecutionInput", "execution input has unknown key(s) ['bake']"),
    }
    lines = render.failure_lines(render.failure_of(description), "apply-1", "--sandbox")
    assert lines == [
        "error: InvalidExecutionInput: execution input has unknown key(s) ['bake']",
        "what to do: nothing was changed; fix the input named above (see `secure-rollout apply --help` and the "
        "README's execution input table) and apply again",
    ]


def test_a_rolled_back_smoke_test_failure_names_the_backup_and_the_kept_authorizer() -> None:
    outcome = {
        "errorType": "SmokeTestFailed",
        "cause": _lambda_error("SmokeTestFailed", "without a token: expected 401, got 200"),
        "rolledBack": True,
        "backupKey": "backups/apply-1.json",
        "runtimeRestoredToVersion": "3",
        "authorizerKept": True,
        "newGatewayRemoved": True,
    }
    description = {"status": "FAILED", "error": "SmokeTestFailed", "cause": json.dumps(outcome)}
    lines = render.failure_lines(render.failure_of(description), "apply-1", "--sandbox")
    assert lines[0] == "error: SmokeTestFailed: without a token: expected 401, got 200"
    assert lines[1] == (
        "rolled back: the runtime serves its backed-up configuration again; the JWT authorizer the switch added "
        "stays (AgentCore cannot remove one) (backup backups/apply-1.json)"
    )
    assert lines[2].startswith(
        "what to do: see which check failed above and in `secure-rollout logs apply-1 --sandbox`"
    )


def test_a_failed_rollback_says_how_to_restore_the_backup() -> None:
    outcome = {
        "errorType": "RollbackFailed",
        "rolledBack": False,
        "backupKey": "backups/apply-1.json",
        "restoreInput": {"restore": "backups/apply-1.json"},
        "rollbackError": "RuntimeUpdateFailed",
        "rollbackCause": _lambda_error("RuntimeUpdateFailed", "Insufficient capacity"),
        "originalError": "SmokeTestFailed",
        "originalCause": _lambda_error("SmokeTestFailed", "with a valid token: expected 2xx"),
    }
    description = {"status": "FAILED", "error": "RollbackFailed", "cause": json.dumps(outcome)}
    failure = render.failure_of(description)
    lines = render.failure_lines(failure, "apply-1", "--stack s --region us-east-1")
    assert lines[0] == (
        "error: RollbackFailed: the rollback failed (RuntimeUpdateFailed: Insufficient capacity) after "
        "SmokeTestFailed: with a valid token: expected 2xx"
    )
    assert lines[-1] == (
        "what to do: the runtime may still run the switched configuration: put the backup back with "
        "`secure-rollout restore backups/apply-1.json --stack s --region us-east-1`"
    )


def test_a_held_failure_says_how_to_restore_and_drops_nothing_changed() -> None:
    outcome = {
        "errorType": "AuthorizerConflict",
        "cause": _lambda_error("AuthorizerConflict", "runtime has another authorizer"),
        "held": True,
        "rolledBack": False,
        "backupKey": "backups/apply-2.json",
    }
    description = {"status": "FAILED", "error": "AuthorizerConflict", "cause": json.dumps(outcome)}
    lines = render.failure_lines(render.failure_of(description), "apply-2", "--sandbox")
    assert lines[1].startswith("held for inspection (onFailure=hold): restore with `secure-rollout restore ")
    assert not lines[2].startswith("what to do: nothing was changed")


@pytest.mark.parametrize(
    ("description", "first_line"),
    [
        ({"status": "TIMED_OUT"}, "error: TIMED_OUT: the execution reached its timeout"),
        ({"status": "ABORTED"}, "error: ABORTED: the execution was stopped (StopExecution)"),
        (
            {
                "status": "FAILED",
                "error": "RolloutRejected",
                "cause": json.dumps({"errorType": "RolloutRejected", "errorMessage": "The rollout was not approved"}),
            },
            "error: RolloutRejected: The rollout was not approved",
        ),
    ],
)
def test_every_failure_is_one_error_line(description: dict[str, Any], first_line: str) -> None:
    lines = render.failure_lines(render.failure_of(description), "x", "--sandbox")
    assert lines[0] == first_line
    assert lines[-1].startswith("what to do: ")


def test_the_plan_marks_creations_deletions_and_changes() -> None:
    report = {
        "dryRun": True,
        "plannedChanges": True,
        "actions": ["create gateway g", "delete old gateway o and its targets", "update target t"],
        "notCarried": ["wafConfiguration"],
    }
    assert render.plan_lines(report, "stack s", "--sandbox") == [
        "plan for stack s: 3 change(s), in the order the rollout makes them",
        "  + create gateway g",
        "  - delete old gateway o and its targets",
        "  ~ update target t",
        "  ! not carried to the new gateway (no API can): wafConfiguration",
        "apply it with: secure-rollout apply --sandbox",
    ]
    assert render.plan_lines({"plannedChanges": False, "actions": []}, "stack s", "") == [
        "no changes: stack s is already in the desired state"
    ]


def test_aws_errors_become_one_line_with_what_to_do() -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "User: arn:aws:iam::1:user/x is not authorized"}},
        "StartExecution",
    )
    error = from_aws(denied)
    assert isinstance(error, CliError)
    assert error.message == "access denied: StartExecution: User: arn:aws:iam::1:user/x is not authorized"
    assert error.hint is not None
    no_credentials = from_aws(NoCredentialsError())
    assert no_credentials is not None
    assert no_credentials.message.startswith("no usable AWS credentials")
    expired = from_aws(ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "expired"}}, "X"))
    assert expired is not None
    assert expired.message.startswith("AWS refused the credentials (ExpiredTokenException)")
    assert from_aws(ValueError("not AWS")) is None


def test_samconfig_environments_give_stack_and_region(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "base"\n'
        '[prod.deploy.parameters]\nstack_name = "acsr-prod"\nregion = "eu-west-1"\n'
    )
    assert samconfig_env(config, "prod") == {"stack_name": "acsr-prod", "region": "eu-west-1"}
    assert samconfig_env(config, "default") == {"stack_name": "base"}
    with pytest.raises(CliError, match="has no environment 'staging' \\(it has: default, prod\\)"):
        samconfig_env(config, "staging")
    with pytest.raises(CliError, match=r"no .* here"):
        samconfig_env(tmp_path / "missing.toml", "prod")


def _event(event_id: int, kind: str, **details: Any) -> dict[str, Any]:
    key = {"TaskScheduled": "taskScheduledEventDetails", "TaskSucceeded": "taskSucceededEventDetails"}[kind]
    stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=event_id)
    return {"id": event_id, "type": kind, "timestamp": stamp, key: details}


def test_the_pending_approval_is_the_unanswered_wait_for_task_token() -> None:
    message = {"kind": "rolloutApprovalRequest", "taskToken": "TOKEN-1", "actions": ["create gateway g"]}
    scheduled = _event(
        1,
        "TaskScheduled",
        resourceType="sns",
        resource="publish.waitForTaskToken",
        parameters=json.dumps({"TopicArn": "t", "Message": message}),
    )
    pending = executions.pending_approval([scheduled])
    assert pending is not None
    assert (pending.token, pending.request["actions"]) == ("TOKEN-1", ["create gateway g"])
    answered = _event(2, "TaskSucceeded", resourceType="sns", resource="publish.waitForTaskToken", output="{}")
    assert executions.pending_approval([scheduled, answered]) is None
    lambda_task = _event(3, "TaskScheduled", resourceType="lambda", resource="invoke", parameters="{}")
    assert executions.pending_approval([lambda_task]) is None


def test_the_backup_key_comes_from_the_report_the_failure_or_the_running_state() -> None:
    report = {"output": json.dumps({"backup": {"key": "backups/a.json"}})}
    assert executions.backup_key(report) == "backups/a.json"
    failed = {"cause": json.dumps({"rolledBack": True, "backupKey": "backups/b.json"})}
    assert executions.backup_key(failed) == "backups/b.json"
    exited = {
        "stateExitedEventDetails": {"name": "Backup", "output": json.dumps({"backup": {"key": "backups/c.json"}})}
    }
    assert executions.backup_key({}, [exited]) == "backups/c.json"
    restored = {"output": json.dumps({"restored": True, "backup": {"key": "backups/a.json"}})}
    assert executions.backup_key(restored) is None  # a restore put a backup back; it took none


def test_execution_names_are_readable_and_unique_per_attempt() -> None:
    now = datetime.datetime(2026, 5, 9, 12, 0, 1, tzinfo=datetime.UTC)
    assert executions.execution_name("apply", now) == "apply-20260509T120001Z"
    assert executions.execution_name("apply", now, 1) == "apply-20260509T120001Z-2"


def test_log_lines_are_condensed_and_only_the_executions_own() -> None:
    line = json.dumps(
        {"level": "INFO", "message": "backup written", "key": "backups/a.json", "correlation_id": ARN, "service": "s"}
    )
    assert readable(line) == "INFO backup written  key=backups/a.json"
    assert correlated(line, ARN)
    assert not correlated(line.replace("T000000Z", "T000001Z"), ARN)
    assert correlated("START RequestId: 1", ARN)


@pytest.mark.parametrize(
    ("method", "path", "service", "expected"),
    [
        (
            "POST",
            "/runtimes/",
            "bedrock-agentcore",
            "https://bedrock-agentcore-control.us-east-1.amazonaws.com/runtimes/",
        ),
        (
            "POST",
            "/runtimes/arn%3Aaws%3Ax/invocations?qualifier=DEFAULT",
            "bedrock-agentcore",
            "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Ax/invocations?qualifier=DEFAULT",
        ),
        ("POST", "/", "states", "https://states.us-east-1.amazonaws.com/"),
        ("POST", "/", "cloudformation", "https://cloudformation.us-east-1.amazonaws.com/"),
    ],
)
def test_the_sandbox_endpoint_routes_a_request_by_its_signature(
    method: str, path: str, service: str, expected: str
) -> None:
    authorization = f"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{service}/aws4_request, Signature=x"
    assert aws_url(method, path, authorization) == expected
    assert aws_url(method, path, "Bearer x") is None


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("plan",),
        ("apply",),
        ("status",),
        ("approve",),
        ("reject",),
        ("rollback",),
        ("restore",),
        ("logs",),
        ("invoke",),
        ("sandbox",),
        ("sandbox", "up"),
        ("sandbox", "down"),
        ("sandbox", "fault"),
    ],
)
def test_every_command_has_help(command: tuple[str, ...], tmp_path: Path) -> None:
    result = run_cli(*command, "--help", env=cli_env(tmp_path))
    assert result.returncode == 0, result.output
    assert result.stdout.startswith(f"Usage: secure-rollout {' '.join(command)}".rstrip())
    if command and command[0] != "sandbox":
        assert "--sandbox" in result.stdout


def test_the_cli_does_not_import_the_sandbox(tmp_path: Path) -> None:
    """Product code never depends on the sandbox: only `sandbox up` loads it, from the checkout."""
    probe = "import sys, secure_rollout.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'sandbox'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=cli_env(tmp_path), capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


# --- doctor: what it prints ---------------------------------------------------------------------------------------

DOCTOR_POOL = "us-east-1_AbCdEf123"
DOCTOR_ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{DOCTOR_POOL}"
DOCTOR_AUTHORIZER = {
    "customJWTAuthorizer": {
        "discoveryUrl": f"{DOCTOR_ISSUER}/.well-known/openid-configuration",
        "allowedClients": ["good-client-0123456789"],
        "allowedScopes": ["customersupport/invoke"],
    }
}
DOCTOR_RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/CustomerSupport-abcdefghij"


def _doctor_token(client_id: str, **claims: Any) -> str:
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    payload = {
        "iss": DOCTOR_ISSUER,
        "client_id": client_id,
        "token_use": "access",
        "scope": "customersupport/invoke",
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode({**payload, **claims}, key, algorithm="RS256", headers={"kid": "k"})


def _doctor_subject() -> Any:
    from rollout_core.doctor import Invocation

    from secure_rollout.doctor import Subject

    runtime = {
        "agentRuntimeArn": DOCTOR_RUNTIME_ARN,
        "agentRuntimeName": "CustomerSupport",
        "agentRuntimeVersion": "2",
        "authorizerConfiguration": DOCTOR_AUTHORIZER,
        "requestHeaderConfiguration": {"requestHeaderAllowlist": ["Authorization"]},
    }
    gateway = {
        "gatewayId": "my-gateway-secure-k3j4h5g6f7",
        "name": "my-gateway-secure",
        "authorizerType": "CUSTOM_JWT",
        "authorizerConfiguration": DOCTOR_AUTHORIZER,
    }
    data_plane = "https://bedrock-agentcore.us-east-1.amazonaws.com"
    url = f"{data_plane}/runtimes/{DOCTOR_RUNTIME_ARN.replace(':', '%3A').replace('/', '%2F')}/invocations"
    endpoints = {"DEFAULT": {"status": "READY", "liveVersion": "2"}}
    return Subject(runtime, gateway, "my-gateway-secure", Invocation(f"{url}?qualifier=DEFAULT", data_plane, endpoints))


def _doctor_output(token: str, subject: Any) -> tuple[list[str], dict[str, Any]]:
    import time

    from rollout_core import doctor as core

    from secure_rollout import doctor

    findings = core.diagnose(token, subject.runtime, subject.gateway, now=time.time(), invocation=subject.invocation)
    caller = doctor.caller_line(token, core.BEARER)
    lines = doctor.report_lines(caller, subject, findings)
    document = doctor.report_json(caller, subject, findings, core.BEARER)
    text = "\n".join(lines) + json.dumps(document)
    assert token not in text
    assert token.rsplit(".", 1)[-1][:16] not in text
    return lines, document


def test_doctor_prints_one_ok_line_per_check_for_a_good_token() -> None:
    lines, document = _doctor_output(_doctor_token("good-client-0123456789"), _doctor_subject())
    assert lines[0].startswith(
        f"caller: access token of client 'good-client-0123456789' from pool {DOCTOR_POOL}, scopes "
        "['customersupport/invoke'], expires in 59 min"
    )
    assert lines[1] == "checked against runtime CustomerSupport (version 2) and gateway my-gateway-secure"
    checks = lines[2:-1]
    assert checks
    assert all(line.startswith("OK    ") for line in checks), checks
    assert lines[-1] == (
        f"result: 0 of {len(checks)} checks failed; the runtime would let the call in; "
        "the gateway would let the call in"
    )
    assert (document["ok"], document["outcome"]) == (True, {"runtime": None, "gateway": None})


def test_doctor_prints_the_status_cause_and_fix_under_each_failure() -> None:
    lines, document = _doctor_output(_doctor_token("other-client-987654321"), _doctor_subject())
    failing = [i for i, line in enumerate(lines) if line.startswith("FAIL")]
    assert [lines[i].split()[1] for i in failing] == ["runtime.client", "gateway.client"]
    for index in failing:
        assert lines[index + 1].strip().startswith("-> 403: the token was minted for another app client")
        assert lines[index + 2].strip().startswith("fix: mint the token with client 'good-client-0123456789'")
    assert lines[-1].endswith("the runtime would answer 403; the gateway would answer 403")
    assert document["ok"] is False
    assert [f["check"] for f in document["findings"] if not f["ok"]] == ["runtime.client", "gateway.client"]


def test_doctor_reads_a_pasted_token_file_and_never_quotes_it(tmp_path: Path) -> None:
    from secure_rollout.doctor import read_token_file

    token = _doctor_token("good-client-0123456789")
    pasted = tmp_path / "token.txt"
    pasted.write_text(f"Bearer {token}\n")
    assert read_token_file(str(pasted)) == token
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(CliError, match=r"--token-file .*empty\.txt is empty"):
        read_token_file(str(empty))
    with pytest.raises(CliError, match=r"cannot read it \(FileNotFoundError\)"):
        read_token_file(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize(
    ("status", "message", "method", "said", "hint"),
    [
        (401, "", "bearer", "answered 401 (no valid bearer token)", "`secure-rollout doctor`"),
        (401, "", "sigv4", "answered 401 (no valid bearer token)", "without --anonymous or --sigv4"),
        (403, "Authorization method mismatch.", "bearer", "a bearer call is the wrong method", "call it with --sigv4"),
        (403, "Authorization method mismatch.", "sigv4", "a sigv4 call is the wrong method", "without --sigv4"),
        (403, "Missing Authentication Token", "anonymous", "403 (no credentials sent)", "call it with --sigv4"),
        (403, "User is not authorized", "sigv4", "403 (refused): User is not authorized", "InvokeAgentRuntime"),
        (404, "", "bearer", "answered 404 (no such runtime or endpoint)", None),
    ],
)
def test_invoke_refusals_name_the_cause_and_the_fix(
    status: int, message: str, method: str, said: str, hint: str | None
) -> None:
    error = invoke.refusal_error(status, "Forbidden", message, method)
    assert said in error.message
    if hint is None:
        assert error.hint is None
    else:
        assert error.hint is not None
        assert hint in error.hint


def test_a_sandbox_that_does_not_start_is_one_line_with_its_last_words(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; print('starting ...'); print('port 4566 is in use'); sys.exit(3)"]
    with pytest.raises(CliError) as caught:
        target.start_sandbox(tmp_path / "sandbox.json", command=failing, timeout=60)
    assert caught.value.message == "the offline sandbox did not start: port 4566 is in use"
    assert caught.value.hint is not None
    assert str(tmp_path / "sandbox-up.log") in caught.value.hint
    assert not (tmp_path / "sandbox.json").exists()


def test_a_live_sandbox_that_answers_slowly_is_waited_for_never_replaced(tmp_path: Path) -> None:
    # A state file whose process still runs (here: this test's own pid) but whose endpoint does not answer yet: the
    # command waits for it and never starts a second sandbox over it (nor deletes its state file).
    state = SandboxState("http://127.0.0.1:9", "us-east-1", "stack", "arn:sm", os.getpid(), "control-token")
    state.write(tmp_path / "sandbox.json")
    never: list[str] = [sys.executable, "-c", "raise SystemExit('a second sandbox was started')"]
    with pytest.raises(CliError, match="did not answer within 2s"):
        target.start_sandbox(tmp_path / "sandbox.json", command=never, timeout=2)
    assert (tmp_path / "sandbox.json").exists()
    assert not (tmp_path / "sandbox-up.log").exists()


def test_a_sandbox_that_does_not_answer_in_time_is_stopped(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(600)"]
    with pytest.raises(CliError, match="did not answer within 5s"):
        target.start_sandbox(tmp_path / "sandbox.json", command=sleeper, timeout=5)
    pid = int((tmp_path / "sandbox-up.log").read_text().split()[0])
    assert target.process_alive(pid) is None  # killed (its whole session) and reaped
    assert (tmp_path / "sandbox-start.lock").read_text() == ""  # no start recorded: a later command starts afresh


def _http_error(body: dict[str, str]) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("https://x", 403, "Forbidden", Message(), io.BytesIO(json.dumps(body).encode()))


def test_a_quoted_refusal_is_one_short_line_without_the_request_it_quotes() -> None:
    session_token = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"
    signed = (
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
        "Key and signing method.\n\nThe Canonical String for this request should have been\n'POST\n/runtimes/arn\n"
        f"x-amz-security-token:{session_token}\n'"
    )
    quoted = invoke._refusal_message(_http_error({"message": signed}), [session_token])
    assert quoted.startswith("The request signature we calculated does not match")
    assert session_token not in quoted
    assert "\n" not in quoted
    assert len(quoted) <= invoke.MAX_QUOTED_CHARS
    echoed = invoke._refusal_message(_http_error({"Message": "Invalid token abc.def.SIGNATURE"}), ["abc.def.SIGNATURE"])
    assert echoed == "Invalid token [redacted]"
    only_the_quote = invoke._refusal_message(_http_error({"message": signed[signed.index("The Canonical") :]}), [])
    assert only_the_quote == ""


def test_sandbox_up_and_down_treat_a_live_sandbox_that_does_not_answer_as_running(tmp_path: Path) -> None:
    # Its process lives (here: a stand-in that, like serve(), removes its state file on SIGTERM) but its endpoint does
    # not answer: `up` refuses to start a second one over it, `down` stops it instead of deleting its state file.
    state_file = tmp_path / "sandbox.json"
    stand_in = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, signal, sys, time\n"
            f"signal.signal(signal.SIGTERM, lambda *_: (pathlib.Path({str(state_file)!r}).unlink(), sys.exit(0)))\n"
            "time.sleep(120)\n",
        ]
    )
    try:
        SandboxState("http://127.0.0.1:9", "us-east-1", "stack", "arn:sm", stand_in.pid, "token").write(state_file)
        env = cli_env(tmp_path)
        up = run_cli("sandbox", "up", env=env)
        assert up.returncode == 1, up.output
        assert f"a sandbox is already running (pid {stand_in.pid}" in up.stderr
        down = run_cli("sandbox", "down", env=env)
        assert down.returncode == 0, down.output
        assert "sandbox stopped" in down.stdout
        assert stand_in.wait(timeout=30) == 0
        assert not state_file.exists()
    finally:
        stand_in.kill()
        stand_in.wait()
