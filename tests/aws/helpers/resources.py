"""The tutorial's starting point on a real account, under names unique to one run, and its teardown.

What a team has after the AgentCore customer-support tutorial, before securing it: a Cognito pool with a domain, the
`customersupport` resource server and an M2M app client (sandbox.seed.create_m2m_pool, the one definition of that
shape); the six SSM parameters; the WarrantyCheck Lambda; an open gateway (authorizer NONE) with its WarrantyCheck
target; the CustomerSupport runtime running the CodeZip from `make agent-package`, without an authorizer; and the
roles they need. Every name starts with `acsr-it-<run id>` (runtime names allow no hyphen: `acsr_it_<run id>_...`).

Every teardown step is registered before anything is created (register_teardown) and finds its resource by the
run's unique names, so a create that fails half-way, or a run that was interrupted, is cleaned up by the same
steps; each is idempotent ("not found" is done) and independent of the others, and they run in reverse order.
"""

from __future__ import annotations

import functools
import json
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError
from rollout_core.cognito import expected_discovery_url, expected_token_urls
from rollout_core.settings import gateway_url_env_var_for

from scripts.agent_package import ENTRY_POINT, TARGET_PYTHON
from tests.rollout_checks import find_gateway

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_bedrock_agentcore_control.type_defs import (
        AgentRuntimeArtifactTypeDef,
        GatewayProtocolConfigurationTypeDef,
        LifecycleConfigurationTypeDef,
    )
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

    from tests.aws.helpers.gate import Account

T = TypeVar("T")

NAME_PREFIX: Final = "acsr-it"  # AgentCore secure rollout, integration test
TAG_KEY: Final = "agentcore-secure-rollout-test-run"
TARGET_NAME: Final = "WarrantyCheck"
GATEWAY_DESCRIPTION: Final = "Customer support tools (tutorial)"
GATEWAY_PROTOCOL: Final[GatewayProtocolConfigurationTypeDef] = {
    "mcp": {"supportedVersions": ["2025-03-26"], "searchType": "SEMANTIC"}
}
RUNTIME_VERSION: Final = f"PYTHON_{TARGET_PYTHON.replace('.', '_')}"  # what `make agent-package` builds for
NOT_FOUND: Final = {
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "ParameterNotFound",
    "ResourceNotFound",
}
STACK_DELETE_WAIT: Final = {"Delay": 15, "MaxAttempts": 120}  # 30 minutes
FAILED_STATUSES: Final = {"CREATE_FAILED", "UPDATE_FAILED", "FAILED", "UPDATE_UNSUCCESSFUL", "SYNCHRONIZE_UNSUCCESSFUL"}


