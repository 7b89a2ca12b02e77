"""The JWT attack catalog against what a real rollout leaves behind: the tutorial's runtime and `my-gateway-secure`,
secured by the workflow, with the real agent (agent/main.py) behind the runtime data plane."""

from __future__ import annotations

from typing import Any

import pytest
from jwt_attacks import build_catalog, misses, print_table, run_against_gateway, run_against_runtime

from sandbox.core import Sandbox
from sandbox.seed import SCOPE

SECURED_GATEWAY = "my-gateway-secure"


def _enforces_scope(authorizer: dict[str, Any]) -> bool:
    return bool(authorizer["customJWTAuthorizer"].get("allowedScopes"))


@pytest.mark.slow
def test_catalog_against_a_rolled_out_sandbox() -> None:
    with Sandbox(poll_seconds=0, max_polls=10) as sandbox:
        assert sandbox.run_rollout({})["status"] == "SUCCEEDED"
        control = sandbox.client("bedrock-agentcore-control")
        seeded = sandbox.seeded
        runtime = control.get_agent_runtime(agentRuntimeId=seeded.runtime_id)
        (summary,) = [g for g in control.list_gateways()["items"] if g["name"] == SECURED_GATEWAY]
        gateway = control.get_gateway(gatewayIdentifier=summary["gatewayId"])
        token = sandbox.cognito.mint_token(seeded.client_id, pool_id=seeded.pool_id)

        def catalog(authorizer: dict[str, Any]) -> Any:
            return build_catalog(
                token,
                sandbox.cognito,
                seeded.pool_id,
                seeded.client_id,
                SCOPE,
                enforces_scope=_enforces_scope(authorizer),
            )

        rows = run_against_runtime(
            catalog(runtime["authorizerConfiguration"]), sandbox.runtime_plane.invocation_url(seeded.runtime_arn)
        ) + run_against_gateway(
            catalog(gateway["authorizerConfiguration"]), sandbox.gateway_plane.mcp_url(gateway["gatewayId"])
        )
        print_table(rows, title="JWT attacks after a full sandbox rollout")

    assert misses(rows) == []
