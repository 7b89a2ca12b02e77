"""What a rollout may touch, fixed at deployment, and what one execution may choose.

Each setting is declared once, in `SETTINGS`: the template parameter that fixes it, the environment variable that
carries the deployed value to every function, its type, bounds and default, and whether the execution input may change
it. template.yaml (parameters, their constraints and defaults, every function's environment), the ASL's
`$.config.settings.*` paths and the README's two tables restate it, and tests/unit/test_unit_settings.py fails when
one of them disagrees.
The execution input is untrusted (anyone who may start an execution, and every EventBridge rule, writes it): it may
only pick per-execution knobs (dry run, poll pacing, how strict the smoke test's agent-path question is, a new agent
CodeZip from the deployed artifact bucket, asking for approval and how long to wait for it - never skipping an
approval the deployment requires). The names of the runtime, the gateways, the target, the parameter prefix
and the user pool are the deployment's; an input may repeat them but never change them, and IAM is scoped to exactly
those resources (template.yaml).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, Final, cast

import botocore.session

from rollout_core import backup
from rollout_core.errors import InvalidConfiguration, InvalidExecutionInput
from rollout_core.state import ArtifactRequest, Settings


def model_pattern(operation: str, member: str) -> str:
    """A request member's pattern in the current bedrock-agentcore-control model. botocore does not check patterns
    client-side (the service does, at call time), so the rollout checks them itself before changing anything."""
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    request = model.operation_model(operation).input_shape
    if request is None or "pattern" not in request.members[member].metadata:
        raise InvalidConfiguration(f"the botocore model has no pattern for {operation}.{member}")
    return str(request.members[member].metadata["pattern"])


# AgentCore / Cognito identifier shapes (botocore service models).
RUNTIME_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,47}")
# CreateGateway's name, from the model. The deployment further requires lower case: a gateway's id (and so its ARN,
# which IAM matches case-sensitively against the template's gateway/<name>-?????????? resources) is the lower-cased
# name plus a suffix.
GATEWAY_NAME = re.compile(model_pattern("CreateGateway", "name"))
GATEWAY_NAME_DESCRIPTION = (
    f"a lower-case gateway name matching CreateGateway's name pattern {GATEWAY_NAME.pattern} "
    "(letters, digits, single hyphens, at most 48)"
)
TARGET_NAME = re.compile(r"([0-9a-zA-Z][-]?){1,100}")
PARAMETER_PREFIX = re.compile(r"(/[a-zA-Z0-9_.-]+){1,15}")
# [0-9] as in template.yaml's AllowedPattern: Python's \d would also take any Unicode digit.
COGNITO_POOL_ID = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]_[0-9a-zA-Z]+")
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
LOOPBACK_ENDPOINT = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\]):[0-9]{1,5}")
# How strict the smoke test's agent-path warranty question is (the gateway itself is always checked directly).
AGENT_TOOL_CHECK_REQUIRE = "require"  # the answer must report the gateway's warranty tool
AGENT_TOOL_CHECK_ANSWER = "answer"  # a 2xx answer without error events suffices (a model may pick a local tool)
AGENT_TOOL_CHECK = re.compile(f"{AGENT_TOOL_CHECK_REQUIRE}|{AGENT_TOOL_CHECK_ANSWER}")
# Which rollouts wait for an operator's approval after the plan (only when the plan changes something, never for a
# dry run): none, those EventBridge started (a trigger from an AWS event source, like the stack's Parameter Store
# rule), or every one. An execution may ask for approval, never skip it.
APPROVAL_NEVER = "never"
APPROVAL_EVENTBRIDGE = "eventbridge"
APPROVAL_ALWAYS = "always"
APPROVAL_POLICY = re.compile(f"{APPROVAL_NEVER}|{APPROVAL_EVENTBRIDGE}|{APPROVAL_ALWAYS}")
# How long an approval request waits for an answer; the state machine's own timeout (7 days) leaves room for a
# queued rollout to wait out another one's approval and then ask for its own.
MAX_APPROVAL_TIMEOUT_SECONDS = 172800
# What a failed switch, smoke test or bake check does.
ON_FAILURE_ROLLBACK = "rollback"
ON_FAILURE_HOLD = "hold"
ON_FAILURE = re.compile(f"{ON_FAILURE_ROLLBACK}|{ON_FAILURE_HOLD}")
# Bake time before the old gateway is deleted, bounded: the rollout holds the lock while it bakes.
MAX_BAKE_SECONDS = 1800


class InputRule(Enum):
    OVERRIDE = "the execution input may set it"
    PINNED = "fixed at deployment; the execution input may only repeat the deployed value"
    DEPLOYMENT = "fixed at deployment; not an execution input"


@dataclass(frozen=True)
class Setting:
    key: str  # camelCase: the execution-input and state key (the wire format)
    parameter: str  # template.yaml parameter
    env_var: str  # environment variable carrying the deployed value to every function
    kind: type
    description: str
    rule: InputRule
    pattern: re.Pattern[str] | None = None
    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False  # an empty deployed value means "not configured"
    lower_case: bool = False  # on top of `pattern`
    default: str | int | None = None  # the template parameter's Default; None: the operator must give it


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        "parameterPrefix",
        "ParameterPrefix",
        "ROLLOUT_PARAMETER_PREFIX",
        str,
        "an SSM path like /app/customersupport/agentcore",
        InputRule.PINNED,
        PARAMETER_PREFIX,
        default="/app/customersupport/agentcore",
    ),
    Setting(
        "runtimeName",
        "RuntimeName",
        "ROLLOUT_RUNTIME_NAME",
        str,
        "an AgentCore runtime name ([a-zA-Z][a-zA-Z0-9_]{0,47})",
        InputRule.PINNED,
        RUNTIME_NAME,
        default="CustomerSupport",
    ),
    Setting(
        "oldGatewayName",
        "OldGatewayName",
        "ROLLOUT_OLD_GATEWAY_NAME",
        str,
        GATEWAY_NAME_DESCRIPTION,
        InputRule.PINNED,
        GATEWAY_NAME,
        lower_case=True,
        default="my-gateway",
    ),
    Setting(
        "gatewayName",
        "GatewayName",
        "ROLLOUT_GATEWAY_NAME",
        str,
        GATEWAY_NAME_DESCRIPTION,
        InputRule.PINNED,
        GATEWAY_NAME,
        lower_case=True,
        default="my-gateway-secure",
    ),
    Setting(
        "targetName",
        "TargetName",
        "ROLLOUT_TARGET_NAME",
        str,
        "a gateway target name (letters, digits, single hyphens)",
        InputRule.PINNED,
        TARGET_NAME,
        default="WarrantyCheck",
    ),
    Setting(
        "userPoolId",
        "UserPoolId",
        "ROLLOUT_USER_POOL_ID",
        str,
        "a Cognito user pool id like us-east-1_AbCdEf123",
        InputRule.DEPLOYMENT,
        COGNITO_POOL_ID,
    ),
    Setting(
        "artifactBucket",
        "ArtifactBucket",
        "ROLLOUT_ARTIFACT_BUCKET",
        str,
        "an S3 bucket name (empty: agentArtifact is not accepted)",
        InputRule.DEPLOYMENT,
        S3_BUCKET,
        optional=True,
        default="",
    ),
    Setting(
        "sandboxCognitoEndpoint",
        "SandboxCognitoEndpoint",
        "ROLLOUT_SANDBOX_COGNITO_ENDPOINT",
        str,
        "empty, or (offline sandbox only) the loopback base URL of the Cognito stand-in, like http://127.0.0.1:8765",
        InputRule.DEPLOYMENT,
        LOOPBACK_ENDPOINT,
        optional=True,
        default="",
    ),
    Setting(
        "sandboxGatewayEndpoint",
        "SandboxGatewayEndpoint",
        "ROLLOUT_SANDBOX_GATEWAY_ENDPOINT",
        str,
        "empty, or (offline sandbox only) the loopback base URL of the AgentCore Gateway data-plane stand-in, like "
        "http://127.0.0.1:8766",
        InputRule.DEPLOYMENT,
        LOOPBACK_ENDPOINT,
        optional=True,
        default="",
    ),
    Setting(
        "agentToolCheck",
        "AgentToolCheck",
        "ROLLOUT_AGENT_TOOL_CHECK",
        str,
        f"{AGENT_TOOL_CHECK_REQUIRE} (the smoke test's warranty answer must come from the gateway tool) or "
        f"{AGENT_TOOL_CHECK_ANSWER} (a 2xx answer suffices; the gateway itself is always checked directly)",
        InputRule.OVERRIDE,
        AGENT_TOOL_CHECK,
        default=AGENT_TOOL_CHECK_ANSWER,
    ),
    Setting(
        "approvalPolicy",
        "RequireApproval",
        "ROLLOUT_REQUIRE_APPROVAL",
        str,
        f"{APPROVAL_NEVER}, {APPROVAL_EVENTBRIDGE} (rollouts started by an EventBridge rule wait for approval) or "
        f"{APPROVAL_ALWAYS}",
        InputRule.DEPLOYMENT,
        APPROVAL_POLICY,
        default=APPROVAL_NEVER,
    ),
    Setting(
        "approvalTimeoutSeconds",
        "ApprovalTimeoutSeconds",
        "ROLLOUT_APPROVAL_TIMEOUT_SECONDS",
        int,
        f"an integer number of seconds from 1 to {MAX_APPROVAL_TIMEOUT_SECONDS}",
        InputRule.OVERRIDE,
        minimum=1,
        maximum=MAX_APPROVAL_TIMEOUT_SECONDS,
        default=86400,
    ),
    Setting(
        "pollSeconds",
        "PollSeconds",
        "ROLLOUT_POLL_SECONDS",
        int,
        "an integer number of seconds from 0 to 300",
        InputRule.OVERRIDE,
        minimum=0,
        maximum=300,
        default=10,
    ),
    Setting(
        "bakeSeconds",
        "BakeSeconds",
        "ROLLOUT_BAKE_SECONDS",
        int,
        f"an integer number of seconds from 0 to {MAX_BAKE_SECONDS} (the smoke test runs again after them, before the "
        "old gateway is deleted)",
        InputRule.OVERRIDE,
        minimum=0,
        maximum=MAX_BAKE_SECONDS,
        default=0,
    ),
    Setting(
        "onFailure",
        "OnFailure",
        "ROLLOUT_ON_FAILURE",
        str,
        f"{ON_FAILURE_ROLLBACK} (a failed switch, smoke test or bake check puts the backed-up runtime back and "
        f"deletes the gateway the execution created) or {ON_FAILURE_HOLD} (the failed state is kept for inspection; "
        "the failure names the backup to restore)",
        InputRule.OVERRIDE,
        ON_FAILURE,
        default=ON_FAILURE_ROLLBACK,
    ),
    Setting(
        "maxPolls",
        "MaxPolls",
        "ROLLOUT_MAX_POLLS",
        int,
        "an integer from 1 to 1000",
        InputRule.OVERRIDE,
        minimum=1,
        maximum=1000,
        default=60,
    ),
)
SETTINGS_BY_KEY: Final[dict[str, Setting]] = {s.key: s for s in SETTINGS}

# Execution-input keys that are not deployment settings.
DRY_RUN_KEY = "dryRun"
REQUIRE_APPROVAL_KEY = "requireApproval"  # an execution may ask for approval; the deployment may insist on it
ARTIFACT_KEY = "agentArtifact"
TRIGGER_KEY = "trigger"
RESTORE_KEY = "restore"
# Drift watch (the stack's schedule; CloudTrail-triggered checks use the same keys): plan, and when the plan finds
# something to change, notify the diff - then end there, or, with autoRemediate, roll out as usual.
CHECK_DRIFT_KEY = "checkDrift"
AUTO_REMEDIATE_KEY = "autoRemediate"
# The execution input's true/false keys (each defaults to false).
FLAG_KEYS = (DRY_RUN_KEY, CHECK_DRIFT_KEY, AUTO_REMEDIATE_KEY)
# A restore puts a backup back: it plans nothing (so no approval gate), switches no code, has no switch to roll back.
NOT_WITH_RESTORE = (
    DRY_RUN_KEY,
    ARTIFACT_KEY,
    REQUIRE_APPROVAL_KEY,
    "bakeSeconds",
    "onFailure",
    CHECK_DRIFT_KEY,
    AUTO_REMEDIATE_KEY,
)
# A drift check compares the live state with the deployment's desired state: a dry run has its own output (and would
# never notify), and a new agent package is a change someone asks for, not drift.
NOT_WITH_CHECK_DRIFT = (DRY_RUN_KEY, ARTIFACT_KEY)
ENV_VAR_KEY = "gatewayUrlEnvVar"  # derived from the gateway name; an input may only repeat it
# Set on the runtime next to the URL variable: the agent derives the URL variable's name from it with the same rule
# (agent/mcp_client/client.py), so a stack deployed with any GatewayName gives a working agent, and stale
# AGENTCORE_GATEWAY_*_URL variables of earlier gateways are never guessed at.
GATEWAY_NAME_ENV_VAR = "AGENTCORE_GATEWAY_NAME"

ARTIFACT_DESCRIPTION = '{"s3Bucket": "<the deployed ArtifactBucket>", "s3Key": "<key of the agent CodeZip>"}'

# `trigger` says why an execution started (EventBridge rules, operators). It is informational and echoed into the
# report, so it is bounded in shape and size: the state machine's 256 KB state limit is never at its mercy.
MAX_TRIGGER_BYTES = 2048
TRIGGER_FIELDS: Final[dict[str, tuple[re.Pattern[str], str]]] = {
    "source": (re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}"), "a source name like aws.ssm or manual"),
    "parameter": (re.compile(r"/[a-zA-Z0-9_.\-/]{1,1010}"), "an SSM parameter name"),
    "operation": (
        re.compile(r"Create|Update|Delete|LabelParameterVersion"),
        "Create, Update, Delete or LabelParameterVersion",
    ),
    "time": (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)"), "an ISO 8601 time"),
    "reason": (re.compile(r"[\x20-\x7e]{1,256}"), "printable text of at most 256 characters"),
    "by": (re.compile(r"[\x21-\x7e]{1,256}"), "an identity like an IAM ARN (printable, no spaces)"),
    # The stack-deploy rule: the stack's id (an ARN) and the status it reached.
    "stack": (
        re.compile(
            r"arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:[0-9]{12}:stack/[a-zA-Z][-a-zA-Z0-9]{0,127}/[-a-f0-9]{36}"
        ),
        "a CloudFormation stack id (arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>)",
    ),
    "status": (re.compile(r"[A-Z][A-Z_]{1,63}"), "a stack status like UPDATE_COMPLETE"),
    # The CloudTrail rule: the AgentCore control-plane call that changed something out of band.
    "call": (re.compile(r"[A-Z][a-zA-Z]{1,63}"), "an API operation name like UpdateAgentRuntime"),
}


@dataclass(frozen=True)
class Deployment:
    """The values fixed when the stack was deployed (template parameters → function environment)."""

    parameterPrefix: str
    runtimeName: str
    oldGatewayName: str
    gatewayName: str
    targetName: str
    userPoolId: str
    artifactBucket: str
    sandboxCognitoEndpoint: str
    sandboxGatewayEndpoint: str
    agentToolCheck: str
    approvalPolicy: str
    approvalTimeoutSeconds: int
    pollSeconds: int
    bakeSeconds: int
    onFailure: str
    maxPolls: int

    @property
    def gateway_url_env_var(self) -> str:
        return gateway_url_env_var_for(self.gatewayName)


@dataclass(frozen=True)
class RolloutSettings:
    """One execution's settings: the deployment's names plus the per-execution choices."""

    parameterPrefix: str
    runtimeName: str
    oldGatewayName: str
    gatewayName: str
    targetName: str
    gatewayUrlEnvVar: str
    dryRun: bool
    agentToolCheck: str
    approvalTimeoutSeconds: int
    pollSeconds: int
    bakeSeconds: int
    onFailure: str
    maxPolls: int
    # {s3Bucket, s3Key} as given; LoadConfig completes it from the package's manifest (rollout_core.artifact).
    agentArtifact: ArtifactRequest | None = None
    artifactBucket: str = ""  # the deployment's; the only bucket agent code may be read from
    # Whether this rollout waits for an operator's approval once its plan changes something, and why.
    requireApproval: bool = False
    approvalReason: str = ""
    restore: str | None = None  # a backup key: this execution puts that backup back instead of rolling out
    checkDrift: bool = False  # plan; notify drift; end there unless autoRemediate
    autoRemediate: bool = False  # a drift check that finds drift rolls out (approval gate as usual)

    def to_dict(self) -> Settings:
        return cast(Settings, asdict(self))  # the dataclass and the TypedDict have the same fields


def gateway_url_env_var_for(gateway_name: str) -> str:
    """The AgentCore CLI's convention: my-gateway-secure -> AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL.
    agent/mcp_client/client.py applies the same rule to AGENTCORE_GATEWAY_NAME (a test keeps the two in step)."""
    return f"AGENTCORE_GATEWAY_{gateway_name.upper().replace('-', '_')}_URL"


def describe_value(value: Any) -> str:
    """A value for an error message: repr, cut to 120 characters (inputs can be huge)."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _checked(setting: Setting, value: Any, where: str) -> Any:
    # bool is an int subclass: reject True/False where an integer is expected.
    type_ok = isinstance(value, setting.kind) and not (setting.kind is int and isinstance(value, bool))
    in_bounds = type_ok and (
        (setting.pattern is None or bool(setting.pattern.fullmatch(value)))
        and (not setting.lower_case or value == value.lower())
        and (setting.minimum is None or value >= setting.minimum)
        and (setting.maximum is None or value <= setting.maximum)
    )
    if not in_bounds:
        got = f"{type(value).__name__} {describe_value(value)}" if not type_ok else describe_value(value)
        raise InvalidExecutionInput(f"{where} must be {setting.description}; got {got}")
    return value


