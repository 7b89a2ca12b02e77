"""`secure-rollout`: plan, apply, follow, approve, roll back and inspect the AgentCore secure rollout - against a
deployed stack or the offline sandbox."""

from __future__ import annotations

import datetime
import functools
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError
from rollout_core import triggers

from secure_rollout import doctor, executions, invoke, logs, render
from secure_rollout.errors import CliError, from_aws
from secure_rollout.target import SAMCONFIG, Target, TargetOptions, resolve

DEBUG_ENV = "SECURE_ROLLOUT_DEBUG"
SANDBOX_POLL_SECONDS = 0.25
AWS_POLL_SECONDS = 2.0
TRIGGER_SOURCE = "secure-rollout"


def _echo(line: str = "", err: bool = False) -> None:
    click.echo(line, err=err)


class Cli(click.Group):
    """Turns every failure into one `error:` line (plus what to do), never a traceback; lists commands in the order
    an operator uses them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            _fail(exc)
        except (BotoCoreError, ClientError) as exc:
            translated = from_aws(exc, sandbox=bool((ctx.meta.get("secure_rollout.target") or {}).get("sandbox")))
            _fail(translated or CliError(str(exc)))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            _echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                traceback.print_exc()
            _fail(
                CliError(
                    f"unexpected {type(exc).__name__}: {exc}",
                    f"this is a bug in secure-rollout; {DEBUG_ENV}=1 shows where it happened",
                )
            )


def _fail(exc: CliError) -> None:
    _echo(f"error: {exc.message}", err=True)
    if exc.hint:
        _echo(f"what to do: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


def _version() -> str:
    try:
        return metadata.version("agentcore-secure-rollout")
    except metadata.PackageNotFoundError:
        return "source checkout"


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(_version(), prog_name="secure-rollout")
def main() -> None:
    """Operate the AgentCore secure rollout: plan it, apply it and follow it live, approve or reject it, roll it
    back, read its logs and call the secured agent.

    Every command acts on a deployed stack (--stack/--region, or --env from samconfig.toml; without them the
    `default` environment of ./samconfig.toml) or on the offline sandbox (--sandbox, started with
    `secure-rollout sandbox up`)."""


# --- options ----------------------------------------------------------------------------------------------------


def target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    @click.option("--sandbox", is_flag=True, help="Act on the offline sandbox (`secure-rollout sandbox up`).")
    @click.option("--stack", metavar="NAME", help="CloudFormation stack of the deployment.")
    @click.option("--region", metavar="REGION", help="Its region (default: samconfig.toml, then AWS_REGION).")
    @click.option("--env", "config_env", metavar="ENV", help="Config environment of samconfig.toml (stack, region).")
    @click.option("--profile", metavar="PROFILE", help="AWS named profile.")
    @click.option(
        "--config-file", default=SAMCONFIG, show_default=True, metavar="PATH", help="The SAM config file for --env."
    )
    @functools.wraps(command)
    def wrapper(
        sandbox: bool,
        stack: str | None,
        region: str | None,
        config_env: str | None,
        profile: str | None,
        config_file: str,
        **kwargs: Any,
    ) -> Any:
        options = TargetOptions(stack, region, config_env, profile, sandbox, config_file)
        click.get_current_context().meta["secure_rollout.target"] = {"sandbox": sandbox}
        return command(target=resolve(options), **kwargs)

    return wrapper


def rollout_input_options(command: Callable[..., Any]) -> Callable[..., Any]:
    @click.option(
        "--input-file",
        type=click.File("r"),
        metavar="PATH",
        help="Execution input (a JSON object, see the README's execution input table); the options below override "
        "its keys.",
    )
    @click.option(
        "--agent-artifact",
        metavar="s3://BUCKET/KEY",
        help="Switch the runtime to this agent CodeZip (with its KEY.manifest.json) in the same update.",
    )
    @click.option("--bake-seconds", type=click.IntRange(0, 1800), help="Bake time before the old gateway goes.")
    @click.option("--on-failure", type=click.Choice(["rollback", "hold"]), help="What a failed switch or check does.")
    @click.option(
        "--require-approval/--no-require-approval",
        default=None,
        help="Wait for `secure-rollout approve` after the plan (the stack may insist on it).",
    )
    @click.option("--approval-timeout-seconds", type=click.IntRange(1, 172800), help="How long an approval waits.")
    @click.option("--poll-seconds", type=click.IntRange(0, 300), help="Seconds between AgentCore status polls.")
    @click.option("--max-polls", type=click.IntRange(1, 1000), help="Polls before a wait fails.")
    @click.option(
        "--agent-tool-check",
        type=click.Choice(["answer", "require"]),
        help="require: the smoke test's warranty answer must come from the gateway tool.",
    )
    @functools.wraps(command)
    def wrapper(
        input_file: Any,
        agent_artifact: str | None,
        bake_seconds: int | None,
        on_failure: str | None,
        require_approval: bool | None,
        approval_timeout_seconds: int | None,
        poll_seconds: int | None,
        max_polls: int | None,
        agent_tool_check: str | None,
        **kwargs: Any,
    ) -> Any:
        document: dict[str, Any] = {}
        if input_file is not None:
            try:
                loaded = json.load(input_file)
            except ValueError as exc:
                raise CliError(f"--input-file {input_file.name} is not JSON: {exc}") from None
            if not isinstance(loaded, dict):
                raise CliError(f"--input-file {input_file.name} must hold a JSON object; got {type(loaded).__name__}")
            document = loaded
        flags = {
            "agentArtifact": _artifact(agent_artifact) if agent_artifact else None,
            "bakeSeconds": bake_seconds,
            "onFailure": on_failure,
            "requireApproval": require_approval,
            "approvalTimeoutSeconds": approval_timeout_seconds,
            "pollSeconds": poll_seconds,
            "maxPolls": max_polls,
            "agentToolCheck": agent_tool_check,
        }
        document.update({k: v for k, v in flags.items() if v is not None})
        return command(execution_input=document, **kwargs)

    return wrapper


def _artifact(value: str) -> dict[str, str]:
    bucket, _, key = value.removeprefix("s3://").partition("/")
    if not value.startswith("s3://") or not bucket or not key:
        raise CliError(f"--agent-artifact must look like s3://BUCKET/KEY; got {value!r}")
    return {"s3Bucket": bucket, "s3Key": key}


def _trigger(target: Target, reason: str | None) -> dict[str, str]:
    """Why the execution started, echoed into its report: this CLI, who, when (and the operator's reason)."""
    trigger = {
        "source": TRIGGER_SOURCE,
        "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "by": str(target.client("sts").get_caller_identity()["Arn"]),
    }
    if reason:
        trigger["reason"] = reason
    return trigger


def _poll_seconds(target: Target) -> float:
    return SANDBOX_POLL_SECONDS if target.sandbox is not None else AWS_POLL_SECONDS


# --- following and reporting ----------------------------------------------------------------------------------


def _follow(target: Target, arn: str, as_json: bool) -> None:
    """Follow an execution live, then print its outcome; exit 1 (with the error and what to do) if it failed."""
    name = executions.name_of(arn)
    progress: Callable[[str], None] = functools.partial(_echo, err=as_json)
    progress(f"{name} started on {target.describe()}")
    try:
        description = executions.Follower(target, arn, progress, _poll_seconds(target)).run()
    except KeyboardInterrupt:
        _echo(f"stopped following; {name} goes on: secure-rollout status {name} {target.flags()}", err=True)
        sys.exit(130)
    seconds = (description["stopDate"] - description["startDate"]).total_seconds()
    if as_json:
        _echo(json.dumps(_execution_json(description), indent=2, default=str))
    if description["status"] == "SUCCEEDED":
        report = json.loads(description.get("output") or "{}")
        progress(f"{description['status']} in {seconds:.1f}s")
        if not as_json:
            for line in report_summary(report, target):
                _echo(line)
        return
    progress(f"{description['status']} after {seconds:.1f}s")
    for line in render.failure_lines(render.failure_of(description), name, target.flags()):
        _echo(line, err=True)
    sys.exit(1)


def report_summary(report: dict[str, Any], target: Target) -> list[str]:
    if report.get("dryRun"):
        return render.plan_lines(report, target.describe(), target.flags())
    return render.report_lines(report)


def _execution_json(description: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "execution": description.get("name"),
        "executionArn": description.get("executionArn"),
        "status": description.get("status"),
        "startDate": description.get("startDate"),
        "stopDate": description.get("stopDate"),
    }
    if description.get("output"):
        result["output"] = json.loads(description["output"])
    if description.get("error") or description.get("status") in ("FAILED", "TIMED_OUT", "ABORTED"):
        failure = render.failure_of(description)
        result["error"] = {"error": failure.error, "message": failure.message, "rolledBack": failure.rolled_back}
        result["error"] |= {"held": failure.held, "backupKey": failure.backup_key}
    return result


def _start_and_follow(
    target: Target, kind: str, execution_input: dict[str, Any], name: str | None, no_wait: bool, as_json: bool
) -> None:
    arn = executions.start(target, kind, execution_input, name)
    if no_wait:
        _echo(arn)
        return
    _follow(target, arn, as_json)


# --- commands ---------------------------------------------------------------------------------------------------


@main.command()
@target_options
@rollout_input_options
@click.option("--json", "as_json", is_flag=True, help="Print the dry run's report as JSON.")
def plan(target: Target, execution_input: dict[str, Any], as_json: bool) -> None:
    """Dry run: what the rollout would change in the runtime, the gateways and their targets. Changes nothing."""
    execution_input = {**execution_input, "dryRun": True}
    execution_input.setdefault("trigger", _trigger(target, None))
    arn = executions.start(target, "plan", execution_input)
    _echo(f"planning on {target.describe()} ({executions.name_of(arn)}) ...", err=True)
    description = executions.Follower(target, arn, lambda line: None, _poll_seconds(target)).run()
    if description["status"] != "SUCCEEDED":
        lines = render.failure_lines(render.failure_of(description), executions.name_of(arn), target.flags())
        for line in lines:
            _echo(line, err=True)
        sys.exit(1)
    report = json.loads(description.get("output") or "{}")
    if as_json:
        _echo(json.dumps(report, indent=2))
        return
    for line in render.plan_lines(report, target.describe(), target.flags()):
        _echo(line)


@main.command()
@target_options
@rollout_input_options
@click.option("--reason", metavar="TEXT", help="Why you roll out (recorded in the trigger and the report).")
@click.option("--name", metavar="NAME", help="Execution name (default: apply-<UTC time>; the backup key uses it).")
@click.option("--no-wait", is_flag=True, help="Print the execution ARN and return; do not follow it.")
@click.option("--json", "as_json", is_flag=True, help="Progress on stderr; the execution's outcome as JSON on stdout.")
def apply(
    target: Target, execution_input: dict[str, Any], reason: str | None, name: str | None, no_wait: bool, as_json: bool
) -> None:
    """Start the rollout and follow it live: one line per state entered (>) and left (<) with elapsed time, waits
    and approvals as such; then the report. Exits 1 with the named error and what to do if it fails."""
    execution_input.setdefault("trigger", _trigger(target, reason))
    _start_and_follow(target, "apply", execution_input, name, no_wait, as_json)


@main.command()
@click.argument("execution", required=False)
@target_options
@click.option("--list", "list_recent", is_flag=True, help="List the latest executions instead.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def status(target: Target, execution: str | None, list_recent: bool, as_json: bool) -> None:
    """The latest (or the named) execution: status, current state and phase, outcome, error, backup key, trigger."""
    if list_recent:
        recent = executions.recent(target)
        if as_json:
            _echo(json.dumps(recent, indent=2, default=str))
            return
        for item in recent:
            stop = item.get("stopDate")
            took = f"{(stop - item['startDate']).total_seconds():.1f}s" if stop else "running"
            _echo(f"{item['name']:<36} {item['status']:<10} {item['startDate']:%Y-%m-%d %H:%M:%S} {took}")
        return
    arn, description = executions.resolve(target, execution)
    events = executions.history(target, arn)
    summary = status_summary(target, description, events)
    if as_json:
        _echo(json.dumps(summary, indent=2, default=str))
        return
    for line in status_lines(target, description, summary):
        _echo(line)


def status_summary(
    target: Target, description: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    state = executions.current_state(events)
    entered = executions.states_entered(events)
    # In the rollout's order (AcceptInput, a "load" state, runs before the lock's "queue" states).
    order = [*executions.PHASES, "other"]
    phases = sorted({executions.PHASE_OF.get(name, "other") for name in entered}, key=order.index)
    pending = executions.pending_approval(events) if description["status"] == "RUNNING" else None
    result = _execution_json(description)
    result.pop("output", None)
    result |= {
        "state": state,
        "phase": executions.PHASE_OF.get(state or "", "other") if state else None,
        "phases": phases,
        "waitingForApproval": pending is not None,
        "backupKey": executions.backup_key(description, events),
        "trigger": executions.execution_input(description).get("trigger"),
        "input": {k: v for k, v in executions.execution_input(description).items() if k != "trigger"},
    }
    if description.get("output"):
        result["report"] = json.loads(description["output"])
    return result


def status_lines(target: Target, description: Mapping[str, Any], summary: dict[str, Any]) -> list[str]:
    name = str(description["name"])
    start = description["startDate"]
    end = description.get("stopDate")
    took = f"{((end or datetime.datetime.now(start.tzinfo)) - start).total_seconds():.1f}s"
    lines = [
        f"execution   {name}",
        f"status      {description['status']} (started {start:%Y-%m-%d %H:%M:%S %Z}, {took})",
        f"state       {summary['state']} (phase {summary['phase']})",
        f"progress    {' > '.join(summary['phases'])}",
    ]
    if summary["input"]:
        lines.append(f"input       {json.dumps(summary['input'], sort_keys=True)}")
    if summary["waitingForApproval"]:
        lines.append(f"waiting     for an approval: secure-rollout approve {name} {target.flags()}")
        lines.append(f'            or: secure-rollout reject {name} {target.flags()} --reason "..."')
    if summary["backupKey"]:
        lines.append(f"backup      {summary['backupKey']}")
    if summary["trigger"]:
        lines.append(f"trigger     {triggers.describe(summary['trigger'])}")
    report = summary.get("report")
    if isinstance(report, dict):
        lines.append("outcome")
        lines += report_summary(report, target)
    if description["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
        error, outcome, advice = render.failure_parts(render.failure_of(description), name, target.flags())
        lines.append(f"failed      {error}")
        if outcome:
            lines.append(f"outcome     {outcome}")
        lines.append(f"what to do  {advice}")
    return lines


def _waiting_execution(target: Target, execution: str | None) -> tuple[str, executions.PendingApproval]:
    if execution:
        arn, description = executions.resolve(target, execution)
        candidates: list[tuple[str, str]] = [(arn, description["status"])]
    else:
        running = executions.recent(target, limit=50, status="RUNNING")
        candidates = [(e["executionArn"], e["status"]) for e in running]
    for arn, status in candidates:
        if status != "RUNNING":
            continue
        pending = executions.pending_approval(executions.history(target, arn))
        if pending is not None:
            return arn, pending
    if execution:
        raise CliError(f"execution {execution} does not wait for an approval (status {candidates[0][1]})")
    raise CliError(f"no execution waits for an approval on {target.describe()}")


def _answer(target: Target, send: Callable[[str], object], name: str) -> None:
    try:
        send(name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            raise CliError(f"the approval of {name} was already answered or timed out ({code})") from None
        raise


@main.command()
@click.argument("execution", required=False)
@target_options
def approve(target: Target, execution: str | None) -> None:
    """Approve the rollout that waits for an approval (the latest one, or EXECUTION): it goes on."""
    arn, pending = _waiting_execution(target, execution)
    name = executions.name_of(arn)
    states = target.client("stepfunctions")
    _answer(target, lambda _: states.send_task_success(taskToken=pending.token, output="{}"), name)
    _echo(f"approved {name}: the rollout goes on ({len(pending.request.get('actions') or [])} change(s))")
    _echo(f"follow it with: secure-rollout status {name} {target.flags()}")


@main.command()
@click.argument("execution", required=False)
@target_options
@click.option("--reason", metavar="TEXT", help="Why (quoted in the execution's failure and its notification).")
def reject(target: Target, execution: str | None, reason: str | None) -> None:
    """Reject the rollout that waits for an approval (the latest one, or EXECUTION): it fails as RolloutRejected and
    changes nothing."""
    arn, pending = _waiting_execution(target, execution)
    name = executions.name_of(arn)
    cause = reason or "rejected with secure-rollout"
    states = target.client("stepfunctions")
    _answer(
        target,
        lambda _: states.send_task_failure(taskToken=pending.token, error="RolloutRejected", cause=cause),
        name,
    )
    _echo(f"rejected {name}: it fails as RolloutRejected; nothing was changed")


def _latest_backup(target: Target) -> tuple[str, str]:
    """(backup key, execution name) of the latest finished rollout that took a backup."""
    for item in executions.recent(target, limit=50):
        if item["status"] not in ("SUCCEEDED", "FAILED"):
            continue
        description = executions.describe(target, str(item["executionArn"]))
        if "restore" in executions.execution_input(description):
            continue
        key = executions.backup_key(description)
        if key:
            return key, str(item["name"])
    raise CliError(f"no finished rollout on {target.describe()} took a backup", "nothing to roll back to")


@main.command()
@target_options
@click.option("--no-wait", is_flag=True, help="Print the execution ARN and return; do not follow it.")
@click.option("--json", "as_json", is_flag=True, help="Progress on stderr; the execution's outcome as JSON on stdout.")
def rollback(target: Target, no_wait: bool, as_json: bool) -> None:
    """Put back the backup of the latest finished rollout (what it found before its first change), and follow it.
    Same as `restore KEY` with that rollout's backup key."""
    key, taken_by = _latest_backup(target)
    _echo(f"rolling back to {key} (taken by {taken_by} before its first change)", err=as_json)
    restore_input = {"restore": key, "trigger": _trigger(target, f"rollback of {taken_by}")}
    _start_and_follow(target, "rollback", restore_input, None, no_wait, as_json)


@main.command()
@click.argument("key")
@target_options
@click.option("--no-wait", is_flag=True, help="Print the execution ARN and return; do not follow it.")
@click.option("--json", "as_json", is_flag=True, help="Progress on stderr; the execution's outcome as JSON on stdout.")
def restore(target: Target, key: str, no_wait: bool, as_json: bool) -> None:
    """Put back a backup by KEY (backups/<execution name>.json): re-create the old gateway and its targets if missing,
    the runtime's configuration, and verify it. Follows it live."""
    restore_input = {"restore": key, "trigger": _trigger(target, None)}
    _start_and_follow(target, "restore", restore_input, None, no_wait, as_json)


@main.command("logs")
@click.argument("execution", required=False)
@target_options
@click.option("--raw", is_flag=True, help="Print the log lines as written (JSON), not condensed.")
def logs_command(target: Target, execution: str | None, raw: bool) -> None:
    """The functions' log lines of the latest (or the named) execution, in order."""
    arn, description = executions.resolve(target, execution)
    start_ms = int(description["startDate"].timestamp() * 1000) - 60_000
    lines = logs.execution_lines(target, arn, start_ms)
    if not lines:
        _echo(f"no log lines of {executions.name_of(arn)} yet (CloudWatch Logs may take a few seconds)", err=True)
        return
    for line in lines:
        _echo(line.render(raw))


@main.command("invoke")
@click.argument("prompt")
@target_options
@click.option("--session-id", metavar="ID", help="Runtime session (33-256 chars) to continue a conversation.")
@click.option("--anonymous", is_flag=True, help="Call without a token (a secured runtime answers 401).")
@click.option(
    "--sigv4", is_flag=True, help="Call as an IAM caller, SigV4-signed with your credentials (a runtime without JWT)."
)
def invoke_command(target: Target, prompt: str, session_id: str | None, anonymous: bool, sigv4: bool) -> None:
    """Ask the agent PROMPT as an OAuth client: mints a token with the stored client credentials (never shown),
    calls the runtime's DEFAULT endpoint and streams the answer, then names the tools the agent used."""
    if session_id is not None and not 33 <= len(session_id) <= 256:
        raise CliError(f"--session-id must be 33-256 characters; got {len(session_id)}")
    if anonymous and sigv4:
        raise CliError("--anonymous and --sigv4 exclude each other: pick one")
    method = invoke.SIGV4 if sigv4 else invoke.ANONYMOUS if anonymous else invoke.BEARER

    def write(text: str) -> None:
        click.echo(text, nl=False)
        sys.stdout.flush()

    answer = invoke.invoke(target, prompt, write, session_id, method)
    _echo()
    _echo(f"[{answer.status}; tools used: {', '.join(answer.tools_used) or 'none'}]", err=True)
    if answer.errors:
        raise CliError(f"the agent streamed error event(s): {', '.join(answer.errors)}")


@main.command("doctor")
@target_options
@click.option(
    "--token-file",
    metavar="PATH",
    help="Diagnose the access token in PATH ('-': stdin; a leading 'Bearer ' is fine). Never printed.",
)
@click.option("--mint", is_flag=True, help="Mint a token with the stored client credentials (the default).")
@click.option("--sigv4", is_flag=True, help="Diagnose a SigV4-signed (IAM) caller instead of a bearer token.")
@click.option(
    "--url", metavar="URL", help="The invocation URL the caller uses (default: the DEFAULT endpoint's, as `invoke`)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor_command(
    target: Target, token_file: str | None, mint: bool, sigv4: bool, url: str | None, as_json: bool
) -> None:
    """Why would the runtime or the gateway answer 401 or 403? Decodes the token's claims (without printing the
    token, and without verifying its signature) and checks them against both authorizers - issuer, client, audience,
    scopes, expiry and clock skew, token_use - and the header allowlist, the invocation URL and qualifier, and
    SigV4-vs-bearer. One line per check (OK/FAIL); each failure with the status the caller gets, its cause and the
    fix. Exits 0 when every check passes, 1 otherwise."""
    if sum([token_file is not None, mint, sigv4]) > 1:
        raise CliError("--token-file, --mint and --sigv4 exclude each other: pick one")
    method = doctor.core.SIGV4 if sigv4 else doctor.core.BEARER
    token: str | None = None
    if token_file is not None:
        token = doctor.read_token_file(token_file)
    elif not sigv4:
        token = invoke.mint_token(target, invoke.client_settings(target))
    subject, findings = doctor.examine(target, token, method, url)
    caller = doctor.caller_line(token, method)
    del token
    if as_json:
        _echo(json.dumps(doctor.report_json(caller, subject, findings, method), indent=2))
    else:
        for line in doctor.report_lines(caller, subject, findings):
            _echo(line)
    if not all(finding.ok for finding in findings):
        sys.exit(1)


# --- shell completion -------------------------------------------------------------------------------------------

COMPLETION_SHELLS = ("bash", "zsh", "fish")
COMPLETION_VAR = "_SECURE_ROLLOUT_COMPLETE"  # click's variable for prog_name secure-rollout


@main.command("completion")
@click.argument("shell", type=click.Choice(COMPLETION_SHELLS), required=False)
def completion(shell: str | None) -> None:
    """Print the completion script of a shell (default: the one $SHELL names). Load it once per shell:

    \b
      bash  (~/.bashrc)   eval "$(secure-rollout completion bash)"
      zsh   (~/.zshrc)    eval "$(secure-rollout completion zsh)"
      fish                secure-rollout completion fish > ~/.config/fish/completions/secure-rollout.fish

    It completes commands, options and choices; the script calls the installed `secure-rollout` command."""
    from click.shell_completion import get_completion_class

    if shell is None:
        shell = Path(os.environ.get("SHELL", "")).name
        if shell not in COMPLETION_SHELLS:
            raise CliError(
                f"cannot tell the shell from SHELL={os.environ.get('SHELL', '')!r}",
                f"name it: secure-rollout completion {{{'|'.join(COMPLETION_SHELLS)}}}",
            )
    completer = get_completion_class(shell)
    if completer is None:  # click knows all three; guards a click that dropped one
        raise CliError(f"click has no completion for {shell}")
    script = completer(main, {}, "secure-rollout", COMPLETION_VAR).source()
    click.echo(script)


# --- the offline sandbox ----------------------------------------------------------------------------------------


@main.group()
def sandbox() -> None:
    """The offline sandbox: an AWS account on this machine with the stack deployed and the tutorial's agent, for
    trying every command without AWS (`--sandbox`)."""


@sandbox.command("up")
@click.option("--poll-seconds", type=click.IntRange(0, 300), default=0, show_default=True, help="Stack PollSeconds.")
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    help="A stack parameter override, as for `sam deploy --parameter-overrides` (repeatable).",
)
@click.option(
    "--trail/--no-trail",
    default=True,
    show_default=True,
    help="The account logs AgentCore writes to CloudTrail: another tool's change (`sandbox redeploy`) starts the "
    "stack's repair rollout.",
)
def sandbox_up(poll_seconds: int, parameters: tuple[str, ...], trail: bool) -> None:
    """Start the sandbox and serve it until `secure-rollout sandbox down` (or Ctrl-C / SIGTERM)."""
    from secure_rollout.sandbox_state import SandboxState, state_path
    from secure_rollout.target import process_alive, sandbox_healthy

    overrides: dict[str, str] = {}
    for item in parameters:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--parameter must be KEY=VALUE; got {item!r}")
        overrides[key] = value
    path = state_path()
    running = SandboxState.read(path)
    # A sandbox whose process lives is running, even while it is too busy to answer its health check.
    if running is not None and (sandbox_healthy(running) or process_alive(running.pid)):
        raise CliError(
            f"a sandbox is already running (pid {running.pid}, {path})", "stop it: secure-rollout sandbox down"
        )
    server = _import_sandbox_server()
    _echo("starting the offline sandbox: moto account, stack deployment, tutorial seed, Cognito and AgentCore ...")

    def ready(state: Any, seconds: float) -> None:
        _echo(f"sandbox ready in {seconds:.1f}s: stack {state.stackName} in {state.region}")
        _echo(f"  AWS endpoint  {state.endpoint} (state file {path})")
        _echo("  try: secure-rollout plan --sandbox")
        _echo("  stop: secure-rollout sandbox down (or Ctrl-C)")

    server.serve(path, ready, poll_seconds=poll_seconds, parameter_overrides=overrides, trail=trail)
    _echo("sandbox stopped")


def _import_sandbox_server() -> Any:
    """The sandbox ships with the source checkout, not with this package: imported only here, from the checkout."""
    import logging
    import warnings

    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "sandbox" / "core.py").is_file():
        raise CliError("the offline sandbox is only available from a source checkout of agentcore-secure-rollout")
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    # moto reports what it does not model (the sandbox applies it itself); the user needs none of that.
    warnings.filterwarnings("ignore", module="moto")
    warnings.filterwarnings("ignore", category=UserWarning)
    logging.getLogger("moto").setLevel(logging.ERROR)
    from sandbox import server

    return server


def _control(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    from secure_rollout.sandbox_state import CONTROL_PREFIX, CONTROL_TOKEN_HEADER, SandboxState, state_path

    state = SandboxState.read(state_path())
    if state is None:
        raise CliError("the offline sandbox is not running", "start it with `secure-rollout sandbox up`")
    request = urllib.request.Request(
        f"{state.endpoint}{CONTROL_PREFIX}/{path}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={CONTROL_TOKEN_HEADER: state.controlToken, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return answer
    except urllib.error.HTTPError as exc:
        raise CliError(f"the sandbox refused {path}: {exc.read(1000).decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(
            f"the offline sandbox does not answer ({exc})", "start it with `secure-rollout sandbox up`"
        ) from None


@sandbox.command("down")
@click.option("--timeout", type=click.IntRange(1, 600), default=60, show_default=True, help="Seconds to wait.")
def sandbox_down(timeout: int) -> None:
    """Stop the running sandbox."""
    from secure_rollout.sandbox_state import SandboxState, state_path
    from secure_rollout.target import process_alive, sandbox_healthy

    path = state_path()
    state = SandboxState.read(path)
    if state is not None and sandbox_healthy(state):
        _control("shutdown")
    elif state is not None and (pid := process_alive(state.pid)) is not None:
        os.kill(pid, signal.SIGTERM)  # alive but not answering: serve() stops on SIGTERM and removes its state file
    else:
        path.unlink(missing_ok=True)  # a sandbox that was killed leaves its state file behind
        _echo("the offline sandbox is not running")
        return
    deadline = time.monotonic() + timeout
    while path.exists():
        if time.monotonic() > deadline:
            raise CliError(f"the sandbox did not stop within {timeout}s ({path} still there)")
        time.sleep(0.2)
    _echo("sandbox stopped")


# Faults the sandbox can inject (sandbox.behaviour.Faults) -> what fails.
FAULTS = {
    "runtime-update-failure": "runtime update ends UPDATE_FAILED",
    "endpoint-update-failure": "move of the runtime's DEFAULT endpoint ends UPDATE_FAILED",
    "gateway-create-failure": "gateway creation ends FAILED",
    "target-create-failure": "gateway target creation ends FAILED",
    "target-delete-failure": "gateway target deletion ends FAILED",
}


@sandbox.command("fault")
@click.argument("fault", type=click.Choice(list(FAULTS)))
@click.argument("message")
def sandbox_fault(fault: str, message: str) -> None:
    """Make the next matching AgentCore operation fail with MESSAGE, e.g. runtime-update-failure "Container failed
    health check": to see a failed rollout, its rollback and the CLI's advice."""
    _control("faults", {"fault": fault.replace("-", "_"), "message": message})
    _echo(f"armed: the next {FAULTS[fault]} ({message})")


@sandbox.command("redeploy")
@click.option("--no-wait", is_flag=True, help="Print the repair execution's ARN and return; do not follow it.")
@click.option("--json", "as_json", is_flag=True, help="Progress on stderr; the repair's outcome as JSON on stdout.")
def sandbox_redeploy(no_wait: bool, as_json: bool) -> None:
    """Redeploy the agent as another tool would (`agentcore deploy` from a config without auth, a console edit): one
    full-replace UpdateAgentRuntime by the sandbox's DeveloperRole that leaves out the authorizer and the header
    allowlist. CloudTrail reports the call to the stack's out-of-band change rule, whose rollout puts them back;
    this follows that repair live (`status` then names the principal and the call)."""
    done = _control("redeploy")
    say: Callable[[str], None] = functools.partial(_echo, err=as_json)
    authorizer = "none" if not done.get("authorizerConfiguration") else "still set"
    say(f"redeployed runtime {done['runtimeName']}: {done['call']} by {done['principal']}")
    say(f"  authorizer now: {authorizer}; Authorization allowlist: {done['requestHeaderAllowlist'] or 'none'}")
    started = [str(arn) for arn in done.get("startedExecutions") or []]
    if not started:
        raise CliError(
            "the redeploy started no repair rollout (CloudTrail -> the stack's AgentCoreChangedOutOfBand rule)",
            "`secure-rollout status --sandbox --list` shows what ran",
        )
    say(f"CloudTrail -> the stack's rule started {executions.name_of(started[0])} to repair it")
    if no_wait:
        _echo(started[0])
        return
    _follow(resolve(TargetOptions(None, None, None, None, True, SAMCONFIG)), started[0], as_json)


if __name__ == "__main__":
    main()
