"""The sandbox's AgentCore control plane is as strict as AWS: asynchronous target deletion, the model's name pattern,
CreateGateway without gatewayUrl, and Get*/List* answers that carry every member of the current output shapes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.model
import botocore.session
import pytest
from botocore.exceptions import ClientError

from sandbox.behaviour import AgentCoreBehaviour, ManualClock, read_until
from tests.sandbox.helpers import ACCOUNT_ID, REGION

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreGatewayRole"
LAMBDA = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:WarrantyCheck"
SCHEMA = [{"name": "check_warranty", "description": "Check a warranty", "inputSchema": {"type": "object"}}]
MODEL = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
CLOCK = ManualClock()  # moved on by `poll`: transitions happen when a test lets time pass, never by themselves


def output_members(operation: str) -> set[str]:
    shape = MODEL.operation_model(operation).output_shape
    assert shape is not None
    return set(shape.members)


def shape_members(name: str) -> set[str]:
    shape = MODEL.shape_for(name)
    assert isinstance(shape, botocore.model.StructureShape)
    return set(shape.members)


@pytest.fixture(scope="module")
def behaviour(aws: None) -> Iterator[AgentCoreBehaviour]:
    agentcore = AgentCoreBehaviour(clock=CLOCK)
    agentcore.install()
    try:
        yield agentcore
    finally:
        agentcore.uninstall()


@pytest.fixture
def agentcore(behaviour: AgentCoreBehaviour, control: Any) -> Any:
    return control


def poll(read: Callable[[], dict[str, Any]], until: str, polls: int = 10) -> dict[str, Any]:
    """Read, and move the sandbox's clock on by a minute between reads (longer than any transition takes)."""
    return read_until(read, "the record", until, polls, between=lambda: CLOCK.advance(60))


def make_gateway(control: Any, name: str, **settings: Any) -> dict[str, Any]:
    settings.setdefault("authorizerType", "NONE")
    created = control.create_gateway(name=name, roleArn=ROLE, protocolType="MCP", **settings)
    return poll(lambda: control.get_gateway(gatewayIdentifier=created["gatewayId"]), "READY")


def make_target(control: Any, gateway_id: str, name: str = "WarrantyCheck", **settings: Any) -> dict[str, Any]:
    definition = {
        "targetConfiguration": {"mcp": {"lambda": {"lambdaArn": LAMBDA, "toolSchema": {"inlinePayload": SCHEMA}}}},
        "credentialProviderConfigurations": [{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
        **settings,
    }
    created = control.create_gateway_target(gatewayIdentifier=gateway_id, name=name, **definition)
    return poll(lambda: control.get_gateway_target(gatewayIdentifier=gateway_id, targetId=created["targetId"]), "READY")


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


# -- asynchronous target deletion ------------------------------------------------------------------------------------


def test_target_deletion_is_asynchronous_and_cannot_be_repeated(agentcore: Any, behaviour: AgentCoreBehaviour) -> None:
    gateway = make_gateway(agentcore, "async-target-delete")
    gateway_id = gateway["gatewayId"]
    target = make_target(agentcore, gateway_id)
    target_id = target["targetId"]

    deleted = agentcore.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id)
    assert deleted["status"] == "DELETING"
    assert [t["status"] for t in agentcore.list_gateway_targets(gatewayIdentifier=gateway_id)["items"]] == ["DELETING"]
    # Deleting it again while it is DELETING is refused, as is the gateway while any target (even DELETING) exists.
    with pytest.raises(ClientError) as again:
        agentcore.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id)
    assert error_code(again) == "ConflictException"
    with pytest.raises(ClientError) as too_early:
        agentcore.delete_gateway(gatewayIdentifier=gateway_id)
    assert error_code(too_early) == "ValidationException"
    assert "Delete all targets" in str(too_early.value)
    assert behaviour.mutations.count("DeleteGatewayTarget WarrantyCheck") == 1

    # It settles when its time has come, then it is gone (reaped on Get and List).
    first = agentcore.get_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id)
    assert first["status"] == "DELETING"
    CLOCK.advance(60)
    with pytest.raises(ClientError) as gone:
        agentcore.get_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id)
    assert error_code(gone) == "ResourceNotFoundException"
    assert agentcore.list_gateway_targets(gatewayIdentifier=gateway_id)["items"] == []
    with pytest.raises(ClientError) as missing:
        agentcore.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id)
    assert error_code(missing) == "ResourceNotFoundException"
    assert agentcore.delete_gateway(gatewayIdentifier=gateway_id)["status"] == "DELETING"