def deployment_from_environment(env: Mapping[str, str]) -> Deployment:
    """Read the deployed settings; a function deployed without them is a broken deployment, not bad input."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.env_var, "").strip()
        if not raw and setting.optional:
            values[setting.key] = ""
            continue
        where = f"function setting {setting.env_var} (template parameter {setting.parameter})"
        if setting.kind is int:
            if not (raw.isascii() and raw.isdigit()):  # a CloudFormation Number; int() takes other digits too
                raise InvalidConfiguration(f"{where} must be {setting.description}; got {describe_value(raw)}")
            value: Any = int(raw)
        else:
            value = raw
        try:
            values[setting.key] = _checked(setting, value, where)
        except InvalidExecutionInput as exc:
            raise InvalidConfiguration(str(exc)) from None
    return Deployment(**values)


def input_keys() -> list[str]:
    keys = [s.key for s in SETTINGS if s.rule is not InputRule.DEPLOYMENT]
    return sorted([*keys, *FLAG_KEYS, ARTIFACT_KEY, TRIGGER_KEY, ENV_VAR_KEY, REQUIRE_APPROVAL_KEY, RESTORE_KEY])


def parse_execution_input(raw: Any, deployment: Deployment) -> RolloutSettings:
    """Merge the execution input over the deployment; unknown keys, wrong types and foreign names are refused."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidExecutionInput(f"execution input must be a JSON object; got {type(raw).__name__}")
    allowed = input_keys()
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise InvalidExecutionInput(
            f"execution input has unknown key(s) {describe_value(unknown)}; allowed keys are {', '.join(allowed)}"
        )
    deployed = asdict(deployment)
    merged: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.rule is InputRule.DEPLOYMENT:
            continue
        if setting.key not in raw:
            merged[setting.key] = deployed[setting.key]
            continue
        value = _checked(setting, raw[setting.key], f"execution input '{setting.key}'")
        if setting.rule is InputRule.PINNED and value != deployed[setting.key]:
            raise InvalidExecutionInput(
                f"execution input '{setting.key}' is {describe_value(value)}, but this stack was deployed for "
                f"{deployed[setting.key]!r} (template parameter {setting.parameter}); the rollout never touches other "
                f"resources - deploy another stack (or update {setting.parameter}) to change it"
            )
        merged[setting.key] = value

    env_var = deployment.gateway_url_env_var
    if ENV_VAR_KEY in raw and raw[ENV_VAR_KEY] != env_var:
        raise InvalidExecutionInput(
            f"execution input '{ENV_VAR_KEY}' is {describe_value(raw[ENV_VAR_KEY])}, but the runtime's gateway URL "
            f"variable is derived from the gateway name ({env_var}, pattern AGENTCORE_GATEWAY_<NAME>_URL)"
        )
    flags: dict[str, bool] = {}
    for key in FLAG_KEYS:
        flags[key] = raw.get(key, False)
        if not isinstance(flags[key], bool):
            raise InvalidExecutionInput(
                f"execution input '{key}' must be true or false; got {describe_value(raw[key])}"
            )
    artifact = raw.get(ARTIFACT_KEY)
    trigger = parse_trigger(raw[TRIGGER_KEY]) if TRIGGER_KEY in raw else None
    requested = raw.get(REQUIRE_APPROVAL_KEY)
    if REQUIRE_APPROVAL_KEY in raw and not isinstance(requested, bool):
        raise InvalidExecutionInput(
            f"execution input '{REQUIRE_APPROVAL_KEY}' must be true or false; got {describe_value(requested)}"
        )
    required, reason = approval_required(deployment.approvalPolicy, trigger, requested)
    restore = None
    if RESTORE_KEY in raw:
        restore = backup.parse_key(raw[RESTORE_KEY], f"execution input '{RESTORE_KEY}'")
        clash = sorted(k for k in NOT_WITH_RESTORE if k in raw)
        if clash:
            raise InvalidExecutionInput(
                f"execution input '{RESTORE_KEY}' cannot be combined with {', '.join(clash)}: a restore puts a backup "
                "back, it does not roll out"
            )
    check_drift_settings(raw, flags)
    return RolloutSettings(
        **merged,
        gatewayUrlEnvVar=env_var,
        dryRun=flags[DRY_RUN_KEY],
        checkDrift=flags[CHECK_DRIFT_KEY],
        autoRemediate=flags[AUTO_REMEDIATE_KEY],
        agentArtifact=None if artifact is None else parse_agent_artifact(artifact, deployment.artifactBucket),
        artifactBucket=deployment.artifactBucket,
        requireApproval=required,
        approvalReason=reason,
        restore=restore,
    )


