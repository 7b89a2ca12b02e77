"""ProvisionGateway: the new CUSTOM_JWT gateway, created once, then the old one's settings carried."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import agentcore, desired
from rollout_core.errors import (
    GatewayCreateFailed,
    InvalidExecutionInput,
)
from rollout_core.planner import build_plan
from rollout_core.state import Config, GatewayPlan, ProvisionGatewayEvent

from functions.provision_gateway import app
from tests.unit.helpers import (
    CLIENT_ID,
    DISCOVERY_URL,
    SCOPE,
    SECURE,
    Seeded,
    as_agentcore,
    client_error,
    create_gateway_with_targets,
    present,
    run_load_config,
)


def test_provision_gateway_creates_once(client: Any, config: Config, backend: Any) -> None:
    plan = build_plan(client, config)
    first = app.provision_gateway(client, plan["gateway"], "execution-1")
    second = app.provision_gateway(client, plan["gateway"], "execution-1")
    assert first["id"] == second["id"]
    assert [g.name for g in backend.gateways.values()].count("my-gateway-secure") == 1
    assert first["kind"] == "gateway"
    assert first["changed"] is True
    assert first["ready"] is False  # the state machine polls it
    assert first["url"].endswith("/mcp")
    created = agentcore.get_gateway(client, first["id"])
    assert created["authorizerType"] == "CUSTOM_JWT"
    assert created["authorizerConfiguration"] == SECURE
    assert created["roleArn"] == present(plan["gateway"]["createRequest"])["roleArn"]


class WithoutCreateUrl:
    """The moto client, answering CreateGateway/UpdateGateway without gatewayUrl (optional in the model, as AWS)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gets: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name == "get_gateway":

            def recorded(**kwargs: Any) -> Any:
                self.gets.append(kwargs["gatewayIdentifier"])
                return method(**kwargs)

            return recorded
        if name not in ("create_gateway", "update_gateway"):
            return method

        def without_url(**kwargs: Any) -> Any:
            return {k: v for k, v in method(**kwargs).items() if k != "gatewayUrl"}

        return without_url


def test_provision_gateway_reads_the_url_from_get_gateway(client: Any, config: Config) -> None:
    plan = build_plan(client, config)
    answers = WithoutCreateUrl(client)
    created = app.provision_gateway(as_agentcore(answers), plan["gateway"], "execution-1")
    assert answers.gets == [created["id"]]
    assert created["url"] == desired.normalize_gateway_url(
        client.get_gateway(gatewayIdentifier=created["id"])["gatewayUrl"]
    )
    assert created["status"] == "CREATING"  # the create answer's status, not a later read's
    assert created["ready"] is False


def test_client_token_is_deterministic_and_valid() -> None:
    token = app.client_token("arn:exec:1", "my-gateway-secure")
    assert token == app.client_token("arn:exec:1", "my-gateway-secure")
    assert token != app.client_token("arn:exec:2", "my-gateway-secure")
    assert 33 <= len(token) <= 256
    assert token.isalnum()


def test_provision_gateway_existing_jwt_gateway(client: Any, seeded: Seeded) -> None:
    other = desired.jwt_authorizer(DISCOVERY_URL.replace("AbCdEf123", "Old0000"), CLIENT_ID, [SCOPE])
    existing = create_gateway_with_targets(client, "my-gateway-secure", other)
    plan = build_plan(client, run_load_config(client))
    result = app.provision_gateway(as_agentcore(WithoutCreateUrl(client)), plan["gateway"], "execution-1")
    assert result["id"] == existing["gatewayId"]
    assert result["url"] == desired.normalize_gateway_url(existing["gatewayUrl"])
    assert result["changed"] is True
    assert agentcore.get_gateway(client, existing["gatewayId"])["authorizerConfiguration"] == SECURE
    # Already correct: nothing to do.
    no_change: GatewayPlan = {**plan["gateway"], "updateAuthorizer": False}
    unchanged = app.provision_gateway(client, no_change, "execution-2")
    assert unchanged["changed"] is False


