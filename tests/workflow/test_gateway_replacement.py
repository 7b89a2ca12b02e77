"""Replacing the gateway on a control plane as strict as AWS: target deletion is asynchronous and polled (a DELETING
target is never asked again), the new gateway's URL comes from GetGateway, and every setting of the old gateway
reaches the new one - or the plan and the report name it."""

from __future__ import annotations

import json
import time
from typing import Any

from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

from sandbox.behaviour import read_until
from sandbox.core import Sandbox

POLICY_ENGINE = "arn:aws:bedrock-agentcore:us-east-1:123456789012:policy-engine/CustomerSupport-a1b2c3d4e5"


def _entered(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in sandbox.history(execution_arn) if "stateEnteredEventDetails" in e
    ]


def _lambda_errors(sandbox: Sandbox, execution_arn: str) -> list[str]:
    return [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in sandbox.history(execution_arn)
        if e["type"] == "LambdaFunctionFailed"
    ]


def _settled(read: Any, polls: int = 10) -> dict[str, Any]:
    # A pause between reads: the sandbox's transitions take milliseconds of real time, which fast reads could outrun.
    return read_until(read, "the record", polls=polls, between=lambda: time.sleep(0.01))


# -- defect: target deletion is asynchronous --------------------------------------------------------------------------


def test_old_targets_are_deleted_once_and_polled_until_gone(sandbox: Sandbox) -> None:
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert sandbox.behaviour.refusals == []  # no DeleteGatewayTarget on a DELETING target, no early DeleteGateway
    assert "AgentCoreBusy" not in _lambda_errors(sandbox, execution["executionArn"])
    deletions = sorted(m for m in sandbox.behaviour.mutations if m.startswith("DeleteGatewayTarget"))
    assert deletions == ["DeleteGatewayTarget ShippingEstimate", "DeleteGatewayTarget WarrantyCheck"]
    states = _entered(sandbox, execution["executionArn"])
    # Polled like every other wait: targets first (Wait/Check until none is left), then the gateway.
    assert states.index("DeleteOldTargets") < states.index("CheckOldTargets") < states.index("DeleteOldGateway")
    assert json.loads(execution["output"])["oldGatewayDeleted"] is True


def test_a_target_whose_deletion_fails_is_a_named_failure(sandbox: Sandbox) -> None:
    sandbox.behaviour.faults.target_delete_failure = "Target is referenced by an interceptor"
    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "FAILED"
    assert execution["error"] == "GatewayDeleteFailed"
    message = json.loads(execution["cause"])["errorMessage"]
    assert "was asked to delete but is FAILED: Target is referenced by an interceptor" in message
    assert [r for r in sandbox.behaviour.refusals if r.startswith("DeleteGatewayTarget")] == []


# -- defect: settings CreateGateway cannot take -----------------------------------------------------------------------


