"""Whoever can write a parameter under the prefix must not get the client secret, nor make the agent trust them.

Each hijack is written the way an attacker would (a plain PutParameter), which also starts a rollout through
EventBridge - the path that used to carry the attack out automatically. Expected: that rollout fails with
InvalidConfiguration naming the parameter, nothing reaches the attacker, nothing changes, the failure is notified.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sandbox.core import Sandbox
from sandbox.runtime_dataplane import SESSION_HEADER
from tests.security.helpers import PREFIX, AttackerServer, attacker_server, put_parameter, record, status_events
from tests.security.helpers.jwt_attacks import MCP_HEADERS, mcp_initialize

CATEGORY = "ssm-hijack"


@pytest.fixture(scope="module")
def attacker() -> Iterator[AttackerServer]:
    with attacker_server() as server:
        yield server


def authorizers(sandbox: Sandbox) -> tuple[Any, Any]:
    control = sandbox.client("bedrock-agentcore-control")
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    gateway = next(g for g in control.list_gateways()["items"] if g["name"] == "my-gateway-secure")
    gateway_record = control.get_gateway(gatewayIdentifier=gateway["gatewayId"])
    return runtime.get("authorizerConfiguration"), gateway_record.get("authorizerConfiguration")


def runtime_status(sandbox: Sandbox, token: str) -> int:
    response = httpx.post(
        sandbox.runtime_plane.invocation_url(sandbox.seeded.runtime_arn),
        json={"prompt": "What's the return policy for electronics?"},
        headers={
            "Authorization": f"Bearer {token}",
            SESSION_HEADER: f"security-{uuid.uuid4().hex}",
            "Accept": "text/event-stream, application/json",
        },
        timeout=60,
    )
    return response.status_code


def gateway_status(sandbox: Sandbox, token: str) -> int:
    control = sandbox.client("bedrock-agentcore-control")
    gateway = next(g for g in control.list_gateways()["items"] if g["name"] == "my-gateway-secure")
    response = httpx.post(
        sandbox.gateway_plane.mcp_url(gateway["gatewayId"]),
        content=mcp_initialize("ssm-hijack-probe"),
        headers={**dict(MCP_HEADERS), "Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.status_code


def genuine_token(sandbox: Sandbox) -> str:
    return sandbox.cognito.mint_token(sandbox.seeded.client_id)


def other_pool(sandbox: Sandbox) -> str:
    """Another team's pool in the same account, with its own domain and M2M client."""
    idp = sandbox.client("cognito-idp")
    pool_id: str = idp.create_user_pool(PoolName=f"OtherTeam{uuid.uuid4().hex[:6]}")["UserPool"]["Id"]
    idp.create_user_pool_domain(Domain=f"other-{uuid.uuid4().hex[:8]}", UserPoolId=pool_id)
    idp.create_user_pool_client(UserPoolId=pool_id, ClientName="other-m2m", GenerateSecret=True)
    return pool_id


HIJACKS: list[tuple[str, str, Callable[[Sandbox, AttackerServer], str]]] = [
    ("token URL -> attacker's server", "cognito_token_url", lambda s, a: f"{a.base_url}/oauth2/token"),
    ("token URL -> outside https host", "cognito_token_url", lambda s, a: "https://collector.example.net/oauth2/token"),
    (
        "token URL -> real Cognito of another domain",
        "cognito_token_url",
        lambda s, a: "https://evil.auth.us-east-1.amazoncognito.com/oauth2/token",
    ),
    ("discovery URL -> attacker's issuer", "cognito_discovery_url", lambda s, a: a.discovery_url(s.seeded.pool_id)),
    (
        "discovery URL -> another pool's issuer",
        "cognito_discovery_url",
        lambda s, a: s.cognito.discovery_url(other_pool(s)),
    ),
    ("pool id -> another pool", "pool_id", lambda s, a: other_pool(s)),
    (
        "warranty Lambda -> another account",
        "warranty_check_lambda_arn",
        lambda s, a: "arn:aws:lambda:us-east-1:999999999999:function:Collector",
    ),
]


@pytest.mark.parametrize(("case", "name", "value_of"), HIJACKS, ids=[h[0] for h in HIJACKS])
def test_ssm_hijack_is_refused_before_any_secret_is_read(
    secured: Sandbox, attacker: AttackerServer, case: str, name: str, value_of: Callable[[Sandbox, AttackerServer], str]
) -> None:
    sandbox = secured
    original = sandbox.client("ssm").get_parameter(Name=f"{PREFIX}/{name}")["Parameter"]["Value"]
    before_authorizers = authorizers(sandbox)
    mutations = len(sandbox.behaviour.mutations)
    attacker_requests = len(attacker.received())

    executions = put_parameter(sandbox, name, value_of(sandbox, attacker))
    try:
        errors = sorted({str(e.get("error")) for e in executions})
        named = all(f"{PREFIX}/{name}" in (e.get("cause") or "") for e in executions)
        reached_attacker = attacker.received()[attacker_requests:]
        changed = sandbox.behaviour.mutations[mutations:]
        notified = {e["execution"] for e in status_events(sandbox) if e["status"] == "FAILED"}
        smoke_ran = any(
            "SmokeTest" in json.dumps(event, default=str)
            for e in executions
            for event in sandbox.history(e["executionArn"])
            if event["type"] == "TaskStateEntered"
        )
        observed = (
            f"{','.join(errors)}; attacker got {len(reached_attacker)} request(s); {len(changed)} change(s); "
            f"{'notified' if {e['executionArn'] for e in executions} <= notified else 'NOT notified'}"
        )
        ok = (
            bool(executions)
            and errors == ["InvalidConfiguration"]
            and named
            and not reached_attacker
            and not changed
            and not smoke_ran
            and authorizers(sandbox) == before_authorizers
            and {e["executionArn"] for e in executions} <= notified
        )
        assert record(CATEGORY, case, "InvalidConfiguration, 0 requests out, 0 changes, notified", observed, ok), (
            observed
        )
    finally:
        restored = put_parameter(sandbox, name, original)
        assert [e["status"] for e in restored] == ["SUCCEEDED"] * len(restored)
        status_events(sandbox)


def test_an_attackers_issuer_is_never_trusted(secured: Sandbox, attacker: AttackerServer) -> None:
    """After the discovery-URL hijack was refused, the attacker's tokens still get 403 and the genuine one 200."""
    sandbox = secured
    put_parameter(sandbox, "cognito_discovery_url", attacker.discovery_url(sandbox.seeded.pool_id))
    try:
        forged = attacker.token_for(sandbox.seeded.pool_id, sandbox.seeded.client_id, "customersupport/invoke")
        genuine = genuine_token(sandbox)
        observed = {
            "attacker token @ runtime": runtime_status(sandbox, forged),
            "attacker token @ gateway": gateway_status(sandbox, forged),
            "genuine token @ runtime": runtime_status(sandbox, genuine),
            "genuine token @ gateway": gateway_status(sandbox, genuine),
        }
    finally:
        put_parameter(sandbox, "cognito_discovery_url", sandbox.cognito.discovery_url(sandbox.seeded.pool_id))
        status_events(sandbox)
    expected = {
        "attacker token @ runtime": 403,
        "attacker token @ gateway": 403,
        "genuine token @ runtime": 200,
        "genuine token @ gateway": 200,
    }
    for case, status in observed.items():
        record(CATEGORY, f"after discovery hijack: {case}", str(expected[case]), str(status), status == expected[case])
    assert observed == expected
