"""The JWT attack catalog against what a real rollout leaves behind: the tutorial's runtime and `my-gateway-secure`,
secured by the workflow (allowedClients + allowedScopes), with the real agent (agent/main.py) behind the runtime."""

from __future__ import annotations

from sandbox.core import Sandbox
from sandbox.seed import SCOPE
from tests.security.helpers import record_attacks
from tests.security.helpers.jwt_attacks import (
    build_catalog,
    misses,
    print_table,
    run_against_gateway,
    run_against_runtime,
)

SECURED_GATEWAY = "my-gateway-secure"


def test_catalog_against_a_rolled_out_sandbox(secured: Sandbox) -> None:
    sandbox = secured
    control = sandbox.client("bedrock-agentcore-control")
    seeded = sandbox.seeded
    runtime = control.get_agent_runtime(agentRuntimeId=seeded.runtime_id)
    (summary,) = [g for g in control.list_gateways()["items"] if g["name"] == SECURED_GATEWAY]
    gateway = control.get_gateway(gatewayIdentifier=summary["gatewayId"])
    # The rollout put the SSM scope list on both authorizers: the scope attacks must be refused.
    for authorizer in (runtime["authorizerConfiguration"], gateway["authorizerConfiguration"]):
        assert authorizer["customJWTAuthorizer"]["allowedScopes"] == [SCOPE]
    token = sandbox.cognito.mint_token(seeded.client_id, pool_id=seeded.pool_id)
    catalog = build_catalog(token, sandbox.cognito, seeded.pool_id, seeded.client_id, SCOPE, enforces_scope=True)

    rows = run_against_runtime(catalog, sandbox.runtime_plane.invocation_url(seeded.runtime_arn))
    rows += run_against_gateway(catalog, sandbox.gateway_plane.mcp_url(gateway["gatewayId"]))
    print_table(rows, title="JWT attacks after a full sandbox rollout")
    record_attacks("jwt (after rollout)", rows)

    assert len(rows) >= 64
    assert misses(rows) == []
