"""One exception class per failure mode.

The class name is the Step Functions error name: a Lambda function error's ``errorType`` is the exception's
class name, and ``statemachine/secure_rollout.asl.json`` matches these names in its Retry/Catch blocks.
Messages name the problem (which parameter/resource, which value, what was expected) and never carry secrets.
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


class QueueThrottled(RolloutError):
    """Transient: DynamoDB or Step Functions throttled a read or write of the rollout lock. Retried."""


class AgentCoreThrottled(RolloutError):
    """Transient: the control plane throttled us or had an internal error. Retried by the state machine."""


class CognitoThrottled(RolloutError):
    """Transient: Cognito throttled a control-plane read (DescribeUserPool). Retried by the state machine."""


class AgentCoreBusy(RolloutError):
    """Transient: the resource is mid-transition (ConflictException). Retried by the state machine."""
