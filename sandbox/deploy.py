"""Deploy template.yaml into moto the way `sam deploy` deploys it into an account.

1. package: zip every local CodeUri/ContentUri and upload it, upload the ASL file (DefinitionUri) - `sam package`;
2. transform: the SAM translator expands AWS::Serverless::* into CloudFormation - what the SAM transform does;
3. create the stack in moto's CloudFormation, so wiring errors in the template fail here as they would on AWS;
4. create what moto's CloudFormation skips the way CloudFormation would: resource policies and bucket settings, and
   EventBridge Scheduler schedules (moto has the Scheduler API but no CloudFormation type for it), each only when
   its Condition holds;
5. bridge moto's known gap: CloudFormation puts the state machine in moto's non-executing Step Functions backend
   without applying DefinitionSubstitutions, so it is registered again, substituted from the stack's own resources,
   in the executing backend (same name, role, logging and tracing);
6. every function's code location is registered with the in-process Lambda runner;
7. CloudFormation's "Stack Status Change" events (CREATE_IN_PROGRESS, CREATE_COMPLETE) go to EventBridge, so the
   stack's own rules see them as on AWS (moto's CloudFormation emits none).

`update` is `sam deploy` of the same stack again (UPDATE_IN_PROGRESS, UPDATE_COMPLETE_CLEANUP_IN_PROGRESS,
UPDATE_COMPLETE): moto's CloudFormation updates what the new parameters change.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import re
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import clean_json
from moto.iam.models import iam_backends
from moto.stepfunctions.models import stepfunctions_backends
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from sandbox.lambdas import FunctionCode, InProcessLambdas

ARTIFACT_BUCKET = "sandbox-sam-artifacts"


class StackEvents(Protocol):
    def emit_stack_status(self, stack_id: str, status: str, reason: str = "", token: str = "") -> None: ...


@dataclass
class Deployment:
    stack_name: str
    state_machine_arn: str
    functions: dict[str, str]  # logical id -> deployed function name
    outputs: dict[str, str]
    translated_template: dict[str, Any]
    physical_ids: dict[str, str]  # logical id -> physical id, for the resources moto's CloudFormation created
    stack_id: str = ""

    def physical_ids_of(self, resource_type: str) -> dict[str, str]:
        resources = self.translated_template["Resources"]
        return {lid: pid for lid, pid in self.physical_ids.items() if resources[lid]["Type"] == resource_type}


class _NoManagedPolicies:
    """The template names no managed policies by name, so the translator needs no IAM lookups."""

    def load(self) -> dict[str, str]:
        return {}


def zip_dir(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _package(template: dict[str, Any], root: Path, s3: Any) -> dict[str, Path]:
    """Upload local artifacts like `sam package`; returns logical id -> local code dir for functions and layers."""
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    local_dirs: dict[str, Path] = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        key_name = {
            "AWS::Serverless::Function": "CodeUri",
            "AWS::Serverless::LayerVersion": "ContentUri",
        }.get(kind)
        if key_name and isinstance(properties.get(key_name), str):
            directory = (root / properties[key_name]).resolve()
            if not directory.is_dir():
                raise FileNotFoundError(f"{logical_id}.{key_name} points at {directory}, which is not a directory")
            key = f"{logical_id}.zip"
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=zip_dir(directory))
            properties[key_name] = f"s3://{ARTIFACT_BUCKET}/{key}"
            local_dirs[logical_id] = directory
        if kind == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
            definition_path = root / properties["DefinitionUri"]
            json.loads(definition_path.read_text())  # a malformed ASL file fails the deploy, as it would on AWS
            key = f"{logical_id}.asl.json"
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=definition_path.read_bytes())
            properties["DefinitionUri"] = {"Bucket": ARTIFACT_BUCKET, "Key": key}
    return local_dirs


def _api_shape(value: Any) -> Any:
    """CloudFormation spells Step Functions settings in PascalCase; the API wants camelCase."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _api_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    return value


def _resolve(value: Any, resource_map: Any) -> Any:
    return clean_json(value, resource_map)