def log(message: str) -> None:
    """Progress on stderr (`make test-aws` runs pytest with -s, so it streams). Never given a secret."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def not_found(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND


# --- waiting ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poller:
    """Bounded polling: `interval` seconds between probes, `timeout` seconds in all (clock and sleep injectable)."""

    interval: float = 10.0
    timeout: float = 900.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def until(self, what: str, probe: Callable[[], T | None], state: Callable[[], str] = lambda: "") -> T:
        """Call `probe` until it returns something other than None; it may raise to give up early."""
        deadline = self.clock() + self.timeout
        while True:
            result = probe()
            if result is not None:
                return result
            if self.clock() >= deadline:
                last = state()
                raise TimeoutError(f"{what}: gave up after {self.timeout:.0f} s" + (f" ({last})" if last else ""))
            self.sleep(self.interval)

    def with_timeout(self, timeout: float) -> Poller:
        return Poller(self.interval, timeout, self.sleep, self.clock)


def wait_status(poller: Poller, what: str, read: Callable[[], Mapping[str, Any] | None]) -> dict[str, Any]:
    """Poll `read` (None = not visible yet) until status READY; a failed status ends the wait with its reasons."""
    last: list[str] = ["not visible yet"]

    def probe() -> dict[str, Any] | None:
        record = read()
        if record is None:
            return None
        status = str(record.get("status"))
        last[0] = f"status {status}"
        if status == "READY":
            return dict(record)
        if status in FAILED_STATUSES:
            reasons = record.get("statusReasons") or record.get("failureReason") or "no reason given"
            raise RuntimeError(f"{what} is {status}: {reasons}")
        return None

    log(f"waiting for {what} to be READY")
    return poller.until(what, probe, lambda: last[0])


def wait_gone(poller: Poller, what: str, exists: Callable[[], bool]) -> None:
    poller.until(what + " to be deleted", lambda: None if exists() else True)


def exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ClientError as exc:
        if not_found(exc):
            return False
        raise
    return True


def retry_while_role_propagates(poller: Poller, what: str, call: Callable[[], T]) -> T:
    """IAM is eventually consistent: a role created seconds ago may not be assumable yet. Retried only for that."""
    last: list[str] = [""]

    def probe() -> T | None:
        try:
            return call()
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            code = error_code(exc)
            lowered = message.lower()
            # Not iam:PassRole denied to the caller: that is a missing permission, not propagation.
            if (
                code in {"InvalidParameterValueException", "ValidationException", "AccessDeniedException"}
                and "role" in lowered
                and "passrole" not in lowered
            ):
                last[0] = f"{code}: {message}"
                log(f"{what}: the new role is not usable yet ({code}); retrying")
                return None
            raise

    return poller.until(what, probe, lambda: last[0])


# --- names and clients -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunNames:
    """Every name one run uses, derived from a random run id (so runs never collide, and leftovers are findable)."""

    run_id: str
    account_id: str
    region: str
    partition: str = "aws"

    @classmethod
    def new(cls, account: Account) -> RunNames:
        return cls(secrets.token_hex(4), account.account_id, account.region, account.partition)

    @property
    def prefix(self) -> str:
        return f"{NAME_PREFIX}-{self.run_id}"

    @property
    def stack(self) -> str:
        return self.prefix

    @property
    def state_machine(self) -> str:
        return f"{self.stack}-secure-rollout"  # template.yaml: Name: ${AWS::StackName}-secure-rollout

    @property
    def state_machine_arn(self) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account_id}:stateMachine:{self.state_machine}"

    @property
    def parameter_prefix(self) -> str:
        return f"/{NAME_PREFIX}/{self.run_id}/customersupport/agentcore"

    @property
    def runtime(self) -> str:
        return f"{NAME_PREFIX.replace('-', '_')}_{self.run_id}_CustomerSupport"

    @property
    def old_gateway(self) -> str:
        return f"{self.prefix}-my-gateway"

    @property
    def gateway(self) -> str:
        return f"{self.prefix}-my-gateway-secure"

    @property
    def pool(self) -> str:
        return f"{self.prefix}-CustomerSupportPool"

    @property
    def domain(self) -> str:
        return self.prefix

    @property
    def bucket(self) -> str:
        return f"{self.prefix}-{self.account_id}-{self.region}"

    @property
    def backup_bucket_prefix(self) -> str:
        """CloudFormation names the stack's BackupBucket <stack name in lower case>-backupbucket-<suffix>."""
        return f"{self.stack.lower()}-backupbucket-"

    @property
    def agent_key(self) -> str:
        return f"agent/{self.run_id}/CustomerSupport.zip"

    @property
    def warranty_function(self) -> str:
        return f"{self.prefix}-WarrantyCheck"

    @property
    def warranty_function_arn(self) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:function:{self.warranty_function}"

    @property
    def lambda_role(self) -> str:
        return f"{self.prefix}-warranty-lambda"

    @property
    def runtime_role(self) -> str:
        return f"{self.prefix}-agentcore-runtime"

    @property
    def gateway_role(self) -> str:
        return f"{self.prefix}-agentcore-gateway"

    @property
    def log_group_prefixes(self) -> tuple[str, ...]:
        # The stack's functions (<stack>-<LogicalId>-<suffix>) and the WarrantyCheck Lambda; the runtime's logs
        # (its id starts with its name). The state machine's log group is a stack resource.
        return (f"/aws/lambda/{self.prefix}-", f"/aws/bedrock-agentcore/runtimes/{self.runtime}-")


