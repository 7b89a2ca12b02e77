"""End-to-end: the deployed state machine secures the tutorial's runtime and gateway in the sandbox."""

from __future__ import annotations

import json

from sandbox.core import Sandbox

SECURE_ENV = "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"


def test_rollout_secures_runtime_and_replaces_gateway(rolled_out: tuple[Sandbox, dict]) -> None:
    sandbox, execution = rolled_out
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    report = json.loads(execution["output"])
    assert report["changed"] is True
    assert report["verified"] is True

    control = sandbox.client("bedrock-agentcore-control")
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    jwt = runtime["authorizerConfiguration"]["customJWTAuthorizer"]
    assert jwt["allowedClients"] == [sandbox.seeded.client_id]
    assert (
        jwt["discoveryUrl"] == f"{sandbox.cognito.base_url}/{sandbox.seeded.pool_id}/.well-known/openid-configuration"
    )
    assert runtime["requestHeaderConfiguration"]["requestHeaderAllowlist"] == ["Authorization"]

    gateways = {g["name"]: g for g in control.list_gateways()["items"]}
    assert "my-gateway" not in gateways
    new = control.get_gateway(gatewayIdentifier=gateways["my-gateway-secure"]["gatewayId"])
    assert new["authorizerType"] == "CUSTOM_JWT"
    assert new["authorizerConfiguration"] == runtime["authorizerConfiguration"]
    assert new["gatewayUrl"].endswith("/mcp")
    assert runtime["environmentVariables"][SECURE_ENV] == new["gatewayUrl"]
    # Cloned from the old gateway: role, protocol configuration and description.
    assert new["roleArn"].endswith(":role/AgentCoreGatewayRole")
    assert new["protocolConfiguration"] == {"mcp": {"supportedVersions": ["2025-03-26"], "searchType": "SEMANTIC"}}
    assert new["description"] == "Customer support tools (tutorial)"

    targets = {
        t["name"]: control.get_gateway_target(gatewayIdentifier=new["gatewayId"], targetId=t["targetId"])
        for t in control.list_gateway_targets(gatewayIdentifier=new["gatewayId"])["items"]
    }
    assert sorted(targets) == ["ShippingEstimate", "WarrantyCheck"]
    warranty = targets["WarrantyCheck"]["targetConfiguration"]["mcp"]["lambda"]
    assert warranty["lambdaArn"] == sandbox.seeded.warranty_lambda_arn
    assert warranty["toolSchema"]["inlinePayload"][0]["name"] == "check_warranty"
    assert targets["WarrantyCheck"]["credentialProviderConfigurations"] == [
        {"credentialProviderType": "GATEWAY_IAM_ROLE"}
    ]
    shipping = targets["ShippingEstimate"]["targetConfiguration"]["mcp"]["lambda"]
    assert shipping["lambdaArn"].endswith(":function:CustomerSupportShippingEstimate")


def test_rollout_preserves_every_other_runtime_setting(rolled_out: tuple[Sandbox, dict]) -> None:
    sandbox, _ = rolled_out
    runtime = sandbox.client("bedrock-agentcore-control").get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    for key, value in sandbox.seeded.runtime_environment.items():
        assert runtime["environmentVariables"][key] == value
    assert runtime["description"] == "CustomerSupport agent from the AgentCore tutorial"
    assert runtime["protocolConfiguration"] == {"serverProtocol": "HTTP"}
    assert runtime["lifecycleConfiguration"] == {"idleRuntimeSessionTimeout": 900, "maxLifetime": 28800}
    assert runtime["networkConfiguration"] == {"networkMode": "PUBLIC"}
    assert runtime["agentRuntimeArtifact"]["codeConfiguration"]["entryPoint"] == ["main.py"]
    assert runtime["roleArn"].endswith(":role/AgentCoreRuntimeRole")


def test_report_shows_before_and_after_and_smoke_results(rolled_out: tuple[Sandbox, dict]) -> None:
    _, execution = rolled_out
    report = json.loads(execution["output"])
    assert report["runtime"]["authorizer"]["before"] is None
    assert report["runtime"]["authorizer"]["after"]["customJWTAuthorizer"]["allowedClients"]
    assert report["runtime"]["requestHeaderAllowlist"] == {"before": [], "after": ["Authorization"]}
    assert report["gateway"]["before"]["name"] == "my-gateway"
    assert report["gateway"]["before"]["authorizerType"] == "NONE"
    assert report["gateway"]["after"]["name"] == "my-gateway-secure"
    assert report["gateway"]["after"]["authorizerType"] == "CUSTOM_JWT"
    assert report["targets"]["before"] == ["ShippingEstimate", "WarrantyCheck"]
    assert [t["name"] for t in report["targets"]["after"]] == ["ShippingEstimate", "WarrantyCheck"]
    assert report["oldGatewayDeleted"] is True
    smoke = report["smoke"]
    assert 200 <= smoke["withToken"]["status"] < 300
    assert smoke["withToken"]["streamedBytes"] > 0
    assert "30 days" in smoke["withToken"]["answerExcerpt"]
    assert smoke["withoutToken"]["status"] == 401
    assert smoke["withoutToken"]["wwwAuthenticate"] is True
    assert smoke["tamperedToken"]["status"] in (401, 403)
    assert smoke["warranty"]["status"] == 200
    assert smoke["warranty"]["toolsUsed"] == ["WarrantyCheck___check_warranty"]
    assert "PROD-001" in smoke["warranty"]["answerExcerpt"]


def test_warranty_answer_came_through_the_secured_gateway_with_the_callers_token(
    rolled_out: tuple[Sandbox, dict],
) -> None:
    sandbox, execution = rolled_out
    calls = sandbox.gateway_plane.calls[: execution["gatewayCallsByThen"]]  # the first rollout's, whatever ran since
    tool_calls = [c for c in calls if c.tool_name == "WarrantyCheck___check_warranty"]
    # Two calls with the rollout's token: the agent's (it forwarded the caller's token) and the smoke test's direct
    # tools/call (the proof that does not depend on which tool a model picks).
    assert [(c.gateway_name, c.status, c.client_id) for c in tool_calls] == [
        ("my-gateway-secure", 200, sandbox.seeded.client_id)
    ] * 2
    invocations = sandbox.lambdas.invocations[: execution["invocationsByThen"]]
    warranty_runs = [i for i in invocations if i.function_name == "CustomerSupportWarrantyCheck"]
    assert [run.error_type for run in warranty_runs] == [None, None]
    gateway = json.loads(execution["output"])["smoke"]["gateway"]
    assert gateway["toolsCall"]["status"] == 200
    assert gateway["withoutToken"]["status"] == 401
    assert gateway["tamperedToken"]["status"] in (401, 403)


def test_rerun_is_a_no_op_with_zero_mutating_calls(rolled_out: tuple[Sandbox, dict]) -> None:
    sandbox, _ = rolled_out
    before = len(sandbox.behaviour.mutations)
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    report = json.loads(execution["output"])
    assert report["changed"] is False
    assert report["actions"] == []
    assert sandbox.behaviour.mutations[before:] == []
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in sandbox.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    assert "Backup" not in states  # nothing to change: no backup, no mutating state
    assert states[-5:] == ["SmokeTest", "AfterVerify", "Report", "ReleaseLock", "RolloutSucceeded"]
