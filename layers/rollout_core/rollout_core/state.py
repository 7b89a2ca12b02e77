"""The JSON that crosses states: what each task gets from the state machine and what it returns into the state.

The keys are camelCase because they are the wire format (the ASL's paths name them: `$.config.settings.pollSeconds`,
`$.plan.gateway.deleteFirst`, `$.switch.version`), so these TypedDicts describe data, they do not convert it. A key a
producer may leave out is `NotRequired`; a key always present whose value may be null is `X | None`.

Where things come from (statemachine/secure_rollout.asl.json):

    AcquireLock  rollout_lock(RolloutLockEvent)            -> $.lock          LockResult
    LoadConfig   load_config(LoadConfigEvent)              -> $.config        Config
    Plan         plan(PlanEvent)                           -> $.plan          Plan
    Backup       backup(BackupEvent)                       -> $.backup        BackupRef
    Delete*      delete_gateway(DeleteGatewayEvent)        -> $.<x>           DeletionHandle
    Provision*   provision_gateway(ProvisionGatewayEvent)  -> $.gateway       GatewayHandle
                 provision_targets(ProvisionTargetsEvent)  -> $.targets       TargetsHandle
    SwitchRuntime switch_runtime(SwitchRuntimeEvent)       -> $.switch        SwitchHandle
    Reassert...  secure_runtime(SecureRuntimeEvent)        -> $.reassert      RuntimeHandle
    Check*       check_status(CheckStatusEvent)            -> (its handle)    PollHandle
    SmokeTest    smoke_test(SmokeTestEvent)                -> $.smoke         SmokeResult
    Report       report(ReportEvent)                       -> $               Report
    Rollback*/Restore*  restore(RestoreEvent)              -> RestoreRuntimeHandle, RestoreGatewayHandle, RestoreReport

AWS's own records (GetAgentRuntime, GetGateway, ... outputs) are not restated here: they are the boto3 stubs' types
(mypy_boto3_bedrock_agentcore_control.type_defs), and the rollout passes them on as `AwsRecord`. The clients are typed
with those stubs where they are taken, under TYPE_CHECKING (the stubs are a development dependency):

    if TYPE_CHECKING:
        from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from evaluated annotations (the tests and
# any runtime check see the real required keys).
from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

# A control-plane record (a Get*/List* answer or one item of it) as the rollout passes it on: JSON-like, keys as AWS
# names them. Its shape is AWS's (the stubs' TypeDefs); the rollout reads the members it needs with .get.
AwsRecord: TypeAlias = dict[str, Any]
# A request for a boto3 call (**request): built from a record's members, so as open as the record.
AwsRequest: TypeAlias = dict[str, Any]
# The CUSTOM_JWT authorizer configuration ({"customJWTAuthorizer": {...}}), as AWS reads and writes it.
Authorizer: TypeAlias = dict[str, Any]


# --- LoadConfig: $.config -------------------------------------------------------------------------------------------


class ArtifactRequest(TypedDict):
    """The execution input's `agentArtifact`: where the agent CodeZip is (the deployed ArtifactBucket only)."""

    s3Bucket: str
    s3Key: str


class Manifest(TypedDict):
    """What a CodeZip's manifest says (rollout_core.artifact.parse_manifest)."""

    runtime: str
    entryPoint: list[str]
    sha256: str


class AgentArtifact(ArtifactRequest, Manifest):
    """An `agentArtifact` verified against its manifest (rollout_core.artifact.verify_agent_artifact)."""

    versionId: NotRequired[str]  # the verified object version, in a versioned bucket


class Settings(TypedDict):
    """`$.config.settings`: one execution's settings (rollout_core.settings.RolloutSettings, as JSON)."""

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
    agentArtifact: AgentArtifact | None  # ArtifactRequest until LoadConfig verified it
    artifactBucket: str
    requireApproval: bool
    approvalReason: str
    restore: str | None
    checkDrift: bool
    autoRemediate: bool


class CognitoConfig(TypedDict):
    """`$.config.cognito` (rollout_core.cognito.CognitoSettings): public identifiers, never the client secret."""

    discoveryUrl: str
    clientId: str
    poolId: str
    tokenUrl: str
    scopes: list[str]


class RuntimeRef(TypedDict):
    id: str
    arn: str
    name: str