@dataclass(frozen=True)
class Clients:
    cognito: CognitoIdentityProviderClient
    iam: IAMClient
    s3: S3Client
    lambda_: LambdaClient
    ssm: SSMClient
    control: BedrockAgentCoreControlClient
    logs: CloudWatchLogsClient
    stepfunctions: SFNClient
    cloudformation: Any  # no mypy_boto3_cloudformation stubs in this venv

    @classmethod
    def for_session(cls, session: boto3.session.Session, region: str) -> Clients:
        # Standard retry mode: throttling and transient errors only, with backoff.
        config = Config(retries={"mode": "standard", "max_attempts": 8})
        return cls(
            cognito=session.client("cognito-idp", region_name=region, config=config),
            iam=session.client("iam", region_name=region, config=config),
            s3=session.client("s3", region_name=region, config=config),
            lambda_=session.client("lambda", region_name=region, config=config),
            ssm=session.client("ssm", region_name=region, config=config),
            control=session.client("bedrock-agentcore-control", region_name=region, config=config),
            logs=session.client("logs", region_name=region, config=config),
            stepfunctions=session.client("stepfunctions", region_name=region, config=config),
            cloudformation=session.client("cloudformation", region_name=region, config=config),
        )


# --- teardown --------------------------------------------------------------------------------------------------------


@dataclass
class Teardown:
    """Undo steps, run in reverse order of registration; each runs whatever the others did, and is logged."""

    run_id: str = "<run id>"  # named in the LEFT BEHIND report
    steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def add(self, what: str, undo: Callable[[], None]) -> None:
        self.steps.append((what, undo))

    def run(self) -> list[str]:
        """Run every step; returns what could not be removed (empty: nothing left behind)."""
        left: list[str] = []
        while self.steps:
            what, undo = self.steps.pop()
            log(f"teardown: {what}")
            try:
                undo()
            except Exception as exc:
                left.append(f"{what}: {type(exc).__name__}: {exc}")
                log(f"teardown: FAILED {what}: {type(exc).__name__}: {exc}")
            except BaseException:  # interrupted: say what is still there, then stop
                left.append(f"{what}: interrupted")
                left += [f"{pending}: not attempted (interrupted)" for pending, _ in reversed(self.steps)]
                self.steps.clear()
                report_left_behind(left, self.run_id)
                raise
        return left


def report_left_behind(left: list[str], run_id: str = "<run id>") -> None:
    if not left:
        log("teardown: done, nothing left behind")
        return
    log(
        f"teardown: LEFT BEHIND - run `make test-aws-cleanup RUN={run_id}` (idempotent), or delete by hand "
        "(README, 'Real-account tests (opt-in)'):"
    )
    for item in left:
        log(f"  - {item}")


def _paginate(call: Callable[..., Any], key: str, token_in: str, token_out: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    while True:
        page = call(**kwargs, **({token_in: token} if token else {}))
        items += page.get(key, [])
        token = page.get(token_out)
        if not token:
            return items


def delete_bucket(s3: S3Client, bucket: str) -> None:
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed: list[ObjectIdentifierTypeDef] = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if not not_found(exc):
            raise


def delete_buckets_with_prefix(s3: S3Client, prefix: str) -> None:
    for bucket in s3.list_buckets().get("Buckets", []):
        if bucket["Name"].startswith(prefix):
            delete_bucket(s3, bucket["Name"])


def delete_user_pools_named(cognito: CognitoIdentityProviderClient, name: str) -> None:
    pools = [p for p in _paginate(cognito.list_user_pools, "UserPools", "NextToken", "NextToken", MaxResults=60)]
    for pool in pools:
        if pool.get("Name") != name:
            continue
        described = cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
        for domain in (described.get("Domain"), described.get("CustomDomain")):
            if domain:
                cognito.delete_user_pool_domain(Domain=domain, UserPoolId=pool["Id"])
        cognito.delete_user_pool(UserPoolId=pool["Id"])


def delete_role(iam: IAMClient, name: str) -> None:
    try:
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)
    except ClientError as exc:
        if not not_found(exc):
            raise


def delete_function(lambda_: LambdaClient, name: str) -> None:
    try:
        lambda_.delete_function(FunctionName=name)
    except ClientError as exc:
        if not not_found(exc):
            raise


def delete_parameters_under(ssm: SSMClient, prefix: str) -> None:
    names = [
        p["Name"]
        for p in _paginate(
            ssm.get_parameters_by_path, "Parameters", "NextToken", "NextToken", Path=prefix, Recursive=True
        )
    ]
    for start in range(0, len(names), 10):  # DeleteParameters takes at most 10 names
        ssm.delete_parameters(Names=names[start : start + 10])