def _configure_old_gateway(sandbox: Sandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give the tutorial's gateway every setting AgentCore has (and a VPC MCP-server target), as a real account's
    might: the rollout must carry each one or say it did not."""
    control = sandbox.client("bedrock-agentcore-control")
    old = control.get_gateway(gatewayIdentifier=sandbox.seeded.old_gateway_id)
    tool = sandbox.seeded.warranty_lambda_arn
    settings = {
        "description": old["description"],
        "protocolConfiguration": old["protocolConfiguration"],
        "kmsKeyArn": sandbox.client("kms").create_key(Description="gateway data")["KeyMetadata"]["Arn"],
        "interceptorConfigurations": [
            {
                "interceptor": {"lambda": {"arn": tool}},
                "interceptionPoints": ["REQUEST"],
                "inputConfiguration": {"passRequestHeaders": False},
            }
        ],
        "policyEngineConfiguration": {"arn": POLICY_ENGINE, "mode": "LOG_ONLY"},
        "exceptionLevel": "DEBUG",
        "domainOverride": {"defaultDomain": "tools.example.com"},
        "customTransformConfiguration": {"lambda": {"arn": tool}},
        "wafConfiguration": {"failureMode": "FAIL_OPEN"},
    }
    control.update_gateway(
        gatewayIdentifier=old["gatewayId"],
        name=old["name"],
        roleArn=old["roleArn"],
        protocolType="MCP",
        authorizerType="NONE",
        **settings,
    )
    _settled(lambda: control.get_gateway(gatewayIdentifier=old["gatewayId"]))
    control.tag_resource(resourceArn=old["gatewayArn"], tags={"team": "customer-support", "cost-center": "cs-42"})
    # A tag only AWS can set (the tutorial's CloudFormation stack), written where AWS keeps it.
    tagger = bedrockagentcorecontrol_backends[sandbox.account_id][sandbox.region].tagger
    tagger.tag_resource(old["gatewayArn"], [{"Key": "aws:cloudformation:stack-name", "Value": "customer-support"}])
    wafv2 = sandbox.client("wafv2")
    visibility = {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "tools"}
    web_acl = wafv2.create_web_acl(
        Name="tools", Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig=visibility, Rules=[]
    )["Summary"]["ARN"]
    wafv2.associate_web_acl(WebACLArn=web_acl, ResourceArn=old["gatewayArn"])

    inventory = control.create_gateway_target(
        gatewayIdentifier=old["gatewayId"],
        name="Inventory",
        description="Inventory MCP server in the warehouse VPC",
        targetConfiguration={"mcp": {"mcpServer": {"endpoint": "https://inventory.internal.example.com/mcp"}}},
        metadataConfiguration={"allowedRequestHeaders": ["X-Tenant"]},
        privateEndpoint={
            "managedVpcResource": {
                "vpcIdentifier": "vpc-0a1b2c3d4e5f60718",
                "subnetIds": ["subnet-0a1b2c3d4e5f60718"],
                "endpointIpAddressType": "IPV4",
            }
        },
        certificateConfigurations=[{"s3": {"uri": "s3://inventory-certs/ca.pem"}}],
        credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    )
    target = _settled(
        lambda: control.get_gateway_target(gatewayIdentifier=old["gatewayId"], targetId=inventory["targetId"])
    )
    return settings, target


def test_every_old_gateway_setting_is_carried_or_named(sandbox: Sandbox) -> None:
    settings, old_target = _configure_old_gateway(sandbox)
    before = len(sandbox.behaviour.mutations)

    dry_run = sandbox.wait(sandbox.start_rollout({"dryRun": True}))
    assert dry_run["status"] == "SUCCEEDED", dry_run.get("cause")
    assert json.loads(dry_run["output"])["notCarried"] == ["tags:aws:*", "webAclArn"]  # names, never values
    assert sandbox.behaviour.mutations[before:] == []

    execution = sandbox.wait(sandbox.start_rollout({}))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert sandbox.behaviour.refusals == []
    report = json.loads(execution["output"])
    assert report["notCarried"] == ["tags:aws:*", "webAclArn"]

    control = sandbox.client("bedrock-agentcore-control")
    new_id = next(g["gatewayId"] for g in control.list_gateways()["items"] if g["name"] == "my-gateway-secure")
    new = control.get_gateway(gatewayIdentifier=new_id)
    assert {field: new.get(field) for field in settings} == settings
    assert new["authorizerType"] == "CUSTOM_JWT"
    assert "webAclArn" not in new
    assert control.list_tags_for_resource(resourceArn=new["gatewayArn"])["tags"] == {
        "team": "customer-support",
        "cost-center": "cs-42",
    }
    # The VPC MCP-server target is re-created with every setting CreateGatewayTarget takes (and none it does not).
    targets = {t["name"]: t for t in control.list_gateway_targets(gatewayIdentifier=new_id)["items"]}
    inventory = control.get_gateway_target(gatewayIdentifier=new_id, targetId=targets["Inventory"]["targetId"])
    for field in ("description", "targetConfiguration", "metadataConfiguration", "privateEndpoint"):
        assert inventory[field] == old_target[field]
    assert inventory["certificateConfigurations"] == old_target["certificateConfigurations"]
    assert inventory["privateEndpointManagedResources"] != old_target["privateEndpointManagedResources"]

    again = sandbox.wait(sandbox.start_rollout({}))
    assert json.loads(again["output"])["changed"] is False