class GatewayRef(TypedDict):
    """A gateway found by name (agentcore.gateway_ref): `$.config.oldGateway` / `$.config.newGateway`."""

    id: str
    name: str
    status: str | None


class Config(TypedDict):
    """`$.config`: what LoadConfig read and checked; nothing changed yet."""

    settings: Settings
    cognito: CognitoConfig
    warrantyLambdaArn: str
    runtime: RuntimeRef
    oldGateway: GatewayRef | None
    newGateway: GatewayRef | None
    trigger: NotRequired[dict[str, str]]  # why the execution started (settings.parse_trigger), echoed in the report


# --- Plan: $.plan ---------------------------------------------------------------------------------------------------


class RuntimePlan(TypedDict):
    """`$.plan.runtime` (planner.plan_runtime)."""

    id: str
    arn: str
    name: str | None
    updateRequired: bool
    repair: str | None  # why a new version must go live whatever the settings say (planner.runtime_repair)
    authorizerBefore: Authorizer | None
    authorizerAfter: Authorizer | None
    allowlistBefore: list[str]
    allowlistAfter: list[str]


class GatewayBrief(TypedDict):
    """What the plan and the report show of a gateway (desired.gateway_brief)."""

    id: str
    name: str
    url: str | None
    status: str | None
    authorizerType: str | None
    authorizerConfiguration: Authorizer | None


class GatewayToDelete(TypedDict):
    """`$.plan.gateway.deleteFirst` (with `why`) and `$.plan.gateway.deleteOld`: DeleteGateway's `gateway`."""

    id: str
    name: str
    why: NotRequired[str]


class TargetToReplace(TypedDict):
    name: str
    targetId: str
    status: str | None


class AfterCreate(TypedDict):
    """What CreateGateway cannot take, applied once the new gateway is READY (desired.gateway_carry_plan)."""

    update: dict[str, Any]  # UpdateGateway settings, as GetGateway shows them
    tags: dict[str, str]


class CarryPlan(TypedDict):
    afterCreate: AfterCreate | None
    notCarried: list[str]


class GatewayPlan(TypedDict):
    """`$.plan.gateway` (planner.plan_gateway)."""

    before: GatewayBrief | None
    existing: GatewayBrief | None
    deleteFirst: GatewayToDelete | None
    create: bool
    createRequest: AwsRequest | None
    afterCreate: AfterCreate | None
    notCarried: list[str]  # field names, never values
    updateAuthorizer: bool
    authorizerAfter: Authorizer
    targetNamesBefore: list[str]
    targetsToReplace: list[TargetToReplace]
    targetsToCreate: list[AwsRequest]  # CreateGatewayTarget definitions (desired.target_definition)
    targetsToUpdate: list[AwsRequest]  # the same, with targetId
    deleteOld: GatewayToDelete | None


class EnvVarChange(TypedDict):
    name: str
    before: str | None
    after: str


class EnvironmentPlan(TypedDict):
    """`$.plan.environment` (planner.plan_environment)."""

    name: str
    before: str | None
    update: bool
    repair: bool
    urlUpdate: bool
    gatewayNameVar: EnvVarChange
    artifactUpdate: bool


class Plan(TypedDict):
    """`$.plan` (planner.build_plan): empty `actions` means the run makes no mutating call."""

    changed: bool
    actions: list[str]
    runtime: RuntimePlan
    gateway: GatewayPlan
    environment: EnvironmentPlan
    triggeredBy: NotRequired[str]  # with driftDiff: why the check ran (rollout_core.triggers.describe)
    driftDiff: NotRequired[list[str]]  # a drift check's differences, as an operator reads them (planner.drift_diff)


# --- poll handles: what a mutating step returns and check_status polls ---------------------------------------------

PollKind: TypeAlias = Literal["runtime", "runtimeLive", "gateway", "targets", "targetsDeleted", "gatewayDeleted"]


class PollHandle(TypedDict):
    """What a step returns for the state machine to poll: check_status reads `kind` and `id`, counts `attempt`
    against maxPolls and sets `status` and `ready`; the rest of a handle is passed through unchanged."""

    kind: PollKind
    id: str
    attempt: int
    ready: bool
    status: NotRequired[str | None]
    changed: NotRequired[bool]
    name: NotRequired[str]
    version: NotRequired[str]  # runtime / runtimeLive: the version an update created
    names: NotRequired[list[str]]  # targetsDeleted: only these targets (a replacement)


