"""SecureRuntime: the runtime's authorizer and header allowlist, one full-replace update."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from rollout_core import desired
from rollout_core.errors import (
    AgentCoreBusy,
    AuthorizerConflict,
)
from rollout_core.planner import build_plan
from rollout_core.state import Config, RuntimePlan, SecureRuntimeEvent

from functions.secure_runtime import app
from tests.unit.helpers import (
    DISCOVERY_URL,
    RUNTIME_ARTIFACT,
    RUNTIME_ENV,
    RUNTIME_NETWORK,
    RUNTIME_ROLE,
    SCOPE,
    SECURE,
    Seeded,
    as_agentcore,
    assert_secured_with_settings_kept,
    client_error,
    runtime_record,
)


def test_secure_runtime_noop_when_not_required(client: Any, seeded: Seeded, backend: Any) -> None:
    version = backend.agent_runtimes[seeded.runtime_id].agent_runtime_version
    result = app.secure_runtime(client, cast(RuntimePlan, {"id": seeded.runtime_id, "updateRequired": False}))
    assert result == {"kind": "runtime", "id": seeded.runtime_id, "changed": False, "ready": True, "attempt": 0}
    assert backend.agent_runtimes[seeded.runtime_id].agent_runtime_version == version


def test_secure_runtime_full_replace_keeps_every_setting(client: Any, seeded: Seeded, config: Config) -> None:
    plan = build_plan(client, config)
    result = app.secure_runtime(client, plan["runtime"])
    assert result["changed"] is True
    assert result["ready"] is False
    assert result["status"] == "UPDATING"
    assert result["version"] == "2"  # from the UpdateAgentRuntime response: the version to wait for on DEFAULT

    assert_secured_with_settings_kept(runtime_record(client, seeded.runtime_id), RUNTIME_ENV)


def test_secure_runtime_without_description(client: Any) -> None:
    """A runtime created without a description (moto reports "") can still be secured."""
    runtime = client.create_agent_runtime(
        agentRuntimeName="Bare",
        agentRuntimeArtifact=copy.deepcopy(RUNTIME_ARTIFACT),
        roleArn=RUNTIME_ROLE,
        networkConfiguration=copy.deepcopy(RUNTIME_NETWORK),
    )
    record = runtime_record(client, runtime["agentRuntimeId"])
    plan = cast(  # the fields secure_runtime reads
        RuntimePlan,
        {
            "id": runtime["agentRuntimeId"],
            "updateRequired": True,
            "authorizerAfter": SECURE,
            "allowlistAfter": ["Authorization"],
        },
    )
    assert record["description"] == ""
    assert app.secure_runtime(client, plan)["changed"] is True
    assert runtime_record(client, runtime["agentRuntimeId"])["authorizerConfiguration"] == SECURE


def test_secure_runtime_never_sends_an_authorizer_to_a_runtime_that_has_one(
    client: Any, seeded: Seeded, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan was made, then someone put another authorizer on the runtime: refused before any request."""
    backend.agent_runtimes[seeded.runtime_id].authorizer_configuration = desired.jwt_authorizer(
        DISCOVERY_URL, "another-client", [SCOPE]
    )
    monkeypatch.setattr(client, "update_agent_runtime", lambda **kwargs: pytest.fail("an update was sent"))
    plan = cast(
        RuntimePlan, {"id": seeded.runtime_id, "updateRequired": True, "authorizerAfter": SECURE, "allowlistAfter": []}
    )
    with pytest.raises(AuthorizerConflict, match="allowedClients \\['another-client'\\]"):
        app.secure_runtime(client, plan)


def test_secure_runtime_maps_conflicts(seeded: Seeded, client: Any) -> None:
    class Busy:
        def get_agent_runtime(self, **kwargs: Any) -> Any:
            return client.get_agent_runtime(**kwargs)

        def update_agent_runtime(self, **kwargs: Any) -> Any:
            raise client_error("ConflictException", "runtime is UPDATING")

    plan = cast(
        RuntimePlan, {"id": seeded.runtime_id, "updateRequired": True, "authorizerAfter": SECURE, "allowlistAfter": []}
    )
    with pytest.raises(
        AgentCoreBusy, match=f"UpdateAgentRuntime {seeded.runtime_id} \\(re-assert\\): ConflictException"
    ):
        app.secure_runtime(as_agentcore(Busy()), plan)


def test_secure_runtime_reassert_reads_the_runtime_fresh(
    client: Any, config: Config, context: LambdaContext, backend: Any
) -> None:
    event: SecureRuntimeEvent = {
        "runtimeId": config["runtime"]["id"],
        "cognito": config["cognito"],
        "executionArn": "arn:execution",
    }
    # Unsecured runtime: the re-assert secures it.
    assert app.lambda_handler(event, context)["changed"] is True
    assert runtime_record(client, config["runtime"]["id"])["authorizerConfiguration"] == SECURE
    # Secured runtime: nothing to do, no update sent.
    backend.agent_runtimes[config["runtime"]["id"]].status = "READY"
    assert app.lambda_handler(event, context)["changed"] is False
