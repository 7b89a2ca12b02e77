"""rollout_core.agentcore: the one mapping of botocore errors to named errors (writes and reads), and the lookups."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ParamValidationError, ReadTimeoutError
from rollout_core import agentcore
from rollout_core.errors import (
    AgentCoreBusy,
    AgentCoreReadFailed,
    AgentCoreThrottled,
    AmbiguousResourceName,
    GatewayCreateFailed,
    GatewayDeleteFailed,
    GatewayTargetFailed,
    RolloutError,
    RuntimeUpdateFailed,
)

from tests.unit.helpers import as_agentcore, client_error

# --- control_plane_errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", AgentCoreThrottled),
        ("InternalServerException", AgentCoreThrottled),
        ("ServiceUnavailableException", AgentCoreThrottled),
        ("TooManyRequests", AgentCoreThrottled),
        ("ConflictException", AgentCoreBusy),
        ("ValidationException", GatewayCreateFailed),
        ("AccessDeniedException", GatewayCreateFailed),
        ("ResourceNotFoundException", GatewayCreateFailed),
        ("ServiceQuotaExceededException", GatewayCreateFailed),
    ],
)
def test_control_plane_errors_maps_client_errors(code: str, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught, agentcore.control_plane_errors(GatewayCreateFailed, "CreateGateway gw"):
        raise client_error(code, "the service said no")
    assert type(caught.value) is expected
    assert str(caught.value) == f"CreateGateway gw: {code}: the service said no"
    assert caught.value.__suppress_context__  # raised `from None`: no botocore traceback in the Lambda error


@pytest.mark.parametrize("failure", [RuntimeUpdateFailed, GatewayTargetFailed, GatewayDeleteFailed])
def test_control_plane_errors_uses_the_given_failure_class(failure: type[RolloutError]) -> None:
    with pytest.raises(failure, match="op: ValidationException"), agentcore.control_plane_errors(failure, "op"):
        raise client_error("ValidationException")


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://bedrock-agentcore-control.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://bedrock-agentcore-control.us-east-1.amazonaws.com"),
    ],
)
def test_connection_problems_are_transient(exc: Exception) -> None:
    with (
        pytest.raises(AgentCoreThrottled, match=type(exc).__name__),
        agentcore.control_plane_errors(RuntimeUpdateFailed, "GetAgentRuntime rt"),
    ):
        raise exc


def test_client_side_validation_is_not_transient_and_hides_values() -> None:
    exc = ParamValidationError(report="Invalid type for parameter environmentVariables.TOKEN, value: s3cr3t-value")
    with pytest.raises(RuntimeUpdateFailed) as caught, agentcore.control_plane_errors(RuntimeUpdateFailed, "Update rt"):
        raise exc
    assert "parameter validation" in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)


def test_control_plane_errors_passes_success_and_other_exceptions_through() -> None:
    with agentcore.control_plane_errors(RuntimeUpdateFailed, "op"):
        value = 42
    assert value == 42
    with pytest.raises(KeyError), agentcore.control_plane_errors(RuntimeUpdateFailed, "op"):
        raise KeyError("not botocore")


# --- lookups (pagination, ambiguity) ----------------------------------------------------------------------------


class PagedClient:
    """Returns list pages keyed by nextToken, recording every call."""

    def __init__(self, key: str, pages: list[list[dict[str, Any]]]) -> None:
        self.key, self.pages = key, pages
        self.calls: list[dict[str, Any]] = []

    def _list(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        index = int(kwargs.get("nextToken", "0"))
        page: dict[str, Any] = {self.key: self.pages[index]}
        if index + 1 < len(self.pages):
            page["nextToken"] = str(index + 1)
        return page

    list_agent_runtimes = _list
    list_gateways = _list


def test_find_runtime_follows_pages() -> None:
    pages = [
        [{"agentRuntimeName": "A", "agentRuntimeId": "A-1"}],
        [{"agentRuntimeName": "CustomerSupport", "agentRuntimeId": "CustomerSupport-1"}],
    ]
    fake = PagedClient("agentRuntimes", pages)
    assert agentcore.find_runtime(as_agentcore(fake), "CustomerSupport") == pages[1][0]
    assert fake.calls == [{}, {"nextToken": "1"}]
    assert agentcore.find_runtime(as_agentcore(PagedClient("agentRuntimes", pages)), "Missing") is None


def test_find_gateway_rejects_ambiguous_names_across_pages() -> None:
    pages = [[{"name": "my-gateway", "gatewayId": "g-1"}], [{"name": "my-gateway", "gatewayId": "g-2"}]]
    with pytest.raises(AmbiguousResourceName, match=r"'my-gateway' matches 2 gateways \(g-1, g-2\)"):
        agentcore.find_gateway(as_agentcore(PagedClient("items", pages)), "my-gateway")


class Refusing:
    """Every read answers with one AWS error code (a stubbed client: each call names itself)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def _refuse(self, operation: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            raise client_error(self.code, f"{operation} said no", operation)

        return call

    def __getattr__(self, name: str) -> Any:
        return self._refuse("".join(part.title() for part in name.split("_")))


READS = [
    pytest.param(
        lambda c: agentcore.find_runtime(c, "CustomerSupport"),
        "ListAgentRuntimes (runtime 'CustomerSupport')",
        id="find_runtime",
    ),
    pytest.param(
        lambda c: agentcore.find_gateway(c, "my-gateway"), "ListGateways (gateway 'my-gateway')", id="find_gateway"
    ),
    pytest.param(
        lambda c: agentcore.get_runtime(c, "rt-1"), "GetAgentRuntime (runtime rt-1 version latest)", id="get_runtime"
    ),
    pytest.param(
        lambda c: agentcore.get_runtime(c, "rt-1", "3"),
        "GetAgentRuntime (runtime rt-1 version 3)",
        id="get_runtime_version",
    ),
    pytest.param(
        lambda c: agentcore.get_default_endpoint(c, "rt-1"),
        "GetAgentRuntimeEndpoint (runtime rt-1 endpoint DEFAULT)",
        id="get_default_endpoint",
    ),
    pytest.param(lambda c: agentcore.get_gateway(c, "gw-1"), "GetGateway (gateway gw-1)", id="get_gateway"),
    pytest.param(
        lambda c: agentcore.get_gateway_or_none(c, "gw-1"), "GetGateway (gateway gw-1)", id="get_gateway_or_none"
    ),
    pytest.param(lambda c: agentcore.list_targets(c, "gw-1"), "ListGatewayTargets (gateway gw-1)", id="list_targets"),
    pytest.param(lambda c: agentcore.gateway_tags(c, "arn:gw-1"), "ListTagsForResource (arn:gw-1)", id="gateway_tags"),
]


@pytest.mark.parametrize(("read", "names"), READS)
@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException", "UnrecognizedClientException"])
def test_a_refused_read_is_a_read_failure_naming_the_call_the_resource_and_the_code(
    read: Any, names: str, code: str
) -> None:
    with pytest.raises(AgentCoreReadFailed) as caught:
        read(Refusing(code))
    assert str(caught.value).startswith(f"{names}: {code}: ")
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(("read", "names"), READS)
@pytest.mark.parametrize(
    ("code", "transient"), [("ThrottlingException", AgentCoreThrottled), ("ConflictException", AgentCoreBusy)]
)
def test_a_throttled_or_busy_read_stays_transient(read: Any, names: str, code: str, transient: type[Exception]) -> None:
    with pytest.raises(transient, match=f"^{re.escape(names)}: {code}: "):
        read(Refusing(code))


def test_a_target_read_names_the_target() -> None:
    class OneTarget:
        def list_gateway_targets(self, **kwargs: Any) -> dict[str, Any]:
            return {"items": [{"targetId": "t-1", "name": "WarrantyCheck"}]}

        def get_gateway_target(self, **kwargs: Any) -> dict[str, Any]:
            raise client_error("AccessDeniedException", "no", "GetGatewayTarget")

    with pytest.raises(AgentCoreReadFailed, match=r"^GetGatewayTarget \(gateway gw-1 target t-1\): AccessDenied"):
        agentcore.list_targets(as_agentcore(OneTarget()), "gw-1")


def test_a_missing_gateway_is_none_and_a_target_deleted_meanwhile_is_skipped() -> None:
    assert agentcore.get_gateway_or_none(as_agentcore(Refusing("ResourceNotFoundException")), "gw-1") is None

    class TargetGone:
        def list_gateway_targets(self, **kwargs: Any) -> dict[str, Any]:
            return {"items": [{"targetId": "t-1", "name": "Old", "status": "DELETING"}]}

        def get_gateway_target(self, **kwargs: Any) -> dict[str, Any]:
            raise client_error("ResourceNotFoundException", "gone", "GetGatewayTarget")

    assert agentcore.list_targets(as_agentcore(TargetGone()), "gw-1") == []