class RuntimeHandle(PollHandle):
    """A runtime update step (secure_runtime; the base of switch and restore): `version` once an update was sent."""


class SwitchHandle(RuntimeHandle):
    """`$.switch` (switch_runtime)."""

    changes: list[str]
    envVar: str
    before: str | None
    after: str
    gatewayNameVar: EnvVarChange
    artifactChanged: bool


class RestoreRuntimeHandle(RuntimeHandle):
    """`$.rollback` / `$.restoreRuntime` (restore step "runtime")."""

    restoredVersion: str | None
    authorizerKept: bool


class GatewayHandle(PollHandle):
    """`$.gateway` (provision_gateway)."""

    url: str
    settingsPending: bool  # step "carry" runs once the gateway is READY while this is true


class TargetsHandle(PollHandle):
    """`$.targets` (provision_targets)."""

    created: list[str]
    updated: list[str]


class DeletionHandle(PollHandle):
    """`targetsDeleted` / `gatewayDeleted` (delete_gateway)."""

    targetsDeleted: NotRequired[list[str]]


class RestoredGateway(TypedDict):
    id: str
    recreated: bool


class RestoreGatewayHandle(TypedDict):
    """`$.restoreGateway` (restore step "gateway", called again until `ready`)."""

    kind: Literal["restoreGateway"]
    attempt: int
    ready: bool
    urls: dict[str, str]  # old gateway URL -> new URL, for the runtime's environment
    gateway: NotRequired[RestoredGateway | None]
    notRestored: NotRequired[list[str]]
    status: NotRequired[str]


# --- Backup, lock, smoke test, reports ------------------------------------------------------------------------------


class BackedUpGateway(TypedDict):
    name: str
    id: str
    targets: int


class BackupRef(TypedDict):
    """`$.backup` (backup.take_backup): where the backup is; the rollback and the report read it."""

    bucket: str
    key: str
    versionId: str | None
    sizeBytes: int
    runtimeVersion: str | None
    liveVersion: str | None
    gateways: list[BackedUpGateway]


class LockResult(TypedDict):
    """`$.lock` (rollout_lock step "acquire"): acquired, bypassed (dry run), waiting or coalesced."""

    status: str
    execution: str
    reason: str
    owner: NotRequired[str | None]
    attempt: NotRequired[int]
    waitSeconds: NotRequired[int]
    coalescedInto: NotRequired[str]
    tookOverFrom: NotRequired[dict[str, str]]


class LockRelease(TypedDict):
    released: bool
    execution: str


class SmokeResult(TypedDict):
    """`$.smoke` / `$.bakeSmoke` (smoke_test): per check what was expected and what came; redacted excerpts only."""

    prompt: str
    runtimeArn: str
    agentToolCheck: str
    withToken: dict[str, Any]
    withoutToken: dict[str, Any]
    tamperedToken: dict[str, Any]
    warranty: dict[str, Any]
    gateway: dict[str, Any]
    passed: bool


class SecuredGateway(TypedDict):
    id: str
    name: str
    url: str


class Secured(TypedDict):
    """`$.secured` (Pass state GatewayExpanded): the gateway the agent is switched to, and its targets."""

    gateway: SecuredGateway
    targets: TargetsHandle


class Approval(TypedDict):
    approved: bool


class Drift(TypedDict):
    """`$.drift`: set by a drift check's branch of the state machine (NoDrift / NotifyDrift)."""

    detected: bool
    diff: NotRequired[list[str]]
    remediated: NotRequired[bool]
    # A CloudTrail trigger's: what was undone, by whom, via which call (triggers.drift_sentence).
    cause: NotRequired[str]


class RolloutState(TypedDict, total=False):
    """`$` as SmokeTest, BakeCheck and Report get it (`"state.$": "$"`): what earlier states put there."""

    input: Any  # the execution input as given (untrusted: LoadConfig parses it)
    lock: LockResult
    config: Config
    plan: Plan
    approval: Approval
    backup: BackupRef
    gateway: GatewayHandle
    targets: TargetsHandle
    secured: Secured
    switch: SwitchHandle
    switchLive: PollHandle
    reassert: RuntimeHandle
    smoke: SmokeResult
    bakeSmoke: SmokeResult
    drift: Drift


