"""AgentCore control-plane access: the client, the one mapping of botocore errors to the rollout's named errors, and
the reads (lookups by name, Get*/List* of runtimes, endpoints, gateways, targets and tags).

Every AgentCore call goes through `control_plane_errors` (a write names its own failure class) or `reading` (every
read fails as AgentCoreReadFailed): throttling and 5xx become AgentCoreThrottled, ConflictException AgentCoreBusy
(both retried by the state machine), anything else the named failure, with the call, the resource and AWS's error
code in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from rollout_core.errors import (
    AgentCoreBusy,
    AgentCoreReadFailed,
    AgentCoreThrottled,
    AmbiguousResourceName,
    RolloutError,
    RuntimeUpdateFailed,
)
from rollout_core.state import AwsRecord, AwsRequest, GatewayRef

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient

DEFAULT_ENDPOINT = "DEFAULT"  # the endpoint AgentCore moves to every new runtime version (and the smoke test calls)
TRANSIENT_CODES = {"ThrottlingException", "InternalServerException", "ServiceUnavailableException", "TooManyRequests"}

# botocore retries throttling itself first; the state machine's Retry (with jitter) is the second line.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)


def agentcore_control() -> BedrockAgentCoreControlClient:
    return boto3.client("bedrock-agentcore-control", config=_CLIENT_CONFIG)


@contextmanager
def control_plane_errors(failure: type[RolloutError], action: str) -> Iterator[None]:
    """Turn botocore errors into the named errors the state machine retries or catches."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message", "")
        if code in TRANSIENT_CODES:
            raise AgentCoreThrottled(f"{action}: {code}: {message}") from None
        if code == "ConflictException":
            raise AgentCoreBusy(f"{action}: {code}: {message}") from None
        raise failure(f"{action}: {code}: {message}") from None
    except ParamValidationError:
        # botocore rejected the request before sending it: not transient, retrying cannot help. The details are
        # withheld because botocore echoes parameter values (environment variables, descriptions are sensitive).
        raise failure(f"{action}: the request failed botocore parameter validation") from None
    except BotoCoreError as exc:
        raise AgentCoreThrottled(f"{action}: {type(exc).__name__}: {exc}") from None


@contextmanager
def reading(call: str, resource: str) -> Iterator[None]:
    """A Get*/List* call: a failure that is not transient is AgentCoreReadFailed, never the failure of a write."""
    with control_plane_errors(AgentCoreReadFailed, f"{call} ({resource})"):
        yield


def is_not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


# --- lookups --------------------------------------------------------------------------------------------------


def _paginate(call: Callable[..., Mapping[str, Any]], key: str, **kwargs: Any) -> Iterator[AwsRecord]:
    token: str | None = None
    for _ in range(1000):  # bounded: 1000 pages is far beyond any account's runtimes/gateways
        page = call(**kwargs, **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def _find_one(matches: list[AwsRecord], kind: str, name: str, id_key: str) -> AwsRecord | None:
    if len(matches) > 1:
        ids = ", ".join(m[id_key] for m in matches)
        raise AmbiguousResourceName(f"{kind} name {name!r} matches {len(matches)} {kind}s ({ids}); expected one")
    return matches[0] if matches else None


def find_runtime(client: BedrockAgentCoreControlClient, name: str) -> AwsRecord | None:
    with reading("ListAgentRuntimes", f"runtime {name!r}"):
        matches = [r for r in _paginate(client.list_agent_runtimes, "agentRuntimes") if r["agentRuntimeName"] == name]
    return _find_one(matches, "runtime", name, "agentRuntimeId")


def find_gateway(client: BedrockAgentCoreControlClient, name: str) -> AwsRecord | None:
    with reading("ListGateways", f"gateway {name!r}"):
        matches = [g for g in _paginate(client.list_gateways, "items") if g["name"] == name]
    return _find_one(matches, "gateway", name, "gatewayId")


def gateway_ref(summary: AwsRecord | None) -> GatewayRef | None:
    """How the state names a gateway found by name (config.oldGateway / config.newGateway)."""
    if summary is None:
        return None
    return {"id": summary["gatewayId"], "name": summary["name"], "status": summary.get("status")}


def get_runtime(client: BedrockAgentCoreControlClient, runtime_id: str, version: str | None = None) -> AwsRecord:
    """The runtime's latest record, or the record of one `version` (each version keeps its own configuration)."""
    which = {"agentRuntimeVersion": version} if version else {}
    with reading("GetAgentRuntime", f"runtime {runtime_id} version {version or 'latest'}"):
        return dict(client.get_agent_runtime(agentRuntimeId=runtime_id, **which))


def get_default_endpoint(client: BedrockAgentCoreControlClient, runtime_id: str) -> AwsRecord:
    with reading("GetAgentRuntimeEndpoint", f"runtime {runtime_id} endpoint {DEFAULT_ENDPOINT}"):
        return dict(client.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName=DEFAULT_ENDPOINT))


def get_gateway(client: BedrockAgentCoreControlClient, gateway_id: str) -> AwsRecord:
    with reading("GetGateway", f"gateway {gateway_id}"):
        return dict(client.get_gateway(gatewayIdentifier=gateway_id))


def get_gateway_or_none(client: BedrockAgentCoreControlClient, gateway_id: str) -> AwsRecord | None:
    with reading("GetGateway", f"gateway {gateway_id}"):
        try:
            return dict(client.get_gateway(gatewayIdentifier=gateway_id))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise


def list_targets(client: BedrockAgentCoreControlClient, gateway_id: str) -> list[AwsRecord]:
    """Full target definitions (GetGatewayTarget for each summary).

    Target deletion is asynchronous: a target listed as DELETING may be gone by the time it is read; it is skipped."""
    with reading("ListGatewayTargets", f"gateway {gateway_id}"):
        summaries = list(_paginate(client.list_gateway_targets, "items", gatewayIdentifier=gateway_id))
    targets: list[AwsRecord] = []
    for summary in summaries:
        with reading("GetGatewayTarget", f"gateway {gateway_id} target {summary['targetId']}"):
            try:
                targets.append(
                    dict(client.get_gateway_target(gatewayIdentifier=gateway_id, targetId=summary["targetId"]))
                )
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
    return targets


def gateway_tags(client: BedrockAgentCoreControlClient, gateway_arn: str) -> dict[str, str]:
    with reading("ListTagsForResource", gateway_arn):
        return dict(client.list_tags_for_resource(resourceArn=gateway_arn).get("tags") or {})


# --- the runtime update ----------------------------------------------------------------------------------------


def update_runtime(client: BedrockAgentCoreControlClient, request: AwsRequest, why: str) -> AwsRecord:
    """Send one full-replace UpdateAgentRuntime (desired.runtime_update_request); `why` names it in failures."""
    with control_plane_errors(RuntimeUpdateFailed, f"UpdateAgentRuntime {request['agentRuntimeId']} ({why})"):
        return dict(client.update_agent_runtime(**request))