def test_a_deleting_target_cannot_be_updated(agentcore: Any) -> None:
    gateway_id = make_gateway(agentcore, "update-while-deleting")["gatewayId"]
    target = make_target(agentcore, gateway_id)
    agentcore.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target["targetId"])
    with pytest.raises(ClientError) as refused:
        agentcore.update_gateway_target(
            gatewayIdentifier=gateway_id,
            targetId=target["targetId"],
            name=target["name"],
            targetConfiguration=target["targetConfiguration"],
            credentialProviderConfigurations=target["credentialProviderConfigurations"],
        )
    assert error_code(refused) == "ConflictException"


def test_a_failed_target_deletion_ends_failed_with_reasons(agentcore: Any, behaviour: AgentCoreBehaviour) -> None:
    gateway_id = make_gateway(agentcore, "failed-target-delete")["gatewayId"]
    target_id = make_target(agentcore, gateway_id)["targetId"]
    behaviour.faults.target_delete_failure = "Target is referenced by a policy engine"
    agentcore.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id)
    failed = poll(lambda: agentcore.get_gateway_target(gatewayIdentifier=gateway_id, targetId=target_id), "FAILED")
    assert failed["statusReasons"] == ["Target is referenced by a policy engine"]
    with pytest.raises(ClientError) as refused:
        agentcore.delete_gateway(gatewayIdentifier=gateway_id)
    assert error_code(refused) == "ValidationException"


# -- request shapes ---------------------------------------------------------------------------------------------------


def test_gateway_names_must_match_the_models_pattern(agentcore: Any) -> None:
    name_shape = MODEL.operation_model("CreateGateway").input_shape.members["name"]  # type: ignore[union-attr]
    pattern = name_shape.metadata["pattern"]
    for bad in ("my_gateway", "my--gateway", "-gateway", "g" * 49, "my gateway"):
        assert not re.fullmatch(pattern, bad)
        with pytest.raises(ClientError) as refused:
            agentcore.create_gateway(name=bad, roleArn=ROLE, protocolType="MCP", authorizerType="NONE")
        assert error_code(refused) == "ValidationException"
        message = str(refused.value.response["Error"]["Message"])
        assert f"Value '{bad}' at 'name'" in message
        assert pattern in message
    assert make_gateway(agentcore, "G" * 47 + "1")["name"] == "G" * 47 + "1"  # 48 characters, any case


def test_create_gateway_answers_without_gateway_url(agentcore: Any) -> None:
    created = agentcore.create_gateway(name="no-url-yet", roleArn=ROLE, protocolType="MCP", authorizerType="NONE")
    assert created["status"] == "CREATING"
    assert "gatewayUrl" not in created
    url = agentcore.get_gateway(gatewayIdentifier=created["gatewayId"])["gatewayUrl"]
    assert url == f"https://{created['gatewayId']}.gateway.bedrock-agentcore.{REGION}.amazonaws.com/mcp"


def every_gateway_setting(boto_session: boto3.session.Session) -> dict[str, Any]:
    kms_key = boto_session.client("kms").create_key(Description="gateway key")["KeyMetadata"]["Arn"]
    return {
        "description": "Every gateway setting",
        "protocolConfiguration": {"mcp": {"supportedVersions": ["2025-03-26"], "searchType": "SEMANTIC"}},
        "kmsKeyArn": kms_key,
        "interceptorConfigurations": [
            {"interceptor": {"lambda": {"arn": LAMBDA}}, "interceptionPoints": ["REQUEST"]},
        ],
        "policyEngineConfiguration": {
            "arn": f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT_ID}:policy-engine/CustomerSupport-a1b2c3d4e5",
            "mode": "LOG_ONLY",
        },
        "exceptionLevel": "DEBUG",
        "authorizerType": "CUSTOM_JWT",
        "authorizerConfiguration": {
            "customJWTAuthorizer": {
                "discoveryUrl": f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_AbCdEf123/.well-known/openid-configuration",
                "allowedClients": ["4example7clientid0abc"],
            }
        },
        "domainOverride": {"defaultDomain": "tools.example.com", "alternateDomains": ["mcp.example.com"]},
    }


def associate_web_acl(boto_session: boto3.session.Session, resource_arn: str) -> str:
    wafv2 = boto_session.client("wafv2")
    visibility = {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "gateway"}
    web_acl = wafv2.create_web_acl(
        Name="gateway-acl", Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig=visibility, Rules=[]
    )["Summary"]["ARN"]
    wafv2.associate_web_acl(WebACLArn=web_acl, ResourceArn=resource_arn)
    return str(web_acl)


