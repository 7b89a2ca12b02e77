"""One exception class per failure mode.

The class name is the Step Functions error name: a Lambda function error's ``errorType`` is the exception's class
name, and ``statemachine/secure_rollout.asl.json`` matches these names in its Retry blocks. Messages name the problem
(which call, parameter or resource, which value, what was expected) and never carry secrets.

    RolloutError                   base, never raised
    ├── InvalidExecutionInput      AcquireLock, LoadConfig → RolloutFailed; a malformed task event → its Catch
    ├── InvalidConfiguration       AcquireLock, LoadConfig, Plan, Backup, Restore* → RolloutFailed; SmokeTest → rollback
    ├── InvalidAgentArtifact       LoadConfig → RolloutFailed
    ├── RuntimeNotFound            LoadConfig → RolloutFailed
    ├── AmbiguousResourceName      LoadConfig, Report → RolloutFailed
    ├── GatewayNotFound            Plan → RolloutFailed
    ├── AuthorizerConflict         Plan → RolloutFailed; SwitchRuntime, ReassertRuntimeSecurity → rollback
    ├── AgentCoreReadFailed        any AgentCore Get*/List* (e.g. LoadConfig's ListGateways) → its Catch, never retried
    ├── RuntimeUpdateFailed        Plan, Restore* → RolloutFailed; the switch → rollback; the rollback → RollbackFailed
    ├── GatewayCreateFailed        ProvisionGateway, CarryGatewaySettings, CheckGateway, RestoreGateway → RolloutFailed
    ├── GatewayTargetFailed        ProvisionTargets, CheckTargets, RestoreGateway → RolloutFailed
    ├── GatewayDeleteFailed        Delete*/Check* → RolloutFailed; those of the rollback → RollbackFailed
    ├── ResourceWaitTimeout        every Check*, RestoreGateway → its Catch
    ├── TokenRequestFailed         SmokeTest → rollback
    ├── SmokeTestFailed            SmokeTest → rollback
    ├── BackupFailed               Backup → RolloutFailed
    ├── RestoreFailed              Restore* → RolloutFailed; RollbackRuntime → RollbackFailed
    ├── RolloutVerificationFailed  Report, RestoreReport → RolloutFailed
    ├── RolloutRejected            the state machine: NameRejection → RolloutFailed
    ├── RollbackFailed             the state machine: the Pass state RollbackFailed → RolloutFailed
    └── TransientError             base of what the state machine retries, never raised
        ├── AgentCoreThrottled     retried by every Lambda Task but AcquireLock, ReleaseLock, RolloutFailed
        ├── AgentCoreBusy          retried by every Lambda Task but AcquireLock, ReleaseLock, RolloutFailed
        ├── CognitoThrottled       retried by LoadConfig, SmokeTest, BakeCheck
        └── QueueThrottled         retried by AcquireLock, ReleaseLock, RolloutFailed

"→ X" is the Catch (States.ALL on every Task) that takes the error: RolloutFailed (releases the lock, then the Fail
state) before the switch, in the expand, the contract, the report and a restore; "rollback" is RollbackOrHold (the
switch's states, and SmokeTest and BakeCheck - the same function, "SmokeTest" above - through VerifyFailed);
RollbackFailed is reached from the rollback's own states through DescribeRollbackFailure; Restore* are RestoreGateway,
RestoreRuntime and RestoreReport. A Retry tries again up to 5 times (MaxAttempts) with exponential backoff and full
jitter; an error that outlasts them is caught like any other. tests/unit/test_unit_errors.py keeps this tree, the
classes and the ASL's Retry blocks in step.

Lower-level errors become these in one place each: AgentCore's botocore errors in rollout_core.agentcore
(throttling, 5xx and connection errors → AgentCoreThrottled; ConflictException → AgentCoreBusy; anything else from a
Get*/List* → AgentCoreReadFailed, from a write → that write's failure, e.g. GatewayCreateFailed); Cognito's in
rollout_core.cognito (CognitoThrottled, InvalidConfiguration) and functions/smoke_test (TokenRequestFailed); the
lock's DynamoDB and Step Functions throttling in rollout_core.lock (QueueThrottled); S3 in rollout_core.artifact
(InvalidAgentArtifact), functions/backup (BackupFailed) and rollout_core.backup (RestoreFailed); SSM in
functions/load_config (InvalidConfiguration).
"""


