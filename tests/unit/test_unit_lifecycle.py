"""rollout_core.lifecycle: one poll's verdict (settle, version_live) and the failures a status means."""

from __future__ import annotations

from typing import Any

import pytest
from rollout_core import lifecycle
from rollout_core.errors import (
    GatewayCreateFailed,
    GatewayDeleteFailed,
    GatewayTargetFailed,
    ResourceWaitTimeout,
    RolloutError,
    RuntimeUpdateFailed,
)
from rollout_core.state import RestoreRuntimeHandle


def _never() -> RolloutError:
    raise AssertionError("failure factory must not be called")


def test_settle_ready_is_done() -> None:
    assert lifecycle.settle("READY", lifecycle.RUNTIME_PENDING, _never, 0, 1, "runtime rt") is True


@pytest.mark.parametrize("status", sorted(lifecycle.RUNTIME_PENDING))
def test_settle_pending_polls_again_within_budget(status: str) -> None:
    assert lifecycle.settle(status, lifecycle.RUNTIME_PENDING, _never, 3, 5, "runtime rt") is False


def test_settle_pending_at_budget_times_out() -> None:
    with pytest.raises(ResourceWaitTimeout, match=r"runtime rt still UPDATING after 5 polls \(maxPolls=5\)"):
        lifecycle.settle("UPDATING", lifecycle.RUNTIME_PENDING, _never, 4, 5, "runtime rt")
    with pytest.raises(ResourceWaitTimeout, match="after 1 polls"):
        lifecycle.settle("CREATING", lifecycle.GATEWAY_PENDING, _never, 0, 1, "gateway g")


def test_settle_failed_status_raises_the_failure_with_reasons() -> None:
    record = {"agentRuntimeName": "CustomerSupport", "status": "UPDATE_FAILED", "failureReason": "image pull failed"}
    with pytest.raises(RuntimeUpdateFailed, match="runtime CustomerSupport is UPDATE_FAILED: image pull failed"):
        lifecycle.settle(
            "UPDATE_FAILED", lifecycle.RUNTIME_PENDING, lambda: lifecycle.runtime_failure(record), 0, 5, "rt"
        )


def test_settle_unknown_status_without_failure_times_out() -> None:
    with pytest.raises(ResourceWaitTimeout, match="gateway g is in unexpected status WEIRD"):
        lifecycle.settle("WEIRD", lifecycle.GATEWAY_PENDING, None, 0, 5, "gateway g")


def _endpoint(status: str, live: str | None, target: str | None, **extra: Any) -> dict[str, Any]:
    record = {"status": status, "liveVersion": live, "targetVersion": target, **extra}
    return {k: v for k, v in record.items() if v is not None}


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(_endpoint("READY", "1", "1"), id="not-moved-yet"),
        pytest.param(_endpoint("UPDATING", "1", "2"), id="moving"),
        pytest.param(_endpoint("UPDATING", "2", "2"), id="live-but-not-ready"),
        pytest.param(_endpoint("CREATING", None, "1"), id="no-live-version"),
    ],
)
def test_version_live_polls_again_until_default_serves_the_version(endpoint: dict[str, Any]) -> None:
    assert lifecycle.version_live(endpoint, "2", 0, 5, "runtime rt") is False


def test_version_live_when_default_serves_it() -> None:
    assert lifecycle.version_live(_endpoint("READY", "2", "2"), "2", 4, 5, "runtime rt") is True


def test_version_live_failed_endpoint_is_a_runtime_update_failure_with_the_reason() -> None:
    failed = _endpoint("UPDATE_FAILED", "1", "2", failureReason="health check failed")
    with pytest.raises(RuntimeUpdateFailed) as error:
        lifecycle.version_live(failed, "2", 0, 5, "runtime rt")
    assert str(error.value) == (
        "runtime rt: DEFAULT endpoint is UPDATE_FAILED (live version 1, target 2); version 2 did not go live: "
        "health check failed"
    )


@pytest.mark.parametrize(
    "endpoint", [_endpoint("UPDATING", "2", "3"), _endpoint("READY", "3", "3")], ids=["moving-on", "moved-on"]
)
def test_version_live_superseded_version_fails_instead_of_waiting(endpoint: dict[str, Any]) -> None:
    with pytest.raises(RuntimeUpdateFailed, match="moved past version 2, which this rollout created"):
        lifecycle.version_live(endpoint, "2", 0, 5, "runtime rt")


def test_version_live_times_out_on_the_poll_budget() -> None:
    with pytest.raises(ResourceWaitTimeout, match=r"version 2 still not live after 5 polls \(maxPolls=5\)"):
        lifecycle.version_live(_endpoint("UPDATING", "1", "2"), "2", 4, 5, "runtime rt")


def test_failure_messages() -> None:
    gateway = lifecycle.gateway_failure({"name": "gw", "status": "FAILED", "statusReasons": ["role invalid", "kms"]})
    assert isinstance(gateway, GatewayCreateFailed)
    assert str(gateway) == "gateway gw is FAILED: role invalid; kms"
    assert str(lifecycle.runtime_failure({"agentRuntimeId": "rt-1", "status": "CREATE_FAILED"})) == (
        "runtime rt-1 is CREATE_FAILED: no reason given by the service"
    )
    pending = lifecycle.target_failure({"name": "T", "status": "CREATE_PENDING_AUTH", "statusReasons": []})
    assert isinstance(pending, GatewayTargetFailed)
    assert "OAuth consent" in str(pending)
    deleted = lifecycle.gateway_delete_failure({"name": "gw", "status": "READY"})
    assert isinstance(deleted, GatewayDeleteFailed)
    assert "asked to delete but is READY" in str(deleted)


def test_runtime_update_sent_turns_a_handle_into_one_polled_until_its_version_is_created() -> None:
    handle: RestoreRuntimeHandle = {
        "kind": "runtime",
        "id": "rt-1",
        "changed": False,
        "ready": True,
        "attempt": 0,
        "restoredVersion": "3",
        "authorizerKept": True,
    }
    sent = lifecycle.runtime_update_sent(handle, {"status": "UPDATING", "agentRuntimeVersion": "7", "other": "x"})
    assert sent == {**handle, "changed": True, "ready": False, "status": "UPDATING", "version": "7"}
    assert handle["ready"] is True  # the handle given is not changed
