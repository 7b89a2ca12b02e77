"""S3 bucket policies the way AWS applies their Deny statements.

moto evaluates a bucket policy on object requests, but a statement whose Condition does not hold counts as a denial
there (any conditional statement - such as the usual TLS-only `Deny ... Bool aws:SecureTransport false` - then denies
every request). AWS skips a statement whose condition does not hold. This evaluates the policy with the sandbox's IAM
evaluator (sandbox/iam/policy.py: conditions as AWS evaluates them) in the request context the sandbox can know:
every SDK call reaches moto over an https endpoint, so `aws:SecureTransport` is true. An explicit Deny is a 403, as on
AWS; what a policy allows adds nothing (the sandbox authorizes callers by their identity policies only, see
sandbox/iam/__init__.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket

from sandbox.iam.policy import AuthorizationRequest, Decision, evaluate, parse_policy

REQUEST_CONTEXT = {"aws:securetransport": "true"}


def bucket_permission(policy: bytes | str | None, action: str, resource: str) -> PermissionResult:
    if not policy:
        return PermissionResult.NEUTRAL
    text = policy.decode() if isinstance(policy, bytes) else policy
    decision = evaluate([parse_policy("bucket policy", text)], AuthorizationRequest(action, resource, REQUEST_CONTEXT))
    return PermissionResult.DENIED if decision.decision is Decision.EXPLICIT_DENY else PermissionResult.NEUTRAL


@contextmanager
def aws_bucket_policies() -> Iterator[None]:
    def get_permission(bucket: Any, action: str, resource: str) -> PermissionResult:
        return bucket_permission(bucket.policy, action, resource)

    with mock.patch.object(FakeBucket, "get_permission", get_permission):
        yield