def test_get_gateway_carries_every_member_of_the_output_shape(
    agentcore: Any, boto_session: boto3.session.Session
) -> None:
    settings = every_gateway_setting(boto_session)
    gateway = make_gateway(agentcore, "every-member", **settings)
    post_create = {
        "customTransformConfiguration": {"lambda": {"arn": LAMBDA}},
        "wafConfiguration": {"failureMode": "FAIL_CLOSE"},
    }
    agentcore.update_gateway(
        gatewayIdentifier=gateway["gatewayId"],
        name=gateway["name"],
        roleArn=ROLE,
        protocolType="MCP",
        **settings,
        **post_create,
    )
    web_acl = associate_web_acl(boto_session, gateway["gatewayArn"])
    record = poll(lambda: agentcore.get_gateway(gatewayIdentifier=gateway["gatewayId"]), "READY")
    record.pop("ResponseMetadata")

    assert set(record) == output_members("GetGateway")
    assert {k: record[k] for k in settings} == settings
    assert {k: record[k] for k in post_create} == post_create
    assert record["webAclArn"] == web_acl
    assert record["statusReasons"] == []
    assert record["workloadIdentityDetails"]["workloadIdentityArn"].endswith(f"/{gateway['gatewayId']}")


def test_update_gateway_is_a_full_replace(agentcore: Any, boto_session: boto3.session.Session) -> None:
    settings = every_gateway_setting(boto_session)
    gateway = make_gateway(agentcore, "full-replace", **settings)
    kept = {k: v for k, v in settings.items() if k not in ("kmsKeyArn", "domainOverride", "exceptionLevel")}
    updated = agentcore.update_gateway(
        gatewayIdentifier=gateway["gatewayId"],
        name=gateway["name"],
        roleArn=ROLE,
        protocolType="MCP",
        **kept,
    )
    assert updated["status"] == "UPDATING"
    record = poll(lambda: agentcore.get_gateway(gatewayIdentifier=gateway["gatewayId"]), "READY")
    assert not {"kmsKeyArn", "domainOverride", "exceptionLevel"} & set(record)
    assert {k: record[k] for k in kept} == kept


def test_get_and_list_targets_carry_every_member_that_applies(agentcore: Any) -> None:
    gateway_id = make_gateway(agentcore, "every-target-member")["gatewayId"]
    server = make_target(
        agentcore,
        gateway_id,
        "Inventory",
        description="Inventory MCP server in a VPC",
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
    )
    lambda_target = make_target(agentcore, gateway_id)
    server.pop("ResponseMetadata")

    # authorizationData is only returned for OAuth targets awaiting consent, which the sandbox does not model.
    assert set(server) == output_members("GetGatewayTarget") - {"authorizationData"}
    assert server["protocolType"] == "MCP"
    managed = server["privateEndpointManagedResources"]
    assert [m["domain"] for m in managed] == ["inventory.internal.example.com"]
    assert re.fullmatch(
        r"arn:aws:vpc-lattice:us-east-1:\d{12}:resourcegateway/rgw-[0-9a-z]{17}", managed[0]["resourceGatewayArn"]
    )
    assert lambda_target["protocolType"] == "MCP"
    assert "lastSynchronizedAt" not in lambda_target  # only MCP server targets are synchronized

    summaries = {t["name"]: t for t in agentcore.list_gateway_targets(gatewayIdentifier=gateway_id)["items"]}
    assert set(summaries["Inventory"]) == shape_members("TargetSummary") - {"authorizationData"}
    assert (summaries["Inventory"]["targetType"], summaries["Inventory"]["listingMode"]) == ("MCP_SERVER", "DEFAULT")
    assert summaries["Inventory"]["resourcePriority"] == 1000
    assert summaries["WarrantyCheck"]["targetType"] == "LAMBDA"
    assert "listingMode" not in summaries["WarrantyCheck"]


def test_reserved_tag_keys_are_refused(agentcore: Any, behaviour: AgentCoreBehaviour) -> None:
    gateway = make_gateway(agentcore, "tagged-gateway")
    agentcore.tag_resource(resourceArn=gateway["gatewayArn"], tags={"team": "support"})
    with pytest.raises(ClientError) as refused:
        agentcore.tag_resource(resourceArn=gateway["gatewayArn"], tags={"aws:cloudformation:stack-name": "x"})
    assert error_code(refused) == "ValidationException"
    assert agentcore.list_tags_for_resource(resourceArn=gateway["gatewayArn"])["tags"] == {"team": "support"}
    assert behaviour.refusals[-1].startswith("TagResource tagged-gateway-")
