"""Fixtures every test tree shares: an in-process fake AWS account that nothing can leave."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto import mock_aws

from sandbox import core
from sandbox.cognito import CognitoServer

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """An in-process moto account with fake credentials (nothing can reach real AWS), one per test module.

    Module-wide because moto's user pools are slow to create; tests create their own runtimes and clients whenever
    they change one. Lambda is moto's docker-free backend, whose invoke the sandbox's in-process runner takes over.
    (tests/unit has its own, per test.)
    """
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws(config={"lambda": {"use_docker": False}}):
            yield


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    # One session for all tests: botocore then parses each service model once, not once per test.
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing", region_name=REGION
    )


@pytest.fixture(scope="module")
def cognito(aws: None) -> Iterator[CognitoServer]:
    # Module-wide like the account (an RSA key per server costs); tests compare issued_tokens by difference.
    with CognitoServer(ACCOUNT_ID, REGION) as server:
        yield server


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60.0, trust_env=False) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_stack_role_is_denied(request: pytest.FixtureRequest) -> Iterator[None]:
    """IAM is enforced in every sandbox: a call of the deployed stack's roles that IAM denies during a test fails it,
    unless the test is marked `denials_expected` (it provokes them on purpose)."""
    # Denials since the previous test's end count here: a shared sandbox's setup work is reported on its first test.
    reported = len(core.STACK_ROLE_DENIALS)
    yield
    denied = [d for sandbox in core.RUNNING for d in sandbox.take_stack_role_denials()]
    denied += core.STACK_ROLE_DENIALS[reported:]
    if denied and request.node.get_closest_marker("denials_expected") is None:
        lines = "\n".join(
            f"  {label}: {action} on {resource} (stack {stack})" for stack, label, action, resource in denied
        )
        pytest.fail(f"IAM denied calls of the stack's roles:\n{lines}", pytrace=False)