def delete_gateway_named(control: BedrockAgentCoreControlClient, name: str, poller: Poller) -> None:
    """Targets first (asynchronous: DELETING, never deleted twice), then the gateway; waits until both are gone."""
    found = find_gateway(control, name)
    if found is None:
        return
    gateway_id = found["gatewayId"]

    def targets() -> list[dict[str, Any]]:
        try:
            return _paginate(
                control.list_gateway_targets, "items", "nextToken", "nextToken", gatewayIdentifier=gateway_id
            )
        except ClientError as exc:
            if not_found(exc):
                return []
            raise

    for target in targets():
        if target.get("status") == "DELETING":
            continue
        try:
            control.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target["targetId"])
        except ClientError as exc:
            if not not_found(exc):
                raise
    wait_gone(poller, f"targets of gateway {name}", lambda: bool(targets()))
    try:
        control.delete_gateway(gatewayIdentifier=gateway_id)
    except ClientError as exc:
        if not not_found(exc):
            raise
    wait_gone(poller, f"gateway {name}", lambda: exists(lambda: control.get_gateway(gatewayIdentifier=gateway_id)))


def delete_runtime_named(control: BedrockAgentCoreControlClient, name: str, poller: Poller) -> None:
    runtimes = _paginate(control.list_agent_runtimes, "agentRuntimes", "nextToken", "nextToken")
    for runtime_id in [r["agentRuntimeId"] for r in runtimes if r.get("agentRuntimeName") == name]:
        try:
            control.delete_agent_runtime(agentRuntimeId=runtime_id)
        except ClientError as exc:
            if not not_found(exc):
                raise
        read = functools.partial(control.get_agent_runtime, agentRuntimeId=runtime_id)
        wait_gone(poller, f"runtime {name}", functools.partial(exists, read))


def delete_log_groups(logs: CloudWatchLogsClient, prefixes: tuple[str, ...]) -> None:
    for prefix in prefixes:
        for group in _paginate(
            logs.describe_log_groups, "logGroups", "nextToken", "nextToken", logGroupNamePrefix=prefix
        ):
            try:
                logs.delete_log_group(logGroupName=group["logGroupName"])
            except ClientError as exc:
                if not not_found(exc):
                    raise


def stop_running_executions(stepfunctions: SFNClient, state_machine_arn: str) -> None:
    """Nothing may keep changing the account while it is torn down (a rollout creates gateways)."""
    try:
        pages = stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        )
        running = [e["executionArn"] for page in pages for e in page["executions"]]
    except ClientError as exc:
        if error_code(exc) == "StateMachineDoesNotExist":
            return
        raise
    for arn in running:
        log(f"stopping execution {arn}")
        try:
            stepfunctions.stop_execution(executionArn=arn, error="TestTeardown", cause="real-account suite teardown")
        except ClientError as exc:
            if error_code(exc) != "ExecutionDoesNotExist":
                raise


def delete_stack(cloudformation: Any, stack: str) -> None:
    """DeleteStack and wait for DELETE_COMPLETE (a stack that does not exist counts as deleted)."""
    try:
        cloudformation.delete_stack(StackName=stack)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=STACK_DELETE_WAIT)
    except WaiterError as exc:
        raise RuntimeError(
            f"stack {stack} was not deleted: {exc}; failed resources: {failed_stack_events(cloudformation, stack)}"
        ) from None


def failed_stack_events(cloudformation: Any, stack: str) -> list[str]:
    try:
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    except ClientError:
        return []
    return [
        f"{e.get('LogicalResourceId')}: {e.get('ResourceStatus')} {e.get('ResourceStatusReason', '')}"
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("_FAILED")
    ][:10]


