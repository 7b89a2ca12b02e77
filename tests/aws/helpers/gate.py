"""Whether the real-account suite may run: asked for explicitly, real credentials, the tools it needs.

The suite creates billed resources in an AWS account, so it runs only when asked (`AGENTCORE_ROLLOUT_AWS_TESTS`)
and only against a real account: the offline placeholder credentials (`testing`, what `make test` and the sandbox
use), endpoint overrides (LocalStack, the sandbox's loopback planes) and moto's account are refused before any
resource is created. Everything but the final STS GetCallerIdentity is decided without a network call.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

OPT_IN_ENV: Final = "AGENTCORE_ROLLOUT_AWS_TESTS"
RUN: Final = "1"  # run if the account can be used, skip (with the reason) otherwise
REQUIRED: Final = "required"  # `make test-aws`: fail instead of skipping, so the target never passes without running
HOW_TO_OPT_IN: Final = (
    f"to run it, set {OPT_IN_ENV}=1 with real AWS credentials (a region with Bedrock AgentCore), or run "
    "`make test-aws`, which fails instead of skipping; it creates billed resources and deletes them again - see "
    "README 'Real-account tests (opt-in)'"
)
OFFLINE_PLACEHOLDER: Final = "testing"  # the fake credentials of `make test`, the sandbox and moto
MOTO_ACCOUNT: Final = "123456789012"
REPO_ROOT: Final = Path(__file__).resolve().parents[3]
# Lambda runtime of template.yaml's functions and layer: `sam build` needs this interpreter, or Docker.
BUILD_PYTHON: Final = "python3.13"


class _Credentials(Protocol):
    access_key: str
    secret_key: str
    token: str | None


class SessionLike(Protocol):
    """What the gate needs of a boto3 Session (a Protocol so the unit tests can hand in a fake)."""

    @property
    def region_name(self) -> str | None: ...

    def get_credentials(self) -> Any: ...

    def client(self, service_name: str, *, region_name: str | None = ..., config: Config | None = ...) -> Any: ...


@dataclass(frozen=True)
class Account:
    account_id: str
    caller_arn: str
    region: str
    partition: str
    sam: str  # the sam CLI to run
    build_in_container: bool  # no local python3.13: `sam build --use-container`


@dataclass(frozen=True)
class Decision:
    account: Account | None
    reason: str  # why the suite does not run ("" when it does)
    required: bool  # the caller asked for a failure instead of a skip


def skip_reason(problem: str) -> str:
    return f"real-account suite (tests/aws) not run: {problem}; {HOW_TO_OPT_IN}"


def sam_cli(which: Callable[[str], str | None]) -> str | None:
    """The repo's tools venv (`make install`) first, else `sam` on PATH."""
    local = REPO_ROOT / ".venv-tools" / "bin" / "sam"
    return str(local) if local.is_file() else which("sam")


def offline_problem(environ: Mapping[str, str], credentials: Any, region: str | None) -> str | None:
    """Why these settings cannot be a real account, decided without any network call; None if they may be."""
    overrides = sorted(name for name in environ if name.upper().startswith("AWS_ENDPOINT_URL"))
    if overrides:
        return (
            f"endpoint override(s) {', '.join(overrides)} set: this suite talks to real AWS endpoints only (unset them)"
        )
    if credentials is None:
        return "no AWS credentials found (configure a profile with AWS_PROFILE, or export AWS_ACCESS_KEY_ID/...)"
    try:
        parts = (credentials.access_key, credentials.secret_key, credentials.token)
    except (BotoCoreError, ClientError) as exc:  # e.g. an expired SSO session, refreshed lazily
        return f"AWS credentials could not be loaded ({type(exc).__name__})"
    if any(part is not None and part.strip().lower() == OFFLINE_PLACEHOLDER for part in parts):
        return (
            f"the AWS credentials are the offline placeholders '{OFFLINE_PLACEHOLDER}' (what `make test` and the "
            "sandbox use); they never count as a real account"
        )
    if not region:
        return "no AWS region configured (set AWS_REGION to a region with Bedrock AgentCore, e.g. us-east-1)"
    return None


def tools_problem(which: Callable[[str], str | None]) -> str | None:
    if sam_cli(which) is None:
        return "the AWS SAM CLI is missing (`make install` puts it in .venv-tools, or install `sam` on PATH)"
    if which(BUILD_PYTHON) is None and which("docker") is None:
        return (
            f"`sam build` needs {BUILD_PYTHON} on PATH (the functions' Lambda runtime) or Docker "
            "(then it builds with --use-container)"
        )
    return None


def refused_offline(
    environ: Mapping[str, str],
    new_session: Callable[[], Any],  # returns a SessionLike (boto3.session.Session)
    which: Callable[[str], str | None],
    need_tools: bool = True,
) -> tuple[Decision | None, SessionLike | None]:
    """Everything decidable without a network call: (the refusal, or None and the session to check with STS)."""
    wanted = environ.get(OPT_IN_ENV, "").strip().lower()
    required = wanted == REQUIRED
    if wanted not in (RUN, REQUIRED):
        got = f" (it is {environ[OPT_IN_ENV]!r})" if environ.get(OPT_IN_ENV) else ""
        return Decision(None, skip_reason(f"not requested{got}"), required=False), None
    try:
        session: SessionLike = new_session()
        problem = offline_problem(environ, session.get_credentials(), session.region_name)
        problem = problem or (tools_problem(which) if need_tools else None)
    except (BotoCoreError, ClientError) as exc:  # e.g. AWS_PROFILE names no profile
        problem = f"the AWS configuration could not be loaded ({type(exc).__name__})"
    if problem:
        return Decision(None, skip_reason(problem), required), None
    return None, session


def decide(
    environ: Mapping[str, str],
    new_session: Callable[[], Any],  # returns a SessionLike (boto3.session.Session)
    which: Callable[[str], str | None],
    need_tools: bool = True,
) -> Decision:
    """Open the gate only for an explicit opt-in, real-looking credentials and an account STS confirms."""
    refusal, session = refused_offline(environ, new_session, which, need_tools)
    if refusal is not None:
        return refusal
    assert session is not None
    required = environ.get(OPT_IN_ENV, "").strip().lower() == REQUIRED
    region = str(session.region_name)
    sts = session.client("sts", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 3}))
    try:
        identity = sts.get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        return Decision(None, skip_reason(f"STS GetCallerIdentity refused the credentials ({code})"), required)
    except BotoCoreError as exc:
        return Decision(None, skip_reason(f"STS GetCallerIdentity failed ({type(exc).__name__})"), required)
    account_id, caller_arn = str(identity.get("Account", "")), str(identity.get("Arn", ""))
    if account_id == MOTO_ACCOUNT or not (account_id.isdigit() and len(account_id) == 12):
        return Decision(
            None, skip_reason(f"STS answered account {account_id!r}, which is moto's, not a real one"), required
        )
    sam = sam_cli(which) or ""  # tools_problem checked it (unless need_tools is off: cleanup builds nothing)
    return Decision(
        Account(
            account_id=account_id,
            caller_arn=caller_arn,
            region=region,
            partition=caller_arn.split(":")[1] if caller_arn.count(":") >= 5 else "aws",
            sam=sam,
            build_in_container=which(BUILD_PYTHON) is None,
        ),
        "",
        required,
    )


def decide_from_process() -> Decision:
    return decide(os.environ, boto3.session.Session, shutil.which)
