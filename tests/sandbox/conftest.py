"""Fixtures for the sandbox's loopback servers: moto in-process, Cognito + runtime data plane on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sandbox.agent_host import AgentProcessPool
from sandbox.runtime_dataplane import RuntimeDataPlane
from sandbox.seed import create_m2m_pool
from tests.sandbox.helpers import ACCOUNT_ID, REGION, STANDIN_AGENT, Pool


@pytest.fixture(scope="module")
def cognito_idp(aws: None, boto_session: boto3.session.Session) -> Any:
    return boto_session.client("cognito-idp")


@pytest.fixture(scope="module")
def pool(cognito_idp: Any) -> Pool:
    """User pool + domain + resource server (scopes invoke, admin) + M2M app client, as in the tutorial."""
    pool_id, client_id, secret = create_m2m_pool(
        cognito_idp, "CustomerSupportPool", f"cs-{uuid.uuid4().hex[:8]}", ("invoke", "admin"), "m2m"
    )
    return Pool(pool_id, client_id, secret)


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentProcessPool]:
    pool = AgentProcessPool(
        agent_entry=STANDIN_AGENT, base_env={"SANDBOX_BASE": "base"}, startup_timeout=20.0, log_dir=tmp_path / "agents"
    )
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def dataplane(aws: None, agents: AgentProcessPool) -> Iterator[RuntimeDataPlane]:
    with RuntimeDataPlane(ACCOUNT_ID, REGION, agents) as plane:
        yield plane


@pytest.fixture(scope="module")
def control(aws: None, boto_session: boto3.session.Session) -> Any:
    return boto_session.client("bedrock-agentcore-control")


@pytest.fixture
def make_runtime(control: Any) -> Callable[..., dict[str, Any]]:
    """Create a runtime through the control plane API; returns the create response (id, ARN)."""

    def create(name: str = "CustomerSupport", **settings: Any) -> dict[str, Any]:
        response: dict[str, Any] = control.create_agent_runtime(
            agentRuntimeName=name,
            agentRuntimeArtifact={
                "codeConfiguration": {
                    "code": {"s3": {"bucket": "agent-code", "prefix": f"{name}/code.zip"}},
                    "runtime": "PYTHON_3_13",
                    "entryPoint": ["main.py"],
                }
            },
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreRuntimeRole",
            networkConfiguration={"networkMode": "PUBLIC"},
            protocolConfiguration={"serverProtocol": "HTTP"},
            **settings,
        )
        for _ in range(10):
            if control.get_agent_runtime(agentRuntimeId=response["agentRuntimeId"])["status"] == "READY":
                return response
        raise AssertionError(f"runtime {name} never became READY")

    return create