# Types moto's CloudFormation skips (with a warning): the sandbox creates them itself (_apply_skipped_resources).
SKIPPED_BY_MOTO = ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::SNS::Subscription")
SCHEDULE_TYPE = "AWS::Scheduler::Schedule"


class _DropMentionsOf(logging.Filter):
    def __init__(self, types: tuple[str, ...]) -> None:
        super().__init__()
        self.types = types

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(kind in record.getMessage() for kind in self.types)


@contextlib.contextmanager
def _quiet_about(types: tuple[str, ...]) -> Iterator[None]:
    """moto warns that it skips these types; the sandbox applies them itself (_apply_skipped_resources)."""
    moto_logger = logging.getLogger("moto")
    log_filter = _DropMentionsOf(types)
    moto_logger.addFilter(log_filter)
    try:
        with warnings.catch_warnings():
            for kind in types:
                warnings.filterwarnings("ignore", message=f".*{re.escape(kind)}.*", category=UserWarning)
            yield
    finally:
        moto_logger.removeFilter(log_filter)


@_quiet_about((*SKIPPED_BY_MOTO, SCHEDULE_TYPE))  # moto skips them; _apply_skipped_resources, _create_schedules
def deploy(
    root: Path,
    stack_name: str,
    parameters: dict[str, str],
    lambdas: InProcessLambdas,
    account_id: str,
    region: str,
    template_name: str = "template.yaml",
    events: StackEvents | None = None,
) -> Deployment:
    template = yaml_parse((root / template_name).read_text())
    source = copy.deepcopy(template)
    s3 = boto3.client("s3", region_name=region)
    local_dirs = _package(template, root, s3)

    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
    }
    parameter_values = {**pseudo, **parameters}
    translated = transform(template, parameter_values, _NoManagedPolicies())

    cloudformation = boto3.client("cloudformation", region_name=region)
    token = f"sandbox-deploy-{uuid.uuid4()}"
    stack_id = cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        ClientRequestToken=token,
    )["StackId"]
    if events is not None:
        events.emit_stack_status(stack_id, "CREATE_IN_PROGRESS", "User Initiated", token)
    stack_status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack_status["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} ended {stack_status['StackStatus']}: {stack_status}")
    stack = cloudformation_backends[account_id][region].get_stack(stack_name)
    resource_map = stack.resource_map
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in r  # moto lists the resource types it skipped without one
    }
    _apply_skipped_resources(translated, resource_map, region)
    _apply_bucket_settings(translated, resource_map, physical, region)
    _create_schedules(translated, resource_map, region)

    functions = _register_functions(source, translated, physical, local_dirs, lambdas)
    state_machine_arn = _register_state_machine(source, translated, resource_map, physical, s3, account_id, region)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack_status.get("Outputs", [])}
    deployment = Deployment(stack_name, state_machine_arn, functions, outputs, translated, physical, stack_id)
    _drop_no_value_statements(deployment, account_id)
    if events is not None:  # the stack is complete once its resources are (the state machine registered above)
        events.emit_stack_status(stack_id, "CREATE_COMPLETE", "", token)
    return deployment


