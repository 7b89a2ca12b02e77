"""Sandbox IAM: the evaluator, request -> (action, resource, context), implied authorizations, AWS-shaped denials, the
SDK hook, and one whole rollout with IAM enforced."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from sandbox.core import Sandbox
from sandbox.iam import Decision, SandboxIam, format_usage
from sandbox.iam.enforcement import LAMBDA_LOG_DELIVERY, denial_response
from sandbox.iam.policy import AuthorizationRequest, arn_matches
from sandbox.iam.reference import UnknownAction, resource_types
from sandbox.iam.requests import UnmappedRequest, required_authorizations, resource_arns
from tests.sandbox.helpers import ACCOUNT_ID, REGION
from tests.sandbox.helpers.iam import PRINCIPAL, FakeFacts, call, create_role, decide, policy, service_model, statement

ALLOWED, IMPLICIT, EXPLICIT = Decision.ALLOWED, Decision.IMPLICIT_DENY, Decision.EXPLICIT_DENY
AC = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT_ID}"
DENIAL = re.compile(
    r"User: arn:aws:sts::\d{12}:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+ is not authorized to perform: "
    r"(?P<action>[\w-]+:\w+) on resource: (?P<resource>\S+) because no identity-based policy allows the "
    r"(?P=action) action"
)


# -- evaluator -------------------------------------------------------------------------------------------------------


def test_actions_match_wildcards_case_insensitively() -> None:
    read = policy(statement(action="bedrock-agentcore:Get*"))
    assert decide(read, "bedrock-agentcore:GetGateway") is ALLOWED
    assert decide(read, "BEDROCK-AGENTCORE:getgateway") is ALLOWED
    assert decide(read, "bedrock-agentcore:ListGateways") is IMPLICIT
    single = policy(statement(action="ssm:GetParameter?"))
    assert decide(single, "ssm:GetParameters") is ALLOWED
    assert decide(single, "ssm:GetParameter") is IMPLICIT


def test_not_action_allows_everything_else() -> None:
    everything_but_iam = policy(statement(NotAction="iam:*"))
    assert decide(everything_but_iam, "s3:GetObject", "arn:aws:s3:::bucket/key") is ALLOWED
    assert decide(everything_but_iam, "iam:PassRole", f"arn:aws:iam::{ACCOUNT_ID}:role/x") is IMPLICIT


def test_explicit_deny_beats_allow_and_no_allow_is_implicit_deny() -> None:
    documents = [
        policy(statement(action="bedrock-agentcore:*", resource="*"), name="allow-all"),
        policy(statement("Deny", action="bedrock-agentcore:DeleteGateway", resource=f"{AC}:gateway/*"), name="deny"),
    ]
    assert decide(documents, "bedrock-agentcore:DeleteGateway", f"{AC}:gateway/g-1") is EXPLICIT
    assert decide(documents, "bedrock-agentcore:GetGateway", f"{AC}:gateway/g-1") is ALLOWED
    assert decide(documents, "ssm:GetParameter", "*") is IMPLICIT
    assert decide([], "ssm:GetParameter", "*") is IMPLICIT


def test_resources_match_per_arn_component_and_case_sensitively() -> None:
    assert arn_matches(f"{AC}:gateway/*", f"{AC}:gateway/my-gateway-abc")
    assert not arn_matches(f"{AC}:gateway/*", f"{AC}:runtime/r-1")
    assert not arn_matches(f"{AC}:Gateway/*", f"{AC}:gateway/g")
    # Within the resource part, "*" spans ":" and "/" (SAM's LambdaInvokePolicy relies on it for qualifiers).
    assert arn_matches("arn:aws:lambda:us-east-1:1:function:fn*", "arn:aws:lambda:us-east-1:1:function:fn:live")
    # ... but never spans components: a missing component does not match.
    assert not arn_matches("arn:aws:lambda:*:function:fn", "arn:aws:lambda:us-east-1:1:function:fn")
    assert arn_matches("arn:aws:lambda:*:*:function:fn", "arn:aws:lambda:us-east-1:1:function:fn")
    assert arn_matches("arn:aws:s3:::bucket/?ey", "arn:aws:s3:::bucket/key")


def test_an_action_without_resource_type_is_matched_only_by_star() -> None:
    assert resource_types("bedrock-agentcore:CreateGateway") == ()
    on_gateways = policy(statement(action="bedrock-agentcore:CreateGateway", resource=f"{AC}:gateway/*"))
    anywhere = policy(statement(action="bedrock-agentcore:CreateGateway", resource="*"))
    partial = policy(statement(action="bedrock-agentcore:CreateGateway", resource="arn:aws:bedrock-agentcore:*"))
    not_runtimes = policy(statement(action="bedrock-agentcore:CreateGateway", NotResource=f"{AC}:runtime/*"))
    assert resource_arns(call("bedrock-agentcore-control", "CreateGateway", name="g"), FakeFacts()) == ["*"]
    assert decide(on_gateways, "bedrock-agentcore:CreateGateway", "*") is IMPLICIT
    assert decide(partial, "bedrock-agentcore:CreateGateway", "*") is IMPLICIT
    assert decide(anywhere, "bedrock-agentcore:CreateGateway", "*") is ALLOWED
    assert decide(not_runtimes, "bedrock-agentcore:CreateGateway", "*") is ALLOWED


def test_condition_string_operators_and_missing_keys() -> None:
    pass_to_agentcore = policy(
        statement(
            action="iam:PassRole",
            condition={"StringEquals": {"iam:PassedToService": "bedrock-agentcore.amazonaws.com"}},
        )
    )
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/r"
    assert decide(pass_to_agentcore, "iam:PassRole", role, {"iam:passedtoservice": "bedrock-agentcore.amazonaws.com"})
    assert decide(pass_to_agentcore, "iam:PassRole", role, {"iam:passedtoservice": "lambda.amazonaws.com"}) is IMPLICIT
    assert decide(pass_to_agentcore, "iam:PassRole", role) is IMPLICIT  # missing key fails a positive operator
    not_lambda = policy(
        statement(action="iam:PassRole", condition={"StringNotEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})
    )
    assert decide(not_lambda, "iam:PassRole", role) is ALLOWED  # ... and satisfies a negated one
    assert decide(not_lambda, "iam:PassRole", role, {"iam:passedtoservice": "lambda.amazonaws.com"}) is IMPLICIT
    like = policy(statement(action="s3:GetObject", condition={"StringLike": {"s3:prefix": ["code/*", "zip/?"]}}))
    assert decide(like, "s3:GetObject", "*", {"s3:prefix": "code/agent.zip"}) is ALLOWED
    assert decide(like, "s3:GetObject", "*", {"s3:prefix": "zip/ab"}) is IMPLICIT


def test_condition_if_exists_null_bool_numeric_and_arn() -> None:
    if_exists = policy(statement(action="kms:Decrypt", condition={"StringEqualsIfExists": {"kms:ViaService": "sns"}}))
    assert decide(if_exists, "kms:Decrypt") is ALLOWED
    assert decide(if_exists, "kms:Decrypt", context={"kms:viaservice": "sns"}) is ALLOWED
    assert decide(if_exists, "kms:Decrypt", context={"kms:viaservice": "s3"}) is IMPLICIT
    untagged = policy(statement(action="*", condition={"Null": {"aws:RequestTag/team": "true"}}))
    assert decide(untagged, "sns:Publish") is ALLOWED
    assert decide(untagged, "sns:Publish", context={"aws:requesttag/team": "a"}) is IMPLICIT
    secure = policy(statement(action="*", condition={"Bool": {"aws:SecureTransport": True}}))
    assert decide(secure, "sns:Publish", context={"aws:securetransport": "true"}) is ALLOWED
    assert decide(secure, "sns:Publish", context={"aws:securetransport": "false"}) is IMPLICIT
    small = policy(statement(action="*", condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))
    assert decide(small, "s3:ListBucket", context={"s3:max-keys": "10"}) is ALLOWED
    assert decide(small, "s3:ListBucket", context={"s3:max-keys": "11"}) is IMPLICIT
    from_topic = policy(statement(action="*", condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:alerts-*"}}))
    assert decide(from_topic, "sqs:SendMessage", context={"aws:sourcearn": f"arn:aws:sns:{REGION}:1:alerts-x"})
    assert decide(from_topic, "sqs:SendMessage", context={"aws:sourcearn": "arn:aws:sns:x:1:other"}) is IMPLICIT


def test_condition_set_operators_on_multivalued_keys() -> None:
    only_allowed_keys = policy(
        statement(action="*", condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}})
    )
    assert decide(only_allowed_keys, "bedrock-agentcore:CreateGateway", context={"aws:tagkeys": ("team",)}) is ALLOWED
    assert decide(only_allowed_keys, "bedrock-agentcore:CreateGateway", context={"aws:tagkeys": ("team", "x")}) is (
        IMPLICIT
    )
    assert decide(only_allowed_keys, "bedrock-agentcore:CreateGateway") is ALLOWED  # vacuously true without tags
    any_team = policy(statement(action="*", condition={"ForAnyValue:StringLike": {"aws:TagKeys": "team*"}}))
    assert decide(any_team, "bedrock-agentcore:CreateGateway", context={"aws:tagkeys": ("env", "team-a")}) is ALLOWED
    assert decide(any_team, "bedrock-agentcore:CreateGateway", context={"aws:tagkeys": ("env",)}) is IMPLICIT
    assert decide(any_team, "bedrock-agentcore:CreateGateway") is IMPLICIT  # ForAnyValue over nothing is false


def test_unsupported_policy_features_fail_closed() -> None:
    by_user = f"arn:aws:iam::{ACCOUNT_ID}:role/${{aws:username}}"
    assert decide(policy(statement(action="iam:PassRole", resource=by_user)), "iam:PassRole", "*") is IMPLICIT
    denied = [
        policy(statement(action="*"), name="allow"),
        policy(statement("Deny", action="iam:PassRole", resource=by_user), name="deny"),
    ]
    assert decide(denied, "iam:PassRole", f"arn:aws:iam::{ACCOUNT_ID}:role/x") is EXPLICIT
    binary = policy(statement(action="*", condition={"BinaryEquals": {"aws:x": "QUJD"}}))
    assert decide(binary, "sns:Publish", context={"aws:x": "QUJD"}) is IMPLICIT


# -- requests -> (action, resource) ----------------------------------------------------------------------------------

S = f"arn:aws:states:{REGION}:{ACCOUNT_ID}"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function"
SNS = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}"
MAPPED = [
    (("bedrock-agentcore-control", "GetAgentRuntime", {"agentRuntimeId": "cs-1"}), [f"{AC}:runtime/cs-1"]),
    (("bedrock-agentcore-control", "UpdateAgentRuntime", {"agentRuntimeId": "cs-1"}), [f"{AC}:runtime/cs-1"]),
    (
        ("bedrock-agentcore-control", "GetAgentRuntimeEndpoint", {"agentRuntimeId": "cs-1", "endpointName": "DEFAULT"}),
        [f"{AC}:runtime/cs-1/runtime-endpoint/DEFAULT"],
    ),
    (("bedrock-agentcore-control", "GetGateway", {"gatewayIdentifier": "gw-1"}), [f"{AC}:gateway/gw-1"]),
    (("bedrock-agentcore-control", "DeleteGateway", {"gatewayIdentifier": "gw-1"}), [f"{AC}:gateway/gw-1"]),
    (
        ("bedrock-agentcore-control", "CreateGatewayTarget", {"gatewayIdentifier": "gw-1", "name": "t"}),
        [f"{AC}:gateway/gw-1"],
    ),
    (
        ("bedrock-agentcore-control", "GetGatewayTarget", {"gatewayIdentifier": "gw-1", "targetId": "T1"}),
        [f"{AC}:gateway/gw-1"],
    ),
    (("bedrock-agentcore-control", "ListGateways", {}), ["*"]),
    (
        ("bedrock-agentcore-control", "TagResource", {"resourceArn": f"{AC}:gateway/gw-1", "tags": {"team": "cs"}}),
        [f"{AC}:gateway/gw-1"],
    ),
    (
        ("bedrock-agentcore-control", "ListTagsForResource", {"resourceArn": f"{AC}:runtime/cs-1"}),
        [f"{AC}:runtime/cs-1"],
    ),
    (("bedrock-agentcore-control", "CreateAgentRuntime", {"agentRuntimeName": "x"}), ["*"]),
    (
        ("bedrock-agentcore", "InvokeAgentRuntime", {"agentRuntimeArn": f"{AC}:runtime/cs-1", "qualifier": "DEFAULT"}),
        [f"{AC}:runtime/cs-1/runtime-endpoint/DEFAULT"],
    ),
    (("ssm", "GetParametersByPath", {"Path": "/app/cs"}), [f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/app/cs"]),
    (("ssm", "GetParameter", {"Name": "flat"}), [f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/flat"]),
    (
        ("ssm", "GetParameters", {"Names": ["/a/b", "c"]}),
        [f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/a/b", f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/c"],
    ),
    (
        ("cognito-idp", "DescribeUserPoolClient", {"UserPoolId": "us-east-1_abc", "ClientId": "c"}),
        [f"arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/us-east-1_abc"],
    ),
    (("lambda", "Invoke", {"FunctionName": "fn"}), [f"{FN}:fn"]),
    (("lambda", "Invoke", {"FunctionName": "fn", "Qualifier": "live"}), [f"{FN}:fn:live"]),
    (("lambda", "Invoke", {"FunctionName": f"{ACCOUNT_ID}:function:fn"}), [f"{FN}:fn"]),
    (("lambda", "Invoke", {"FunctionName": f"{FN}:fn:3"}), [f"{FN}:fn:3"]),
    (("stepfunctions", "ListExecutions", {"stateMachineArn": f"{S}:stateMachine:sm"}), [f"{S}:stateMachine:sm"]),
    (("stepfunctions", "DescribeExecution", {"executionArn": f"{S}:execution:sm:e1"}), [f"{S}:execution:sm:e1"]),
    (("stepfunctions", "StartExecution", {"stateMachineArn": f"{S}:stateMachine:sm"}), [f"{S}:stateMachine:sm"]),
    (("sns", "Publish", {"TopicArn": f"{SNS}:t"}), [f"{SNS}:t"]),
    (("s3", "GetObject", {"Bucket": "b", "Key": "k/code.zip"}), ["arn:aws:s3:::b/k/code.zip"]),
    (("s3", "ListObjectsV2", {"Bucket": "b"}), ["arn:aws:s3:::b"]),
    (("iam", "GetRole", {"RoleName": "r"}), [f"arn:aws:iam::{ACCOUNT_ID}:role/r"]),
    (("kms", "Decrypt", {"KeyId": "k-1", "CiphertextBlob": b"x"}), [f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/k-1"]),
    (("sts", "GetCallerIdentity", {}), ["*"]),
    (
        ("dynamodb", "GetItem", {"TableName": "locks", "Key": {"lockId": {"S": "rollout"}}}),
        [f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/locks"],
    ),
    (
        ("dynamodb", "UpdateItem", {"TableName": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/t", "Key": {}}),
        [f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/t"],
    ),
]


@pytest.mark.parametrize(("request_", "arns"), MAPPED, ids=[f"{r[0]}.{r[1]}" for r, _ in MAPPED])
def test_requests_map_to_the_resource_aws_authorizes(
    request_: tuple[str, str, dict[str, Any]], arns: list[str]
) -> None:
    service, operation, params = request_
    assert resource_arns(call(service, operation, **params), FakeFacts()) == arns


def test_actions_come_from_the_reference_with_aws_names() -> None:
    assert call("lambda", "Invoke", FunctionName="fn").action == "lambda:InvokeFunction"
    assert call("bedrock-agentcore-control", "GetGateway").action == "bedrock-agentcore:GetGateway"
    assert call("stepfunctions", "ListExecutions").action == "states:ListExecutions"
    assert call("s3", "GetObject", Bucket="b", Key="k", VersionId="v1").action == "s3:GetObjectVersion"
    assert call("s3", "HeadObject", Bucket="b", Key="k").action == "s3:GetObject"
    with pytest.raises(UnknownAction):
        resource_types("bedrock-agentcore:NoSuchAction")


def test_a_request_that_cannot_be_mapped_fails_loudly() -> None:
    with pytest.raises(UnmappedRequest, match=r"bedrock-agentcore-control\.GetGateway"):
        resource_arns(call("bedrock-agentcore-control", "GetGateway"), FakeFacts())


def test_update_agent_runtime_implies_pass_role_and_code_zip_read() -> None:
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreRuntimeRole"
    code = {"s3": {"bucket": "agent-code", "prefix": "cs/code.zip"}}
    update = call(
        "bedrock-agentcore-control",
        "UpdateAgentRuntime",
        agentRuntimeId="cs-1",
        roleArn=role,
        agentRuntimeArtifact={"codeConfiguration": {"code": code, "runtime": "PYTHON_3_13", "entryPoint": ["m.py"]}},
    )
    required = required_authorizations(PRINCIPAL, update, FakeFacts())
    assert [(r.request.action, r.request.resource, r.implied_by) for r in required] == [
        ("bedrock-agentcore:UpdateAgentRuntime", f"{AC}:runtime/cs-1", None),
        ("iam:PassRole", role, "bedrock-agentcore:UpdateAgentRuntime"),
        ("s3:GetObject", "arn:aws:s3:::agent-code/cs/code.zip", "bedrock-agentcore:UpdateAgentRuntime"),
    ]
    assert required[1].request.context["iam:passedtoservice"] == "bedrock-agentcore.amazonaws.com"
    assert required[2].request.context["aws:viaawsservice"] == "true"

    code["s3"]["versionId"] = "v7"
    key = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/cmk-1"
    facts = FakeFacts(object_keys={("agent-code", "cs/code.zip"): key})
    implied = required_authorizations(PRINCIPAL, update, facts)[2:]
    assert [(r.request.action, r.request.resource) for r in implied] == [
        ("s3:GetObjectVersion", "arn:aws:s3:::agent-code/cs/code.zip"),
        ("kms:Decrypt", key),
    ]
    assert implied[1].request.context["kms:viaservice"] == f"s3.{REGION}.amazonaws.com"


def test_pass_role_is_checked_with_passed_to_service() -> None:
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/GatewayRole"
    create = call("bedrock-agentcore-control", "CreateGateway", name="g", roleArn=role, tags={"team": "a"})
    required = required_authorizations(PRINCIPAL, create, FakeFacts())
    assert [(r.request.action, r.request.resource) for r in required] == [
        ("bedrock-agentcore:CreateGateway", "*"),
        ("iam:PassRole", role),
    ]
    assert required[0].request.context["aws:requesttag/team"] == "a"
    assert required[0].request.context["aws:tagkeys"] == ("team",)
    only_to_agentcore = policy(
        statement(
            action="iam:PassRole",
            resource=f"arn:aws:iam::{ACCOUNT_ID}:role/*",
            condition={"StringEquals": {"iam:PassedToService": "bedrock-agentcore.amazonaws.com"}},
        )
    )
    assert decide(only_to_agentcore, "iam:PassRole", role, required[1].request.context) is ALLOWED
    lambda_context = {**required[1].request.context, "iam:passedtoservice": "lambda.amazonaws.com"}
    assert decide(only_to_agentcore, "iam:PassRole", role, lambda_context) is IMPLICIT


def test_resource_tags_are_read_only_when_a_condition_asks() -> None:
    gateway = f"{AC}:gateway/gw-1"
    facts = FakeFacts(tags={gateway: {"team": "support"}})
    [required] = required_authorizations(
        PRINCIPAL, call("bedrock-agentcore-control", "GetGateway", gatewayIdentifier="gw-1"), facts
    )
    team_only = policy(statement(action="*", condition={"StringEquals": {"aws:ResourceTag/team": "support"}}))
    assert decide(team_only, required.request.action, gateway, required.request.context) is ALLOWED
    facts.tags[gateway]["team"] = "billing"
    [required] = required_authorizations(
        PRINCIPAL, call("bedrock-agentcore-control", "GetGateway", gatewayIdentifier="gw-1"), facts
    )
    assert decide(team_only, required.request.action, gateway, required.request.context) is IMPLICIT


# -- moto-backed facts: S3 object encryption, SNS topic keys --------------------------------------------------------


@pytest.fixture(scope="module")
def cmk(aws: None, boto_session: boto3.session.Session) -> str:
    key: str = boto_session.client("kms").create_key(Description="code and topic key")["KeyMetadata"]["Arn"]
    return key


def test_code_zip_encrypted_with_a_cmk_needs_kms_decrypt_via_s3(
    aws: None, boto_session: boto3.session.Session, cmk: str
) -> None:
    from sandbox.iam.facts import MotoFacts

    s3 = boto_session.client("s3")
    s3.create_bucket(Bucket="agent-code-cmk")
    s3.put_object(
        Bucket="agent-code-cmk", Key="cs/code.zip", Body=b"zip", ServerSideEncryption="aws:kms", SSEKMSKeyId=cmk
    )
    s3.put_object(Bucket="agent-code-cmk", Key="cs/plain.zip", Body=b"zip")
    s3.put_object(Bucket="agent-code-cmk", Key="cs/aws-key.zip", Body=b"zip", ServerSideEncryption="aws:kms")

    def implied(key: str) -> list[tuple[str, str, str | None]]:
        artifact = {"codeConfiguration": {"code": {"s3": {"bucket": "agent-code-cmk", "prefix": key}}}}
        create = call("bedrock-agentcore-control", "CreateAgentRuntime", agentRuntimeArtifact=artifact)
        required = required_authorizations(PRINCIPAL, create, MotoFacts(ACCOUNT_ID, REGION))
        return [
            (r.request.action, r.request.resource, str(r.request.context.get("kms:viaservice") or "") or None)
            for r in required
            if r.request.action.startswith(("s3:", "kms:"))
        ]

    assert implied("cs/code.zip") == [
        ("s3:GetObject", "arn:aws:s3:::agent-code-cmk/cs/code.zip", None),
        ("kms:Decrypt", cmk, f"s3.{REGION}.amazonaws.com"),
    ]
    assert implied("cs/plain.zip") == [("s3:GetObject", "arn:aws:s3:::agent-code-cmk/cs/plain.zip", None)]
    assert implied("cs/aws-key.zip") == [("s3:GetObject", "arn:aws:s3:::agent-code-cmk/cs/aws-key.zip", None)]


def test_publishing_to_a_cmk_topic_needs_the_key_via_sns(
    aws: None, boto_session: boto3.session.Session, cmk: str
) -> None:
    from sandbox.iam.facts import MotoFacts

    sns = boto_session.client("sns")
    encrypted = sns.create_topic(Name="cmk-topic", Attributes={"KmsMasterKeyId": cmk.rsplit("/", 1)[-1]})["TopicArn"]
    aws_managed = sns.create_topic(Name="aws-key-topic", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]

    def required(topic: str) -> list[tuple[str, str, str | None]]:
        publish = call("sns", "Publish", TopicArn=topic, Message="m")
        found = required_authorizations(PRINCIPAL, publish, MotoFacts(ACCOUNT_ID, REGION))
        return [(r.request.action, r.request.resource, r.implied_by) for r in found]

    assert required(encrypted) == [
        ("sns:Publish", encrypted, None),
        ("kms:GenerateDataKey", cmk, "sns:Publish"),
        ("kms:Decrypt", cmk, "sns:Publish"),
    ]
    assert required(aws_managed) == [("sns:Publish", aws_managed, None)]
    [_, generate, _] = required_authorizations(
        PRINCIPAL, call("sns", "Publish", TopicArn=encrypted, Message="m"), MotoFacts(ACCOUNT_ID, REGION)
    )
    via_sns = policy(
        statement(
            action=["kms:GenerateDataKey", "kms:Decrypt"],
            resource=f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/*",
            condition={"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}},
        )
    )
    assert decide(via_sns, "kms:GenerateDataKey", cmk, generate.request.context) is ALLOWED
    direct = {**generate.request.context, "kms:viaservice": f"s3.{REGION}.amazonaws.com"}
    assert decide(via_sns, "kms:GenerateDataKey", cmk, direct) is IMPLICIT


# -- denials look like AWS's ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("bedrock-agentcore-control", "CreateGateway", "AccessDeniedException"),
        ("ssm", "GetParametersByPath", "AccessDeniedException"),
        ("lambda", "Invoke", "AccessDeniedException"),
        ("stepfunctions", "ListExecutions", "AccessDeniedException"),
        ("cognito-idp", "DescribeUserPoolClient", "AccessDeniedException"),
        ("sns", "Publish", "AuthorizationError"),
        ("s3", "GetObject", "AccessDenied"),
        ("iam", "GetRole", "AccessDenied"),
        ("sts", "GetCallerIdentity", "AccessDenied"),
    ],
)
def test_denial_responses_parse_like_aws_errors(service: str, operation: str, code: str) -> None:
    operation_model = service_model(service).operation_model(operation)
    http, parsed = denial_response(operation_model, code, "User: x is not authorized")
    assert http.status_code == 403
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == "User: x is not authorized"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 403


# -- the SDK hook, on moto ---------------------------------------------------------------------------------------------


@pytest.fixture
def enforced(aws: None) -> Iterator[SandboxIam]:
    iam = SandboxIam(ACCOUNT_ID, REGION, enforce=True)
    iam.install()
    try:
        yield iam
    finally:
        iam.uninstall()


def test_a_role_client_is_authorized_and_denied_like_on_aws(
    enforced: SandboxIam, boto_session: boto3.session.Session
) -> None:
    prefix = f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter"
    can_read_app = statement(action="ssm:GetParameter", resource=f"{prefix}/app/*")
    role = create_role(boto_session.client("iam"), "HookReader", can_read_app)
    boto_session.client("ssm").put_parameter(Name="/app/one", Value="1", Type="String")
    boto_session.client("ssm").put_parameter(Name="/other/two", Value="2", Type="String")
    reader = enforced.client_for_role("ssm", role, "hook-test")

    assert reader.get_parameter(Name="/app/one")["Parameter"]["Value"] == "1"
    with pytest.raises(reader.exceptions.ClientError) as denied:
        reader.get_parameter(Name="/other/two")
    error = denied.value.response
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/HookReader/hook-test is not authorized to perform: "
        f"ssm:GetParameter on resource: {prefix}/other/two because no identity-based policy allows the "
        "ssm:GetParameter action"
    )
    # The harness stays unrestricted and unaudited.
    assert boto_session.client("ssm").get_parameter(Name="/other/two")["Parameter"]["Value"] == "2"
    assert [(r.action, r.resource, r.decision) for r in enforced.audit] == [
        ("ssm:GetParameter", f"{prefix}/app/one", ALLOWED),
        ("ssm:GetParameter", f"{prefix}/other/two", IMPLICIT),
    ]


def test_explicit_deny_message_and_audit_only_mode(aws: None, boto_session: boto3.session.Session) -> None:
    role = create_role(
        boto_session.client("iam"),
        "HookDenied",
        statement(action="sns:*"),
        statement("Deny", action="sns:ListTopics"),
    )
    audit_only = SandboxIam(ACCOUNT_ID, REGION, enforce=False)
    audit_only.install()
    try:
        assert "Topics" in audit_only.client_for_role("sns", role, "audit").list_topics()  # recorded, not denied
        assert [(r.action, r.decision, r.enforced) for r in audit_only.audit] == [("sns:ListTopics", EXPLICIT, False)]
    finally:
        audit_only.uninstall()
    enforcing = SandboxIam(ACCOUNT_ID, REGION, enforce=True)
    enforcing.install()
    try:
        with pytest.raises(ClientError) as denied:
            enforcing.client_for_role("sns", role, "deny").list_topics()
    finally:
        enforcing.uninstall()
    assert denied.value.response["Error"]["Code"] == "AuthorizationError"
    assert denied.value.response["Error"]["Message"].endswith(
        "sns:ListTopics on resource: * with an explicit deny in an identity-based policy"
    )


def test_resource_tag_conditions_read_the_resource_from_moto(
    enforced: SandboxIam, boto_session: boto3.session.Session
) -> None:
    sns = boto_session.client("sns")
    support = sns.create_topic(Name="support-alerts", Tags=[{"Key": "team", "Value": "support"}])["TopicArn"]
    billing = sns.create_topic(Name="billing-alerts", Tags=[{"Key": "team", "Value": "billing"}])["TopicArn"]
    team_topics = statement(action="sns:Publish", condition={"StringEquals": {"aws:ResourceTag/team": "support"}})
    publisher = enforced.client_for_role("sns", create_role(boto_session.client("iam"), "TagPublisher", team_topics))
    publisher.publish(TopicArn=support, Message="ok")
    with pytest.raises(publisher.exceptions.AuthorizationErrorException):
        publisher.publish(TopicArn=billing, Message="no")


def test_each_function_has_its_own_credentials_and_sdk_state() -> None:
    from types import SimpleNamespace

    from aws_lambda_powertools.utilities.parameters import ssm as powertools_ssm

    from sandbox.lambdas import ExecutionEnvironment, InProcessLambdas

    def function(name: str) -> SimpleNamespace:
        role = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}Role"
        return SimpleNamespace(function_name=name, memory_size=128, handler="app.h", environment_vars={}, role=role)

    def credentials_for(fn: SimpleNamespace) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": f"ASIA{fn.function_name.upper()}", "AWS_SECRET_ACCESS_KEY": "s"}

    lambdas = InProcessLambdas(ACCOUNT_ID, REGION)
    lambdas.install()
    seen: dict[str, tuple[str, object]] = {}
    try:
        with lambdas.acting_as_roles(credentials_for, lambda *_: True):
            for name in ("first", "second"):
                with lambdas._function_environment(function(name), ExecutionEnvironment(f"{name}#1")):
                    client = boto3.client("sts", region_name=REGION)
                    provider = powertools_ssm.DEFAULT_PROVIDERS.setdefault("ssm", object())
                    seen[name] = (cast(Any, client)._request_signer._credentials.access_key, provider)
            shared_view = powertools_ssm.DEFAULT_PROVIDERS.get("ssm")  # outside any function: the process's own
    finally:
        lambdas.uninstall()
    assert seen["first"][0] == "ASIAFIRST"
    assert seen["second"][0] == "ASIASECOND"
    assert seen["first"][1] is not seen["second"][1]
    assert shared_view not in (seen["first"][1], seen["second"][1])
    assert powertools_ssm.DEFAULT_PROVIDERS.get("ssm") not in (seen["first"][1], seen["second"][1])


def test_uninstall_restores_botocore(aws: None) -> None:
    before = (BaseClient._make_api_call, BaseClient._make_request)  # type: ignore[attr-defined]
    iam = SandboxIam(ACCOUNT_ID, REGION)
    iam.install()
    assert BaseClient._make_request is not before[1]  # type: ignore[attr-defined]
    iam.uninstall()
    assert (BaseClient._make_api_call, BaseClient._make_request) == before  # type: ignore[attr-defined]


# -- one whole rollout with IAM enforced ------------------------------------------------------------------------------


@pytest.mark.slow
def test_rollout_with_iam_enforced(capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(poll_seconds=0, max_polls=10, enforce_iam=True) as sandbox:
        assert sandbox.iam is not None
        # Deploy (moto's CloudFormation) and the seed ran with the hook installed, unrestricted and unaudited.
        assert sandbox.seeded.runtime_id
        assert sandbox.deployment.state_machine_arn
        roles = sandbox.stack_roles()
        description = sandbox.run_rollout({})
        usage = sandbox.iam_usage()
        with capsys.disabled():
            print(f"\nrollout {description['status']} {description.get('error', '')}\n{format_usage(usage)}")

        audit = sandbox.iam.audit
        assert audit, "every function call was evaluated"
        assert {r.principal.role_arn for r in audit} <= set(roles) | {_tool_role(sandbox)}
        by_label = {u.label: u for u in usage}
        assert "lambda:InvokeFunction" in by_label["SecureRolloutStateMachineRole"].used  # the state machine's role
        assert "ssm:GetParameters" in by_label["LoadConfigFunctionRole"].used

        # CreateGateway has no resource type: only a statement on "*" can allow it. The template's statement is on
        # "*", narrowed by AgentCore's documented GatewayAuthorizerType / DiscoveryUrl condition keys.
        gateway_role = next(arn for arn, label in roles.items() if label == "ProvisionGatewayFunctionRole")
        create = AuthorizationRequest("bedrock-agentcore:CreateGateway", "*", {})
        assert not sandbox.iam.evaluate(_principal(gateway_role), create).allowed  # without the JWT condition keys
        create_records = [r for r in audit if r.action == "bedrock-agentcore:CreateGateway"]
        assert create_records
        assert all(r.allowed for r in create_records)

        # A denied SDK call fails the rollout with AWS's error; every such error matches a recorded denial.
        causes = _failure_causes(sandbox, description["executionArn"])
        denied_calls = [r for r in audit if not r.allowed and r.operation != LAMBDA_LOG_DELIVERY]
        assert description["status"] == ("FAILED" if denied_calls else "SUCCEEDED")
        assert bool(DENIAL.search(causes)) == bool(denied_calls)
        for match in DENIAL.finditer(causes):
            assert any((r.action, r.resource) == (match["action"], match["resource"]) for r in denied_calls)

        # A known-denied call, independent of the template: CreateGateway on gateway/* only.
        probe_role = create_role(sandbox.client("iam"), "ProbeAllAgentCore", statement(action="bedrock-agentcore:*"))
        control = sandbox.iam.client_for_role("bedrock-agentcore-control", probe_role, "probe")
        assert control.list_gateways()["items"] is not None
        gateways_only = create_role(
            sandbox.client("iam"),
            "ProbeGatewaysOnly",
            statement(action="bedrock-agentcore:CreateGateway", resource=f"{AC}:gateway/*"),
        )
        creator = sandbox.iam.client_for_role("bedrock-agentcore-control", gateways_only, "probe")
        with pytest.raises(creator.exceptions.AccessDeniedException) as denied:
            creator.create_gateway(
                name="probe", roleArn=probe_role, protocolType="MCP", authorizerType="NONE", description="probe"
            )
        assert DENIAL.fullmatch(denied.value.response["Error"]["Message"])
        assert "bedrock-agentcore:CreateGateway on resource: *" in denied.value.response["Error"]["Message"]

        # EventBridge delivers to the state machine with the rule's role.
        parameter = "/app/customersupport/agentcore/client_id"
        client_id = sandbox.seeded.client_id
        sandbox.client("ssm").put_parameter(Name=parameter, Value=client_id, Type="String", Overwrite=True)
        started = [r for r in sandbox.iam.audit if r.action == "states:StartExecution"]
        assert started
        assert started[0].allowed
        assert roles[started[0].principal.role_arn] == "SecureRolloutStateMachineParameterStoreChangeRole"
        for execution in sandbox.events.started_executions:
            sandbox.wait(execution)
    assert BaseClient._make_request.__module__ == "botocore.client"  # type: ignore[attr-defined]


def _principal(role_arn: str) -> Any:
    from sandbox.iam.requests import Principal

    return Principal(role_arn, "check")


def _tool_role(sandbox: Sandbox) -> str:
    arn = sandbox.seeded.warranty_lambda_arn
    role: str = sandbox.client("lambda").get_function_configuration(FunctionName=arn)["Role"]
    return role


def _failure_causes(sandbox: Sandbox, execution_arn: str) -> str:
    causes = []
    for event in sandbox.history(execution_arn):
        for key, details in event.items():
            if key.endswith("FailedEventDetails") and isinstance(details, dict):
                causes.append(str(details.get("cause", "")))
    return "\n".join(causes)
