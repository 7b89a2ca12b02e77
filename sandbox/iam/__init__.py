"""IAM in the sandbox: every AWS call a deployed function or the state machine makes is authorized against its role's
identity-based policies the way AWS evaluates them, and denied with the error AWS returns.

Reproduced from AWS:
- identity: each Lambda function acts with its execution role's temporary credentials (session = function name);
  Step Functions tasks with the state machine's role; EventBridge targets with the target's role. Everything else
  (harness, deploy, seed, the sandbox's own servers, moto's internal CloudFormation work) is unrestricted;
- the action (`<IAM prefix>:<Action>`) and the resource types it is authorized against come from the service
  authorization reference (cfn-lint's Policies.json): an action with no resource type is only matched by "*";
- resource ARNs are built from the request; implied authorizations (iam:PassRole with iam:PassedToService, S3 read of
  a CodeZip artifact, KMS via S3/SNS for customer-managed keys) are checked against the same caller;
- evaluation: Allow/Deny, Action/NotAction, Resource/NotResource with wildcards, explicit deny wins, implicit deny,
  Condition operators incl. IfExists and ForAnyValue/ForAllValues; the role's inline and attached managed policies
  (AWS managed ones from the data moto ships);
- the denial: HTTP 403, the service's error code (AccessDeniedException, AccessDenied, AuthorizationError) and
  AWS's message ("User: <assumed-role ARN> is not authorized to perform: <action> on resource: <arn> because no
  identity-based policy allows the <action> action"), parsed by botocore like a real response;
- Lambda delivers a function's logs with its role (logs:CreateLogGroup/CreateLogStream/PutLogEvents); without them
  the logs are dropped.

Not reproduced: resource-based policies (bucket, key, topic, Lambda policies - the same-account grant they could
add is ignored, and KMS key policies are assumed to be the default that delegates to IAM), SCPs/RCPs, permission
boundaries, session policies, policy variables (`${aws:username}`: fail closed), cross-account rules, actions AWS
services perform on their own behalf with service-linked roles, the X-Ray daemon's uploads, aws:ResourceTag for
services other than bedrock-agentcore, Lambda and SNS, and the order in which AWS validates vs. authorizes (botocore's
client-side validation runs first, then authorization; service-side validation after).
"""

from sandbox.iam.enforcement import AuditRecord, RoleUsage, SandboxIam, format_usage
from sandbox.iam.policy import AuthorizationRequest, Decision, Evaluation, evaluate, parse_policy
from sandbox.iam.requests import UnmappedRequest

__all__ = [
    "AuditRecord",
    "AuthorizationRequest",
    "Decision",
    "Evaluation",
    "RoleUsage",
    "SandboxIam",
    "UnmappedRequest",
    "evaluate",
    "format_usage",
    "parse_policy",
]