def register_teardown(teardown: Teardown, clients: Clients, names: RunNames, poller: Poller) -> None:
    """Every step that removes what a run creates, registered before anything is created, in creation order (so
    they run in reverse). Each finds its resource by the run's names and is a no-op when it is absent: the same list
    cleans up a run that failed half-way, or was interrupted (`make test-aws-cleanup RUN=<run id>`)."""
    teardown.add(
        f"log groups {', '.join(p + '*' for p in names.log_group_prefixes)}",
        lambda: delete_log_groups(clients.logs, names.log_group_prefixes),
    )
    teardown.add(
        f"S3 bucket {names.bucket} (agent code, sam artifacts)", lambda: delete_bucket(clients.s3, names.bucket)
    )
    teardown.add(
        f"Cognito user pool {names.pool} and its domain {names.domain}",
        lambda: delete_user_pools_named(clients.cognito, names.pool),
    )
    for role_name in (names.lambda_role, names.runtime_role, names.gateway_role):
        teardown.add(f"IAM role {role_name}", functools.partial(delete_role, clients.iam, role_name))
    teardown.add(
        f"Lambda function {names.warranty_function}", lambda: delete_function(clients.lambda_, names.warranty_function)
    )
    teardown.add(
        f"SSM parameters under {names.parameter_prefix}",
        lambda: delete_parameters_under(clients.ssm, names.parameter_prefix),
    )
    teardown.add(
        f"gateway {names.old_gateway} and its targets",
        lambda: delete_gateway_named(clients.control, names.old_gateway, poller),
    )
    teardown.add(
        f"gateway {names.gateway} (created by the rollout) and its targets",
        lambda: delete_gateway_named(clients.control, names.gateway, poller),
    )
    teardown.add(f"runtime {names.runtime}", lambda: delete_runtime_named(clients.control, names.runtime, poller))
    # The stack keeps its backup bucket when it is deleted (DeletionPolicy: Retain): removed after it.
    teardown.add(
        f"backup buckets {names.backup_bucket_prefix}* (kept by the stack)",
        lambda: delete_buckets_with_prefix(clients.s3, names.backup_bucket_prefix),
    )
    # Deployed after the SSM parameters exist (so their creation starts no rollout through EventBridge) and deleted
    # before them, once every execution still running is stopped.
    teardown.add(f"stack {names.stack}", lambda: delete_stack(clients.cloudformation, names.stack))
    teardown.add(
        f"running executions of {names.state_machine}",
        lambda: stop_running_executions(clients.stepfunctions, names.state_machine_arn),
    )


# --- the starting point ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartingPoint:
    pool_id: str
    client_id: str
    discovery_url: str
    token_url: str
    bucket: str
    agent_key: str
    runtime_id: str
    runtime_arn: str
    runtime_role_arn: str
    gateway_role_arn: str
    old_gateway_id: str
    old_gateway_url: str
    warranty_lambda_arn: str
    parameters: dict[str, str]