@_quiet_about((*SKIPPED_BY_MOTO, SCHEDULE_TYPE))
def update(
    deployment: Deployment,
    root: Path,
    parameters: dict[str, str],
    account_id: str,
    region: str,
    template_name: str = "template.yaml",
    events: StackEvents | None = None,
) -> None:
    """`sam deploy` of the deployed stack with new parameter values (same code): CloudFormation's update, its status
    events, and the same post-processing as a create for what moto's update replaced."""
    template = yaml_parse((root / template_name).read_text())
    s3 = boto3.client("s3", region_name=region)
    _package(template, root, s3)
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::StackName": deployment.stack_name,
    }
    translated = transform(template, {**pseudo, **parameters}, _NoManagedPolicies())
    cloudformation = boto3.client("cloudformation", region_name=region)
    token = f"sandbox-deploy-{uuid.uuid4()}"
    cloudformation.update_stack(
        StackName=deployment.stack_name,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        ClientRequestToken=token,
    )
    if events is not None:
        events.emit_stack_status(deployment.stack_id, "UPDATE_IN_PROGRESS", "User Initiated", token)
    status = cloudformation.describe_stacks(StackName=deployment.stack_name)["Stacks"][0]["StackStatus"]
    if status != "UPDATE_COMPLETE":
        raise RuntimeError(f"stack {deployment.stack_name} update ended {status}")
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cloudformation.describe_stack_resources(StackName=deployment.stack_name)["StackResources"]
        if "LogicalResourceId" in r
    }
    replaced = sorted(k for k, v in deployment.physical_ids.items() if physical.get(k, v) != v)
    if replaced:  # the create's bridging (state machine, functions, policies) would have to be redone
        raise NotImplementedError(f"sandbox deploy: this update replaces {replaced}; only in-place updates are bridged")
    deployment.translated_template = translated
    _drop_no_value_statements(deployment, account_id)
    if events is not None:
        events.emit_stack_status(deployment.stack_id, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "", token)
        events.emit_stack_status(deployment.stack_id, "UPDATE_COMPLETE", "", token)


def _drop_no_value_statements(deployment: Deployment, account_id: str) -> None:
    """`!If [cond, statement, !Ref AWS::NoValue]` removes the statement on AWS; moto's CloudFormation leaves a null
    in the list. Inline role policies are rewritten without them, as CloudFormation would have created them."""
    backend = iam_backends[account_id]["global"]
    for role_name in deployment.physical_ids_of("AWS::IAM::Role").values():
        role = backend.get_role(role_name)
        for policy_name, document in list(role.policies.items()):
            parsed = json.loads(document) if isinstance(document, str) else document
            statements = parsed.get("Statement") if isinstance(parsed, dict) else None
            if isinstance(statements, list) and None in statements:
                cleaned = {**parsed, "Statement": [s for s in statements if s is not None]}
                role.policies[policy_name] = json.dumps(cleaned) if isinstance(document, str) else cleaned