class Report(TypedDict):
    """The rollout's output (report.build_report). A dry run stops after `plannedChanges`."""

    summary: NotRequired[dict[str, Any]]  # first in the output (rollout_core.summary): what a notification shows
    changed: bool
    dryRun: bool
    actions: list[str]
    notCarried: list[str]
    trigger: NotRequired[dict[str, str]]
    triggeredBy: NotRequired[str]
    drift: NotRequired[Drift | None]
    plannedChanges: NotRequired[bool]
    approval: NotRequired[dict[str, Any]]
    backup: NotRequired[dict[str, Any]]
    timings: NotRequired[dict[str, Any]]
    runtime: NotRequired[dict[str, Any]]
    gateway: NotRequired[dict[str, Any]]
    targets: NotRequired[dict[str, Any]]
    oldGatewayDeleted: NotRequired[bool]
    smoke: NotRequired[SmokeResult | None]
    bakeCheck: NotRequired[bool]
    verified: NotRequired[bool]


class RestoreReport(TypedDict):
    """A restore's output (restore step "report")."""

    summary: NotRequired[dict[str, Any]]  # first in the output (rollout_core.summary)
    restored: bool
    backup: dict[str, Any]
    runtime: dict[str, Any]
    gateway: dict[str, Any] | None
    notRestored: list[str]
    verified: bool


# --- the event each handler gets (the Task's Parameters) ------------------------------------------------------------


class TaskEvent(TypedDict):
    executionArn: str  # $$.Execution.Id: every Lambda Task passes it (observability.task_handler logs it)


class RolloutLockEvent(TaskEvent):
    step: Literal["acquire", "release"]
    input: NotRequired[Any]  # acquire: the execution input, untrusted
    attempt: NotRequired[int]  # acquire: how many times this execution asked


class LoadConfigEvent(TaskEvent):
    input: NotRequired[Any]  # the execution input, untrusted


class PlanEvent(TaskEvent):
    config: Config


class BackupEvent(TaskEvent):
    config: Config
    executionName: str


class DeletedGateway(TypedDict):
    """Which gateway to delete: the plan's deleteFirst/deleteOld, or the gateway the rollout built ($.secured)."""

    id: str
    name: str
    why: NotRequired[str]
    url: NotRequired[str]


class DeleteGatewayEvent(TaskEvent):
    step: Literal["targets", "gateway"]
    gateway: DeletedGateway
    targets: NotRequired[list[TargetToReplace]]  # step "targets": only these (the plan's targetsToReplace)


class CheckStatusEvent(TaskEvent):
    resource: PollHandle
    maxPolls: int


class ProvisionGatewayEvent(TaskEvent):
    step: NotRequired[Literal["provision", "carry"]]
    plan: Plan
    gateway: NotRequired[GatewayHandle]  # step "carry": the gateway "provision" created


class ProvisionTargetsEvent(TaskEvent):
    plan: Plan
    gateway: GatewayHandle


class SwitchRuntimeEvent(TaskEvent):
    runtimeId: str
    cognito: CognitoConfig
    envVar: str
    gatewayUrl: str
    gatewayName: str
    agentArtifact: AgentArtifact | None
    repair: bool


class SecureRuntimeEvent(TaskEvent):
    runtimeId: str
    cognito: CognitoConfig


class SmokeTestEvent(TaskEvent):
    state: RolloutState


class ReportEvent(TaskEvent):
    state: RolloutState


class BackupKey(TypedDict):
    key: str


class RestoreEvent(TaskEvent):
    """Rollback ("runtime" with $.backup) and restore ("gateway", "runtime", "report" with the input's key)."""

    step: Literal["runtime", "gateway", "report"]
    backup: BackupKey
    config: NotRequired[Config]  # gateway, report
    runtimeId: NotRequired[str]  # runtime
    gatewayUrls: NotRequired[dict[str, str]]  # runtime (restore): old gateway URL -> new
    previous: NotRequired[RestoreGatewayHandle]  # gateway: this step's last answer
    gateway: NotRequired[RestoreGatewayHandle]  # report
    runtime: NotRequired[RestoreRuntimeHandle]  # report
