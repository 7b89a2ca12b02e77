"""The offline sandbox: an AWS account on this machine.

moto (in-process) plays SSM, Cognito, IAM, Lambda, Step Functions (executing the real ASL), EventBridge, CloudWatch
Logs and bedrock-agentcore-control; the template is deployed into it like `sam deploy`; Lambda handlers run
in-process; real HTTP servers on 127.0.0.1 play Cognito's OAuth/OIDC endpoints and AgentCore's runtime and gateway
data planes, enforcing what the control-plane records say.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from moto import mock_aws

from sandbox.behaviour import AgentCoreBehaviour, LatencyProfile
from sandbox.bucket_policies import aws_bucket_policies
from sandbox.code_artifacts import CodeArtifacts
from sandbox.deploy import Deployment, deploy
from sandbox.events import EventBridge
from sandbox.lambdas import InProcessLambdas
from sandbox.seed import CODE_BUCKET, Seeded, seed_tutorial

if TYPE_CHECKING:
    from sandbox.iam import RoleUsage, SandboxIam

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
# AgentCore's latencies (about a minute for a runtime update) scaled so a test's transitions take milliseconds, yet
# still one after the other in AWS's order.
TEST_LATENCY_SCALE = 0.001

# Every call of a stack role that IAM denied, over the life of this process (stack, role label, action, resource):
# `make test` asserts it stays empty outside the tests that provoke denials on purpose (tests/conftest.py).
STACK_ROLE_DENIALS: list[tuple[str, str, str, str]] = []

# moto's ASL interpreter logs every failed state with a full stack dump; the execution history has the facts.
for noisy in ("moto.stepfunctions.parser", "moto.stepfunctions"):
    logging.getLogger(noisy).setLevel(logging.CRITICAL)


class Sandbox:
    """Start with `with Sandbox() as sandbox:`; then `sandbox.run_rollout({...})`."""

    def __init__(
        self,
        root: Path = REPO_ROOT,
        region: str = "us-east-1",
        stack_name: str = "agentcore-secure-rollout",
        poll_seconds: int = 0,
        max_polls: int = 30,
        latency_scale: float = TEST_LATENCY_SCALE,
        latency: LatencyProfile | None = None,
        parameter_overrides: dict[str, str] | None = None,
        enforce_iam: bool = True,
        audit_iam: bool = False,
    ) -> None:
        """`enforce_iam`: every call a function or the state machine makes is evaluated against its role's policies as
        AWS would, and denied with AWS's error (see sandbox/iam). `audit_iam`: evaluated and recorded in
        `self.iam.audit`, never denied (to list everything a run needs). `latency` (default: AWS-like durations) times
        AgentCore's asynchronous transitions, multiplied by `latency_scale` (1.0: real time)."""
        self.root = root
        self.region = region
        self.account_id = ACCOUNT_ID
        self.stack_name = stack_name
        self.poll_seconds = poll_seconds
        self.max_polls = max_polls
        self.parameter_overrides = dict(parameter_overrides or {})
        self.behaviour = AgentCoreBehaviour(latency, latency_scale)
        self.lambdas = InProcessLambdas(self.account_id, region)
        self._stack = ExitStack()
        self._saved_env: dict[str, str] = {}
        self.deployment: Deployment
        self.seeded: Seeded
        self.cognito: Any = None
        self.runtime_plane: Any = None
        self.gateway_plane: Any = None
        self.agents: Any = None
        self.code: CodeArtifacts
        self.enforce_iam = enforce_iam
        self.audit_iam = audit_iam or enforce_iam
        self.iam: SandboxIam | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from sandbox.agent_host import AgentProcessPool
        from sandbox.cognito import CognitoServer
        from sandbox.gateway_dataplane import GatewayDataPlane
        from sandbox.runtime_dataplane import RuntimeDataPlane

        try:
            self._set_env(
                {
                    **FAKE_CREDENTIALS,
                    "AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region,
                    "NO_PROXY": "127.0.0.1,localhost",
                    "no_proxy": "127.0.0.1,localhost",
                }
            )
            os.environ.pop("AWS_PROFILE", None)
            self._stack.enter_context(
                mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
            )
            self.behaviour.install()
            self._stack.callback(self.behaviour.uninstall)
            self._stack.enter_context(aws_bucket_policies())
            self.lambdas.install()
            self._stack.callback(self.lambdas.uninstall)
            if self.audit_iam:
                from sandbox.iam import SandboxIam

                # Installed before deploy and seed: they run unrestricted (harness credentials), and must stay so.
                self.iam = SandboxIam(self.account_id, self.region, enforce=self.enforce_iam)
                self.iam.install(self.lambdas)
                self._stack.callback(self.iam.uninstall)

            self.cognito = self._stack.enter_context(CognitoServer(self.account_id, self.region))
            # Started before the agents: their AWS gateway URLs are rewritten to this server's (same env keys).
            self.gateway_plane = self._stack.enter_context(GatewayDataPlane(self.account_id, self.region))
            # Agents run the code of their runtime record's CodeZip (moto S3), not the checkout's agent/.
            self.code = CodeArtifacts(self.account_id, self.region)
            self._stack.callback(self.code.close)
            self.agents = AgentProcessPool(
                code_source=self.code.resolve,
                base_env={"AWS_DEFAULT_REGION": self.region},
                env_transform=self.gateway_plane.rewrite_env,
            )
            self._stack.callback(self.agents.close)
            self.runtime_plane = self._stack.enter_context(RuntimeDataPlane(self.account_id, self.region, self.agents))
            # The smoke test resolves the data plane the way boto3 does; this is how the sandbox is found.
            self._set_env({"AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": self.runtime_plane.base_url})

            # The tutorial's starting point exists before this app is deployed (its pool and roles are parameters).
            with self.behaviour.instantly():  # the tutorial's resources settled long before the rollout
                self.seeded = seed_tutorial(self.region, self.cognito.base_url, self.lambdas, self.root / "agent")
            self._attach_tutorial_log_policy()
            self.events = EventBridge(
                self.account_id, self.region, self.iam.client_for_role if self.iam is not None else None
            )
            self.events.install()
            self._stack.callback(self.events.uninstall)
            self.deployment = deploy(
                self.root,
                self.stack_name,
                {**self.deployment_parameters(), **self.parameter_overrides},
                self.lambdas,
                self.account_id,
                self.region,
            )
            if self.iam is not None:
                for role_arn, managed in self._stack_role_managed_policies().items():
                    self.iam.policies.attach_managed(role_arn, managed)
            self._subscribe_to_notifications()
        except BaseException:
            self.stop()
            raise

    def deployment_parameters(self) -> dict[str, str]:
        """`sam deploy --parameter-overrides` for this account: the seeded pool and roles, sandbox mode on."""
        return {
            "PollSeconds": str(self.poll_seconds),
            "MaxPolls": str(self.max_polls),
            "UserPoolId": self.seeded.pool_id,
            "RuntimeRoleArn": self.seeded.runtime_role_arn,
            "GatewayRoleArn": self.seeded.gateway_role_arn,
            "ArtifactBucket": CODE_BUCKET,
            "SandboxCognitoEndpoint": self.cognito.base_url,
            # The smoke test checks the new gateway directly: at this stand-in, not at its AWS gatewayUrl.
            "SandboxGatewayEndpoint": self.gateway_plane.base_url,
        }

    def _subscribe_to_notifications(self) -> None:
        """An operator's subscription to the stack's topic (an SQS queue stands in for their inbox)."""
        sqs, sns = self.client("sqs"), self.client("sns")
        queue_url = sqs.create_queue(QueueName="sandbox-operator-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=self.deployment.outputs["NotificationTopicArn"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self._inbox_url = queue_url

    def notifications(self) -> list[dict[str, Any]]:
        """Every message the notification topic delivered so far (consumed: each is returned once)."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self._inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self._inbox_url, ReceiptHandle=message["ReceiptHandle"])

    def stop(self) -> None:
        try:
            if self.iam is not None and hasattr(self, "deployment"):
                for usage in self.iam_usage():
                    STACK_ROLE_DENIALS.extend(
                        (self.stack_name, usage.label, r.action, r.resource) for r in usage.denied
                    )
        finally:
            self._stop_services()

    def _stop_services(self) -> None:
        try:
            self._stack.close()
        finally:
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env.clear()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))  # type: ignore[arg-type]
            os.environ[key] = value

    # -- IAM -------------------------------------------------------------------------------------------------

    def stack_roles(self) -> dict[str, str]:
        """Role ARN -> logical id, for every IAM role of the deployed stack (functions', state machine's, rule's)."""
        iam = self.client("iam")
        return {
            iam.get_role(RoleName=physical_id)["Role"]["Arn"]: logical_id
            for logical_id, physical_id in self.deployment.physical_ids_of("AWS::IAM::Role").items()
        }

    def _stack_role_managed_policies(self) -> dict[str, list[str]]:
        """ManagedPolicyArns of the stack's roles: on AWS they are attached; moto's CloudFormation drops them."""
        template_resources = self.deployment.translated_template["Resources"]
        return {
            role_arn: list(template_resources[logical_id].get("Properties", {}).get("ManagedPolicyArns", []))
            for role_arn, logical_id in self.stack_roles().items()
        }

    def _attach_tutorial_log_policy(self) -> None:
        """The tutorial's tool Lambdas (one role) write their logs: on AWS that role has AWSLambdaBasicExecutionRole."""
        if self.iam is None:
            return
        tool = self.client("lambda").get_function_configuration(FunctionName=self.seeded.warranty_lambda_arn)
        self.iam.policies.attach_managed(tool["Role"], [BASIC_EXECUTION_POLICY])

    def iam_usage(self) -> list[RoleUsage]:
        """Least privilege per stack role over this sandbox's run so far (needs enforce_iam or audit_iam)."""
        if self.iam is None:
            raise RuntimeError("start the sandbox with enforce_iam=True or audit_iam=True to audit IAM")
        return self.iam.usage(self.stack_roles())

    # -- clients ---------------------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    # -- rollouts --------------------------------------------------------------------------------------------

    def start_rollout(self, execution_input: dict[str, Any] | None = None, name: str | None = None) -> str:
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.deployment.state_machine_arn,
            name=name or f"rollout-{uuid.uuid4().hex[:12]}",
            input=json.dumps(execution_input or {}),
        )
        return str(response["executionArn"])

    def wait(
        self,
        execution_arn: str,
        timeout: float = 120.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Wait for the execution to end (bounded), streaming history events to `on_event` as they appear."""
        stepfunctions = self.client("stepfunctions")
        seen: set[tuple[str, str, str]] = set()
        deadline = time.monotonic() + timeout
        while True:
            description: dict[str, Any] = stepfunctions.describe_execution(executionArn=execution_arn)
            finished = description["status"] in TERMINAL
            if on_event is not None:
                # While running, moto renumbers events as Parallel branches record concurrently: identify events by
                # content, and report them in time order.
                for event in sorted(self.history(execution_arn), key=lambda e: e["timestamp"]):
                    fingerprint = (
                        event["type"],
                        str(event["timestamp"]),
                        json.dumps(event, default=str, sort_keys=True),
                    )
                    if fingerprint not in seen:
                        seen.add(fingerprint)
                        on_event(event)
            if finished:
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {description['status']} after {timeout}s")
            time.sleep(0.05)

    def run_rollout(self, execution_input: dict[str, Any] | None = None, **wait_args: Any) -> dict[str, Any]:
        return self.wait(self.start_rollout(execution_input), **wait_args)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        stepfunctions = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(1000):
            page = stepfunctions.get_execution_history(
                executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                break
        return events


@contextmanager
def running_sandbox(**kwargs: Any) -> Iterator[Sandbox]:
    with Sandbox(**kwargs) as sandbox:
        yield sandbox