def check_drift_settings(raw: Mapping[str, Any], flags: Mapping[str, bool]) -> None:
    """checkDrift stands alone (no dry run, no agent package); autoRemediate only means something for a drift check."""
    if flags[AUTO_REMEDIATE_KEY] and not flags[CHECK_DRIFT_KEY]:
        raise InvalidExecutionInput(
            f"execution input '{AUTO_REMEDIATE_KEY}' is true, but '{CHECK_DRIFT_KEY}' is not: autoRemediate says what "
            "a drift check does with the drift it finds (a plain rollout always remediates)"
        )
    clash = sorted(k for k in NOT_WITH_CHECK_DRIFT if k in raw)
    if flags[CHECK_DRIFT_KEY] and clash:
        raise InvalidExecutionInput(
            f"execution input '{CHECK_DRIFT_KEY}' cannot be combined with {', '.join(repr(k) for k in clash)}: a drift "
            "check compares the agent with this stack's desired state and notifies what differs (use dryRun alone "
            "for a plan, or a plain rollout for a new agent package)"
        )


def started_by_eventbridge(trigger: Mapping[str, str] | None) -> bool:
    """An EventBridge rule's execution names an AWS event source (the stack's Parameter Store rule: aws.ssm); the
    rule's input transformer writes it, so whoever writes a parameter cannot leave it out."""
    return trigger is not None and trigger.get("source", "").startswith("aws.")