def test_provision_gateway_refused() -> None:
    class Refusing:
        def list_gateways(self, **kwargs: Any) -> Any:
            return {"items": []}

        def create_gateway(self, **kwargs: Any) -> Any:
            raise client_error("ValidationException", "roleArn is invalid", "CreateGateway")

    plan = cast(GatewayPlan, {"create": True, "createRequest": {"name": "my-gateway-secure"}})  # what create reads
    with pytest.raises(GatewayCreateFailed, match="CreateGateway my-gateway-secure: ValidationException"):
        app.provision_gateway(as_agentcore(Refusing()), plan, "execution-1")


def test_provision_gateway_handler(client: Any, config: Config, context: LambdaContext) -> None:
    plan = build_plan(client, config)
    result = app.lambda_handler({"plan": plan, "executionArn": "arn:exec"}, context)
    assert agentcore.get_gateway(client, result["id"])["name"] == "my-gateway-secure"
    assert result["settingsPending"] is False  # the tutorial's gateway has nothing CreateGateway cannot take
    carried = app.lambda_handler(
        {"plan": plan, "gateway": result, "step": "carry", "executionArn": "arn:exec"}, context
    )
    assert (carried["id"], carried["changed"]) == (result["id"], False)
    with pytest.raises(InvalidExecutionInput, match="provision_gateway got step 'create'"):
        app.lambda_handler(
            cast(ProvisionGatewayEvent, {"plan": plan, "step": "create", "executionArn": "arn:exec"}), context
        )


class Carrying:
    """The moto client, recording TagResource/UpdateGateway requests; GetGateway also answers `shown` (settings plain
    moto does not store, as AWS would once UpdateGateway has set them)."""

    def __init__(self, inner: Any, shown: dict[str, Any] | None = None) -> None:
        self.inner, self.shown = inner, shown or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name == "get_gateway":
            return lambda **kwargs: {**method(**kwargs), **self.shown}
        if name not in ("tag_resource", "update_gateway"):
            return method

        def recorded(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return method(**kwargs)

        return recorded


def test_carry_settings_tags_and_updates_the_new_gateway_once(client: Any, config: Config, backend: Any) -> None:
    plan = build_plan(client, config)
    waf = {"wafConfiguration": {"failureMode": "FAIL_CLOSE"}}
    gateway_plan: GatewayPlan = {**plan["gateway"], "afterCreate": {"update": waf, "tags": {"team": "support"}}}
    created = app.provision_gateway(client, gateway_plan, "execution-1")
    assert created["settingsPending"] is True  # the state machine runs step "carry" once it is READY
    backend.gateways[created["id"]].status = "READY"

    aws = Carrying(client)
    carried = app.carry_settings(as_agentcore(aws), created, gateway_plan)
    (tag, tags), (update, request) = aws.calls
    arn = client.get_gateway(gatewayIdentifier=created["id"])["gatewayArn"]
    assert (tag, tags) == ("tag_resource", {"resourceArn": arn, "tags": {"team": "support"}})
    assert update == "update_gateway"
    assert request["wafConfiguration"] == {"failureMode": "FAIL_CLOSE"}
    assert request["authorizerType"] == "CUSTOM_JWT"
    assert request["authorizerConfiguration"] == SECURE  # sent back unchanged: a full replace
    assert request["roleArn"] == present(plan["gateway"]["createRequest"])["roleArn"]
    assert (carried["changed"], carried["ready"], carried["settingsPending"]) == (True, False, False)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "support"}

    # A retry finds the settings in place: no second UpdateGateway (tags are idempotent).
    backend.gateways[created["id"]].status = "READY"
    again = Carrying(client, shown=waf)
    retried = app.carry_settings(as_agentcore(again), created, gateway_plan)
    assert [name for name, _ in again.calls] == ["tag_resource"]
    assert (retried["changed"], retried["ready"]) == (False, True)
