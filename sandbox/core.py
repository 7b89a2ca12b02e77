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
from unittest import mock

import boto3
from moto import mock_aws

from sandbox.behaviour import AgentCoreBehaviour, LatencyProfile
from sandbox.bucket_policies import aws_bucket_policies
from sandbox.cloudtrail import CloudTrail
from sandbox.code_artifacts import CodeArtifacts
from sandbox.deploy import Deployment, deploy, update
from sandbox.events import EventBridge
from sandbox.lambdas import InProcessLambdas
from sandbox.scheduler import Firing, Scheduler
from sandbox.seed import CODE_BUCKET, Seeded, seed_tutorial
from sandbox.sigv4 import account_keys

if TYPE_CHECKING:
    from sandbox.iam import RoleUsage, SandboxIam

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
DEVELOPER_ROLE = "DeveloperRole"
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

# A call of a stack role that IAM denied: (stack, role label, action, resource). tests/conftest.py fails every test
# during which one happened, unless the test provokes denials on purpose.
Denial = tuple[str, str, str, str]
RUNNING: list[Sandbox] = []  # started and not yet stopped
STACK_ROLE_DENIALS: list[Denial] = []  # what sandboxes that have stopped had not yet reported

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
        trail: bool = False,
    ) -> None:
        """`enforce_iam`: every call a function or the state machine makes is evaluated against its role's policies as
        AWS would, and denied with AWS's error (see sandbox/iam). `audit_iam`: evaluated and recorded in
        `self.iam.audit`, never denied (to list everything a run needs). `latency` (default: AWS-like durations) times
        AgentCore's asynchronous transitions, multiplied by `latency_scale` (1.0: real time). `trail`: the account
        has a CloudTrail trail logging management events, so AgentCore writes reach EventBridge (and the stack's
        out-of-band change rule); off by default, so tests that edit AgentCore themselves start no rollout."""
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
        self.trail = trail
        self.iam: SandboxIam | None = None
        self._denials_reported = 0

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

        RUNNING.append(self)
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
            self._stack.enter_context(_step_functions_as_on_aws())
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
            # SigV4 callers of a runtime without an authorizer: the harness (unrestricted) and, with IAM, role sessions.
            keys = account_keys(FAKE_CREDENTIALS, self.iam.identities if self.iam is not None else None)
            self.runtime_plane = self._stack.enter_context(
                RuntimeDataPlane(self.account_id, self.region, self.agents, keys=keys, iam=self.iam)
            )
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
            # Scheduler invokes targets with the schedule's role, like EventBridge with a rule target's.
            self.scheduler = Scheduler(self.region, self.iam.client_for_role if self.iam is not None else None)
            self._start_cloudtrail()
            self.deployment = deploy(
                self.root,
                self.stack_name,
                {**self.deployment_parameters(), **self.parameter_overrides},
                self.lambdas,
                self.account_id,
                self.region,
                events=self.events,
            )
            if self.iam is not None:
                for role_arn, managed in self._stack_role_managed_policies().items():
                    self.iam.policies.attach_managed(role_arn, managed)
            self._subscribe_to_notifications()
        except BaseException:
            self.stop()
            raise

    def caller_credentials(self) -> dict[str, str]:
        """What the tutorial's callers sign InvokeAgentRuntime with while the runtime has no authorizer: the session of
        the seeded caller role (allowed InvokeAgentRuntime on the runtime only); the harness's own without IAM."""
        if self.iam is None:
            return dict(FAKE_CREDENTIALS)
        session = self.iam.identities.credentials(self.seeded.caller_role_arn, "customer-support-caller")
        return {name: str(value) for name, value in session.items()}

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
            # Tests start their own rollouts; tests/workflow/test_triggers.py turns the stack-deploy rule on.
            "TriggerOnStackDeploy": "Disabled",
        }

    def _start_cloudtrail(self) -> None:
        """CloudTrail's AgentCore records, delivered to EventBridge; callers identified by their credentials."""
        from sandbox.iam.enforcement import Identities

        self.identities = self.iam.identities if self.iam is not None else Identities(self.account_id, self.region)
        iam = self.client("iam")
        # An outside principal: a developer who redeploys the agent with another tool (agentcore deploy, the console).
        role = iam.create_role(
            RoleName=DEVELOPER_ROLE,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{self.account_id}:root"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]
        iam.put_role_policy(
            RoleName=DEVELOPER_ROLE,
            PolicyName="AgentCoreDeveloper",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["bedrock-agentcore:*", "iam:PassRole", "s3:Get*"],
                            "Resource": "*",
                        }
                    ],
                }
            ),
        )
        self.developer_role_arn = str(role["Arn"])
        self.cloudtrail = CloudTrail(
            self.account_id,
            self.region,
            self.events.emit_api_call,
            principal_of_key=self.identities.principal,
            current_function=self.lambdas.current_function,
            trail=self.trail,
        )
        self.cloudtrail.install()  # after IAM's hook (same botocore method), so it is removed first
        self._stack.callback(self.cloudtrail.uninstall)

    def developer_client(self, service: str, session_name: str = "developer") -> Any:
        """A client acting as the sandbox's DeveloperRole: writes made with it are someone else's, not the stack's."""
        return self.identities.client(service, self.developer_role_arn, session_name, self.region)

    def update_stack(self, **parameter_overrides: str) -> None:
        """`sam deploy` again with these parameter values on top of the current ones (emits the stack's events)."""
        self.parameter_overrides.update(parameter_overrides)
        update(
            self.deployment,
            self.root,
            {**self.deployment_parameters(), **self.parameter_overrides},
            self.account_id,
            self.region,
            events=self.events,
        )

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
        self._passed_over: list[dict[str, Any]] = []  # delivered, read by take_notification, not taken

    def notifications(self) -> list[dict[str, Any]]:
        """Every message the notification topic delivered so far (consumed: each is returned once), those a
        `take_notification` passed over first."""
        sqs = self.client("sqs")
        messages, self._passed_over = self._passed_over, []
        while True:
            batch = sqs.receive_message(QueueUrl=self._inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self._inbox_url, ReceiptHandle=message["ReceiptHandle"])

    def take_notification(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The first delivered message that is `wanted` (consumed), or None; the others stay for `notifications`."""
        messages = self.notifications()
        found = next((m for m in messages if wanted(m)), None)
        self._passed_over = [m for m in messages if m is not found]
        return found

    def take_stack_role_denials(self) -> list[Denial]:
        """Calls of the stack's roles that IAM denied since the last call (empty without IAM or a deployment)."""
        if self.iam is None or not hasattr(self, "deployment"):
            return []
        records = self.iam.records(self._denials_reported)
        self._denials_reported += len(records)
        roles = self.stack_roles()
        return [
            (self.stack_name, roles[r.principal.role_arn], r.action, r.resource)
            for r in records
            if not r.allowed and r.principal.role_arn in roles
        ]

    def stop(self) -> None:
        try:
            STACK_ROLE_DENIALS.extend(self.take_stack_role_denials())
        finally:
            if self in RUNNING:
                RUNNING.remove(self)
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
                self._wait_for_end_event(execution_arn)
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {description['status']} after {timeout}s")
            time.sleep(0.05)

    def _wait_for_end_event(self, execution_arn: str, timeout: float = 10.0) -> None:
        """Until EventBridge has handled the execution's end event (bounded): as on AWS the event follows the status
        change, and a caller that reads the notification topic right after `wait` must find its message there."""
        deadline = time.monotonic() + timeout
        while execution_arn not in self.events.ended_executions and time.monotonic() < deadline:
            time.sleep(0.01)

    def time_out(self, execution_arn: str) -> None:
        """Time control: the execution reaches its TimeoutSeconds now. As on AWS it ends TIMED_OUT wherever it is - no
        state of its own runs any more (no Catch, no release), even while it waits for a task token."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[self.account_id][self.region]
        execution: Any = backend.describe_execution(execution_arn)  # the interpreter's Execution, with its worker
        environment = execution.exec_worker.env
        environment.set_timed_out()
        _interrupt_task_waits(environment)

    def fire_schedule(self, name: str | None = None) -> Firing:
        """The schedule is due now: Scheduler starts its target (default: the stack's drift watch schedule)."""
        return self.scheduler.fire(name or f"{self.stack_name}-drift-check")

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
def _step_functions_as_on_aws() -> Iterator[None]:
    """Where moto's executing Step Functions differs from AWS in what this app relies on:
    - StopExecution (ABORTED) and the execution's timeout (TIMED_OUT) end an execution at once, also one waiting for
      a task token (moto kept it RUNNING until the token's own timeout), and nothing it was doing can still fail it;
    - SendTaskFailure hands its `cause` to the waiting state (moto dropped it);
    - a constant TimeoutSeconds/HeartbeatSeconds is always evaluated: moto skips evaluating any component of a branch
      that is no longer running (a sibling Parallel branch failed), and the task then pops its state input as its
      timeout, which leaves a history event GetExecutionHistory cannot serialize."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import HeartbeatSeconds
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.responses import StepFunctionResponse

    original_stop, original_set_error = Execution.stop, Environment.set_error

    def send_task_failure(response: Any) -> Any:
        response.stepfunction_backend.send_task_failure(
            response._get_param("taskToken"), error=response._get_param("error"), cause=response._get_param("cause")
        )
        return EmptyResult()

    def stop(execution: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original_stop(execution, stop_date, error, cause)
        if execution.exec_worker is not None and execution.exec_worker.env is not None:
            _interrupt_task_waits(execution.exec_worker.env)

    def set_error(environment: Any, error: Any) -> None:
        if isinstance(environment._program_state, ProgramStopped | ProgramTimedOut):
            return  # the interrupted wait's failure: the execution has already ended
        original_set_error(environment, error)

    with (
        mock.patch.object(Execution, "stop", stop),
        mock.patch.object(Environment, "set_error", set_error),
        mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure),
        mock.patch.object(TimeoutSeconds, "eval", _push_constant_seconds),
        mock.patch.object(HeartbeatSeconds, "eval", _push_constant_seconds),
    ):
        yield


def _push_constant_seconds(component: Any, env: Any) -> None:
    component._eval_body(env)  # pushes a constant: nothing to prune, and the caller always pops it


def _interrupt_task_waits(environment: Any) -> None:
    """moto's interpreter notices an execution's end only between states: a state waiting for a task token would
    keep it RUNNING until the token's own timeout. AWS ends it at once; wake those waits (the task's outcome is then
    discarded, as the execution is no longer running)."""
    for endpoint in list(environment.callback_pool_manager._pool.values()):
        endpoint.interrupt_all()


@contextmanager
def running_sandbox(**kwargs: Any) -> Iterator[Sandbox]:
    with Sandbox(**kwargs) as sandbox:
        yield sandbox