def approval_required(policy: str, trigger: Mapping[str, str] | None, requested: bool | None) -> tuple[bool, str]:
    """(whether the rollout waits for approval, why). The input may ask for approval but never skip it."""
    if policy == APPROVAL_ALWAYS:
        reason = "this stack requires approval for every rollout (RequireApproval=always)"
    elif policy == APPROVAL_EVENTBRIDGE and started_by_eventbridge(trigger):
        reason = f"started by EventBridge ({(trigger or {}).get('source')}) and RequireApproval=eventbridge"
    elif requested:
        return True, "the execution input asked for approval (requireApproval: true)"
    else:
        return False, ""
    if requested is False:
        raise InvalidExecutionInput(
            f"execution input '{REQUIRE_APPROVAL_KEY}' is false, but {reason}: an execution may ask for approval, "
            "never skip it"
        )
    return True, reason


def parse_agent_artifact(value: Any, artifact_bucket: str) -> ArtifactRequest:
    """The agent CodeZip to switch to: only from the bucket the stack was deployed with (IAM grants only that one)."""
    if not artifact_bucket:
        raise InvalidExecutionInput(
            f"execution input '{ARTIFACT_KEY}' is not accepted: this stack was deployed without an ArtifactBucket "
            "(template parameter ArtifactBucket)"
        )
    if not isinstance(value, Mapping):
        raise InvalidExecutionInput(
            f"execution input '{ARTIFACT_KEY}' must be {ARTIFACT_DESCRIPTION}; got {describe_value(value)}"
        )
    keys = sorted(str(k) for k in value)
    if keys != ["s3Bucket", "s3Key"]:
        raise InvalidExecutionInput(f"execution input '{ARTIFACT_KEY}' must be {ARTIFACT_DESCRIPTION}; got keys {keys}")
    bucket, key = value["s3Bucket"], value["s3Key"]
    if bucket != artifact_bucket:
        raise InvalidExecutionInput(
            f"execution input '{ARTIFACT_KEY}.s3Bucket' is {describe_value(bucket)}, but this stack may only deploy "
            f"agent code from {artifact_bucket!r} (template parameter ArtifactBucket)"
        )
    if not isinstance(key, str) or not key.strip() or len(key) > 1024 or key.startswith("/") or not key.isprintable():
        raise InvalidExecutionInput(
            f"execution input '{ARTIFACT_KEY}.s3Key' must be the S3 key of the agent CodeZip (at most 1024 printable "
            f"characters, no leading '/'); got {describe_value(key)}"
        )
    return {"s3Bucket": bucket, "s3Key": key}