class RolloutError(Exception):
    """Base class; never raised directly."""


class InvalidExecutionInput(RolloutError):
    """The execution input has an unknown key, a wrong type or a malformed value."""


class InvalidConfiguration(RolloutError):
    """An SSM parameter under the prefix is missing, malformed or not what the deployment derives; or the
    deployment itself (a function setting, the user pool) is unusable."""


class InvalidAgentArtifact(RolloutError):
    """The agentArtifact cannot be switched to: its manifest is missing or invalid, names a runtime or machine
    AgentCore cannot run it on, or was written for another zip (sha256); or the zip cannot be read."""


class RuntimeNotFound(RolloutError):
    """No agent runtime has the requested name."""


class GatewayNotFound(RolloutError):
    """Neither the old nor the new gateway exists, so there is nothing to secure or clone."""


class AmbiguousResourceName(RolloutError):
    """More than one runtime or gateway carries the requested name."""


class AgentCoreReadFailed(RolloutError):
    """A Get*/List* call to the AgentCore control plane was refused for good (e.g. AccessDeniedException,
    ResourceNotFoundException, ValidationException): the message names the call, the resource and AWS's error code.
    Not transient, so never retried; a write's failure has its own name."""


class RuntimeUpdateFailed(RolloutError):
    """UpdateAgentRuntime was refused, the runtime ended in UPDATE_FAILED, or its DEFAULT endpoint failed to move to
    (or moved past) the version the update created."""


class AuthorizerConflict(RolloutError):
    """The runtime already has a JWT authorizer other than the desired one; AgentCore refuses to replace a runtime's
    authorizer in place ("Authorizer already exists"), so the rollout stops before changing anything."""


class GatewayCreateFailed(RolloutError):
    """CreateGateway was refused, or the new gateway ended in FAILED."""


class GatewayTargetFailed(RolloutError):
    """A gateway target could not be created, or ended in FAILED / *_UNSUCCESSFUL."""


class GatewayDeleteFailed(RolloutError):
    """The old gateway (or one of its targets) could not be deleted."""


class ResourceWaitTimeout(RolloutError):
    """A resource did not reach the expected status within the poll budget."""


class TokenRequestFailed(RolloutError):
    """Cognito did not issue a client_credentials token."""


class SmokeTestFailed(RolloutError):
    """The secured runtime did not answer as expected (2xx with token, 401 without, rejection when tampered)."""


class BackupFailed(RolloutError):
    """The backup could not be written before the first change; nothing was changed."""


class RestoreFailed(RolloutError):
    """A backup cannot be restored: it cannot be read, is not one of this stack's, or names resources the restore
    cannot bring back."""


class RolloutVerificationFailed(RolloutError):
    """Read-back after the rollout does not match the desired state."""


class RolloutRejected(RolloutError):
    """The rollout waited for approval and was not approved: an operator answered SendTaskFailure, the approval
    request timed out, or it could not be sent. Raised by the state machine itself (ApprovalRejected), not by a
    function; named here with the others."""


class RollbackFailed(RolloutError):
    """The rollback itself failed after a failed switch, smoke test or bake check: the runtime may still run the
    switched configuration. Raised by the state machine itself (the Pass state RollbackFailed), with the original
    error, the rollback's error, the backup key and the restoreInput in its Cause; named here with the others."""


class TransientError(RolloutError):
    """Base of the errors the state machine retries (a Retry names each subclass); never raised directly."""


class QueueThrottled(TransientError):
    """Transient: DynamoDB or Step Functions throttled a read or write of the rollout lock. Retried."""


class AgentCoreThrottled(TransientError):
    """Transient: the control plane throttled us or had an internal error. Retried by the state machine."""


class CognitoThrottled(TransientError):
    """Transient: Cognito throttled a control-plane read (DescribeUserPool). Retried by the state machine."""


class AgentCoreBusy(TransientError):
    """Transient: the resource is mid-transition (ConflictException). Retried by the state machine."""
