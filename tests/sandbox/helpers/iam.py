"""Helpers for the sandbox IAM tests: policies in a line, calls as botocore describes them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel

from sandbox.iam.policy import AuthorizationRequest, ContextValue, Decision, PolicyDocument, evaluate, parse_policy
from sandbox.iam.requests import ApiCall, Principal, api_call
from tests.sandbox.helpers import ACCOUNT_ID, REGION

PRINCIPAL = Principal(f"arn:aws:iam::{ACCOUNT_ID}:role/TestRole", "test-session")


def statement(
    effect: str = "Allow",
    action: str | list[str] | None = None,
    resource: str | list[str] | None = "*",
    condition: Mapping[str, Mapping[str, object]] | None = None,
    **other: object,
) -> dict[str, object]:
    raw: dict[str, object] = {"Effect": effect, **other}
    if action is not None:
        raw["Action"] = action
    if resource is not None and "NotResource" not in other:
        raw["Resource"] = resource
    if condition is not None:
        raw["Condition"] = condition
    return raw


def policy(*statements: dict[str, object], name: str = "test-policy") -> PolicyDocument:
    return parse_policy(name, {"Version": "2012-10-17", "Statement": list(statements)})


def decide(
    policies: PolicyDocument | list[PolicyDocument],
    action: str,
    resource: str = "*",
    context: Mapping[str, ContextValue] | None = None,
) -> Decision:
    documents = policies if isinstance(policies, list) else [policies]
    return evaluate(documents, AuthorizationRequest(action, resource, dict(context or {}))).decision


def create_role(iam_client: Any, name: str, *statements: dict[str, object]) -> str:
    """A role (trusting Lambda) with one inline policy; returns its ARN."""
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "*"}]}
    arn: str = iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    iam_client.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(document))
    return arn


@cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def call(service: str, operation: str, **params: object) -> ApiCall:
    return api_call(service_model(service), operation, params, REGION, ACCOUNT_ID)


@dataclass
class FakeFacts:
    """ResourceFacts with fixed answers (the moto-backed ones are tested separately)."""

    object_keys: dict[tuple[str, str], str] = field(default_factory=dict)
    topic_keys: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def object_kms_key(self, bucket: str, key: str, version_id: str | None) -> str | None:
        return self.object_keys.get((bucket, key))

    def topic_kms_key(self, topic_arn: str) -> str | None:
        return self.topic_keys.get(topic_arn)

    def kms_key_arn(self, key_id: str) -> str | None:
        return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"

    def role_arn(self, role_name: str) -> str | None:
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}"

    def resource_tags(self, arn: str) -> Mapping[str, str]:
        return self.tags.get(arn, {})