def parse_trigger(value: Any) -> dict[str, str]:
    """Why the execution started: a small object of known string fields, at most MAX_TRIGGER_BYTES as JSON."""
    described = ", ".join(f"{name} ({what})" for name, (_, what) in TRIGGER_FIELDS.items())
    if not isinstance(value, Mapping):
        raise InvalidExecutionInput(
            f"execution input '{TRIGGER_KEY}' must be an object with string fields among {described}; "
            f"got {type(value).__name__}"
        )
    size = len(json.dumps(value, default=str).encode())
    if size > MAX_TRIGGER_BYTES:
        raise InvalidExecutionInput(
            f"execution input '{TRIGGER_KEY}' must be at most {MAX_TRIGGER_BYTES} bytes of JSON; got {size} bytes"
        )
    unknown = sorted(str(k) for k in value if k not in TRIGGER_FIELDS)
    if unknown:
        raise InvalidExecutionInput(
            f"execution input '{TRIGGER_KEY}' has unknown field(s) {describe_value(unknown)}; allowed: {described}"
        )
    if "source" not in value:
        raise InvalidExecutionInput(f"execution input '{TRIGGER_KEY}' must name its 'source' (e.g. aws.ssm, manual)")
    for name, field_value in value.items():
        pattern, what = TRIGGER_FIELDS[name]
        if not isinstance(field_value, str) or not pattern.fullmatch(field_value):
            raise InvalidExecutionInput(
                f"execution input '{TRIGGER_KEY}.{name}' must be {what}; got {describe_value(field_value)}"
            )
    return {str(k): str(v) for k, v in value.items()}