def _trust(service: str, names: RunNames, source_arn: str | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_arn:  # confused-deputy guard, as AgentCore's docs recommend
        statement["Condition"] = {
            "StringEquals": {"aws:SourceAccount": names.account_id},
            "ArnLike": {"aws:SourceArn": source_arn},
        }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_documents(names: RunNames) -> dict[str, tuple[str, str]]:
    """Role name -> (trust policy, inline policy) of the three roles the starting point needs."""
    p, region, account = names.partition, names.region, names.account_id
    agentcore_arns = f"arn:{p}:bedrock-agentcore:{region}:{account}:*"
    runtime_logs = f"arn:{p}:logs:{region}:{account}:log-group:/aws/bedrock-agentcore/runtimes/*"
    lambda_logs = f"arn:{p}:logs:{region}:{account}:log-group:/aws/lambda/{names.warranty_function}"
    directory = f"arn:{p}:bedrock-agentcore:{region}:{account}:workload-identity-directory/default"
    return {
        # The AgentCore runtime execution role of AgentCore's documentation (CodeZip: no ECR statements).
        names.runtime_role: (
            _trust("bedrock-agentcore.amazonaws.com", names, agentcore_arns),
            _policy(
                {
                    "Effect": "Allow",
                    "Action": ["logs:DescribeLogStreams", "logs:CreateLogGroup"],
                    "Resource": runtime_logs,
                },
                {
                    "Effect": "Allow",
                    "Action": "logs:DescribeLogGroups",
                    "Resource": f"arn:{p}:logs:{region}:{account}:log-group:*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"{runtime_logs}:log-stream:*",
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                    ],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": "bedrock-agentcore"}},
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "bedrock-agentcore:GetWorkloadAccessToken",
                        "bedrock-agentcore:GetWorkloadAccessTokenForJWT",
                        "bedrock-agentcore:GetWorkloadAccessTokenForUserId",
                    ],
                    "Resource": [directory, f"{directory}/workload-identity/{names.runtime}-*"],
                },
                {
                    # Cross-region inference profiles (us.anthropic...) are in this region; their models in any.
                    "Effect": "Allow",
                    "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                    "Resource": [f"arn:{p}:bedrock:*::foundation-model/*", f"arn:{p}:bedrock:{region}:{account}:*"],
                },
            ),
        ),
        names.gateway_role: (
            _trust("bedrock-agentcore.amazonaws.com", names, agentcore_arns),
            _policy({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": names.warranty_function_arn}),
        ),
        names.lambda_role: (
            _trust("lambda.amazonaws.com", names),
            _policy(
                {"Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": lambda_logs},
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"{lambda_logs}:log-stream:*",
                },
            ),
        ),
    }


def runtime_environment(names: RunNames, old_gateway_url: str, model_id: str | None) -> dict[str, str]:
    """The tutorial runtime's variables: the open gateway's URL under the AgentCore CLI's name for it."""
    environment = {
        "AGENT_MODEL_PROVIDER": "bedrock",
        "LOG_LEVEL": "INFO",
        gateway_url_env_var_for(names.old_gateway): old_gateway_url,
    }
    if model_id:
        environment["BEDROCK_MODEL_ID"] = model_id
    return environment


def create_starting_point(
    clients: Clients,
    names: RunNames,
    agent_zip: Path,
    poller: Poller,
    model_id: str | None = None,
) -> StartingPoint:
    """Create the tutorial's starting point (register_teardown first: a create may fail half-way)."""
    # The tutorial's shapes have one definition, the sandbox seed's (imported here: it pulls in moto, which the
    # gate - and so `make test`'s skip of this suite - does not need).
    from sandbox.deploy import zip_dir
    from sandbox.seed import (
        PREREQUISITES,
        RUNTIME_DESCRIPTION,
        RUNTIME_LIFECYCLE,
        SCOPE,
        WARRANTY_SCHEMA,
        create_m2m_pool,
    )

    iam_poller = poller.with_timeout(180)  # IAM propagation takes seconds, rarely a minute
    tags = {TAG_KEY: names.run_id}

    log(f"creating S3 bucket {names.bucket} with the agent CodeZip")
    if names.region == "us-east-1":
        clients.s3.create_bucket(Bucket=names.bucket)
    else:
        clients.s3.create_bucket(
            Bucket=names.bucket,
            CreateBucketConfiguration={"LocationConstraint": cast("BucketLocationConstraintType", names.region)},
        )
    clients.s3.put_bucket_tagging(Bucket=names.bucket, Tagging={"TagSet": [{"Key": TAG_KEY, "Value": names.run_id}]})
    clients.s3.upload_file(str(agent_zip), names.bucket, names.agent_key)

    log(f"creating Cognito user pool {names.pool} (domain {names.domain}, M2M app client)")
    # The client secret is never bound to a name here (so no traceback can show it): the smoke test reads it itself.
    pool_id, client_id = create_m2m_pool(clients.cognito, names.pool, names.domain)[:2]

    role_arns: dict[str, str] = {}
    for role_name, (trust, policy) in role_documents(names).items():
        log(f"creating IAM role {role_name}")
        role_arns[role_name] = clients.iam.create_role(
            RoleName=role_name,
            AssumeRolePolicyDocument=trust,
            Description=f"AgentCore secure rollout real-account test run {names.run_id}",
            Tags=[{"Key": TAG_KEY, "Value": names.run_id}],
        )["Role"]["Arn"]
        clients.iam.put_role_policy(RoleName=role_name, PolicyName="tutorial", PolicyDocument=policy)

    log(f"creating Lambda {names.warranty_function}")
    code = zip_dir(PREREQUISITES / "warranty_check")
    warranty_arn = retry_while_role_propagates(
        iam_poller,
        f"CreateFunction {names.warranty_function}",
        lambda: clients.lambda_.create_function(
            FunctionName=names.warranty_function,
            Runtime="python3.13",
            Role=role_arns[names.lambda_role],
            Handler="app.lambda_handler",
            Code={"ZipFile": code},
            Architectures=["arm64"],
            Timeout=30,
            Description="WarrantyCheck tool of the AgentCore customer-support tutorial",
            Tags=tags,
        )["FunctionArn"],
    )
    clients.lambda_.get_waiter("function_active_v2").wait(
        FunctionName=names.warranty_function, WaiterConfig={"Delay": 5, "MaxAttempts": 60}
    )

    discovery_url = expected_discovery_url(pool_id, names.region, "")
    token_url = expected_token_urls({"Domain": names.domain}, names.region, "")[0]
    parameters = {
        "cognito_discovery_url": discovery_url,
        "client_id": client_id,
        "pool_id": pool_id,
        "cognito_token_url": token_url,
        "cognito_auth_scope": SCOPE,
        "warranty_check_lambda_arn": warranty_arn,
    }
    log(f"writing SSM parameters under {names.parameter_prefix}")
    for name, value in parameters.items():
        clients.ssm.put_parameter(
            Name=f"{names.parameter_prefix}/{name}",
            Value=value,
            Type="String",
            Tags=[{"Key": TAG_KEY, "Value": names.run_id}],
        )

    log(f"creating open gateway {names.old_gateway} (authorizer NONE)")
    gateway_id = retry_while_role_propagates(
        iam_poller,
        f"CreateGateway {names.old_gateway}",
        lambda: clients.control.create_gateway(
            name=names.old_gateway,
            description=GATEWAY_DESCRIPTION,
            roleArn=role_arns[names.gateway_role],
            protocolType="MCP",
            protocolConfiguration=GATEWAY_PROTOCOL,
            authorizerType="NONE",
        )["gatewayId"],
    )
    gateway = wait_status(
        poller, f"gateway {names.old_gateway}", lambda: clients.control.get_gateway(gatewayIdentifier=gateway_id)
    )
    log(f"creating target {TARGET_NAME} on {names.old_gateway}")
    target_id = clients.control.create_gateway_target(
        gatewayIdentifier=gateway_id,
        name=TARGET_NAME,
        description=f"{TARGET_NAME} tool (tutorial)",
        targetConfiguration={
            "mcp": {
                "lambda": {
                    "lambdaArn": warranty_arn,
                    "toolSchema": {"inlinePayload": json.loads(WARRANTY_SCHEMA.read_text())},
                }
            }
        },
        credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    )["targetId"]
    wait_status(
        poller,
        f"target {TARGET_NAME}",
        lambda: clients.control.get_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id),
    )

    log(f"creating runtime {names.runtime} from s3://{names.bucket}/{names.agent_key} ({RUNTIME_VERSION})")
    artifact = cast(
        "AgentRuntimeArtifactTypeDef",
        {
            "codeConfiguration": {
                "code": {"s3": {"bucket": names.bucket, "prefix": names.agent_key}},
                "runtime": RUNTIME_VERSION,
                "entryPoint": [ENTRY_POINT],
            }
        },
    )
    created = retry_while_role_propagates(
        iam_poller,
        f"CreateAgentRuntime {names.runtime}",
        lambda: clients.control.create_agent_runtime(
            agentRuntimeName=names.runtime,
            description=RUNTIME_DESCRIPTION,
            agentRuntimeArtifact=artifact,
            roleArn=role_arns[names.runtime_role],
            networkConfiguration={"networkMode": "PUBLIC"},
            protocolConfiguration={"serverProtocol": "HTTP"},
            lifecycleConfiguration=cast("LifecycleConfigurationTypeDef", RUNTIME_LIFECYCLE),
            environmentVariables=runtime_environment(names, str(gateway["gatewayUrl"]), model_id),
        ),
    )
    runtime_id = created["agentRuntimeId"]
    wait_status(
        poller, f"runtime {names.runtime}", lambda: clients.control.get_agent_runtime(agentRuntimeId=runtime_id)
    )

    def default_endpoint() -> Mapping[str, Any] | None:
        try:
            return clients.control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName="DEFAULT")
        except ClientError as exc:
            if not_found(exc):
                return None
            raise

    wait_status(poller, f"DEFAULT endpoint of runtime {names.runtime}", default_endpoint)
    return StartingPoint(
        pool_id=pool_id,
        client_id=client_id,
        discovery_url=discovery_url,
        token_url=token_url,
        bucket=names.bucket,
        agent_key=names.agent_key,
        runtime_id=runtime_id,
        runtime_arn=created["agentRuntimeArn"],
        runtime_role_arn=role_arns[names.runtime_role],
        gateway_role_arn=role_arns[names.gateway_role],
        old_gateway_id=gateway_id,
        old_gateway_url=str(gateway["gatewayUrl"]),
        warranty_lambda_arn=warranty_arn,
        parameters=parameters,
    )