def _apply_bucket_settings(
    translated: dict[str, Any], resource_map: Any, physical: dict[str, str], region: str
) -> None:
    """moto's CloudFormation creates a bucket with its encryption and tags only; CloudFormation applies the rest with
    these calls (the properties' API shapes are the CloudFormation ones, PascalCase already)."""
    s3 = boto3.client("s3", region_name=region)
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        properties, bucket = _resolve(resource.get("Properties", {}), resource_map), physical[logical_id]
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"])
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        if "OwnershipControls" in properties:
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=properties["OwnershipControls"])
        if "LifecycleConfiguration" in properties:
            rules: list[Any] = [_lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule (AWS::S3::Bucket Rule) as PutBucketLifecycleConfiguration takes it."""
    api: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"]}
    api["Filter"] = {"Prefix": rule["Prefix"]} if "Prefix" in rule else {"Prefix": ""}
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        days = int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    known = {
        "Id",
        "Status",
        "Prefix",
        "ExpirationInDays",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
    }
    unknown = set(rule) - known
    if unknown:
        raise NotImplementedError(f"sandbox deploy: lifecycle rule properties {sorted(unknown)} are not applied")
    return api


def _apply_skipped_resources(translated: dict[str, Any], resource_map: Any, region: str) -> None:
    """Topic, queue and bucket policies and topic subscriptions: moto's CloudFormation skips these types, so they are
    made the way CloudFormation makes them (SetTopicAttributes / SetQueueAttributes / PutBucketPolicy / Subscribe),
    each only when its Condition holds. The sandbox does not evaluate resource policies."""
    sns, sqs = boto3.client("sns", region_name=region), boto3.client("sqs", region_name=region)
    s3 = boto3.client("s3", region_name=region)
    for resource in translated["Resources"].values():
        kind, properties = resource["Type"], resource.get("Properties", {})
        condition = resource.get("Condition")
        if condition and not resource_map.lazy_condition_map[condition]:
            continue
        if kind == "AWS::SNS::Subscription":
            sns.subscribe(
                TopicArn=_resolve(properties["TopicArn"], resource_map),
                Protocol=_resolve(properties["Protocol"], resource_map),
                Endpoint=_resolve(properties["Endpoint"], resource_map),
            )
        elif kind == "AWS::SNS::TopicPolicy":
            document = json.dumps(_resolve(properties["PolicyDocument"], resource_map))
            for topic in properties["Topics"]:
                sns.set_topic_attributes(
                    TopicArn=_resolve(topic, resource_map), AttributeName="Policy", AttributeValue=document
                )
        elif kind == "AWS::SQS::QueuePolicy":
            document = json.dumps(_resolve(properties["PolicyDocument"], resource_map))
            for queue in properties["Queues"]:
                sqs.set_queue_attributes(QueueUrl=_resolve(queue, resource_map), Attributes={"Policy": document})
        elif kind == "AWS::S3::BucketPolicy":
            document = json.dumps(_resolve(properties["PolicyDocument"], resource_map))
            s3.put_bucket_policy(Bucket=_resolve(properties["Bucket"], resource_map), Policy=document)


def _create_schedules(translated: dict[str, Any], resource_map: Any, region: str) -> None:
    """AWS::Scheduler::Schedule as CloudFormation creates it (CreateSchedule with the resolved properties), skipped
    when its Condition is false. moto's Scheduler API then holds it; sandbox/scheduler.py fires it."""
    scheduler = boto3.client("scheduler", region_name=region)
    for resource in translated["Resources"].values():
        if resource["Type"] != SCHEDULE_TYPE:
            continue
        condition = resource.get("Condition")
        if condition and not resource_map.lazy_condition_map[condition]:
            continue
        properties = _resolve(resource.get("Properties", {}), resource_map)
        known = {"Name", "Description", "GroupName", "ScheduleExpression", "FlexibleTimeWindow", "State", "Target"}
        unknown = set(properties) - known
        if unknown:
            raise NotImplementedError(f"sandbox deploy: schedule properties {sorted(unknown)} are not applied")
        scheduler.create_schedule(**{k: v for k, v in properties.items() if k in known})


def _register_functions(
    source: dict[str, Any],
    translated: dict[str, Any],
    physical: dict[str, str],
    local_dirs: dict[str, Path],
    lambdas: InProcessLambdas,
) -> dict[str, str]:
    functions: dict[str, str] = {}
    global_layers = source.get("Globals", {}).get("Function", {}).get("Layers", [])
    for logical_id, resource in source["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        layers = resource.get("Properties", {}).get("Layers", global_layers)
        layer_dirs = [local_dirs[layer["Ref"]] for layer in layers if isinstance(layer, dict) and "Ref" in layer]
        name = physical[logical_id]
        lambdas.register(name, FunctionCode(local_dirs[logical_id], layer_dirs))
        functions[logical_id] = name
    return functions


def _register_state_machine(
    source: dict[str, Any],
    translated: dict[str, Any],
    resource_map: Any,
    physical: dict[str, str],
    s3: Any,
    account_id: str,
    region: str,
) -> str:
    logical_id = next(k for k, r in source["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine")
    properties = translated["Resources"][logical_id]["Properties"]
    location = properties["DefinitionS3Location"]
    definition = s3.get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"].read().decode()
    for key, value in properties.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(_resolve(value, resource_map)))

    deployed = stepfunctions_backends[account_id][region].describe_state_machine(physical[logical_id])
    logging_config = copy.deepcopy(properties.get("LoggingConfiguration", {}))
    for destination in logging_config.get("Destinations", []):
        group = destination["CloudWatchLogsLogGroup"]
        group["LogGroupArn"] = _resolve(group["LogGroupArn"], resource_map)
    stepfunctions = boto3.client("stepfunctions", region_name=region)
    created = stepfunctions.create_state_machine(
        name=deployed.name,
        definition=definition,
        roleArn=deployed.roleArn,
        type=properties.get("StateMachineType", "STANDARD"),
        loggingConfiguration=_api_shape(logging_config),
        tracingConfiguration=_api_shape(properties.get("TracingConfiguration", {"Enabled": False})),
    )
    return str(created["stateMachineArn"])
