"""`secure-rollout sandbox redeploy`: after a secured rollout, another tool's full-replace UpdateAgentRuntime (as the
sandbox's DeveloperRole) drops the authorizer; CloudTrail's event reaches the stack's rule, whose rollout repairs
it - and `status` names the principal and the call. One sandbox (`sandbox up`, trail on by default) for the module."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.helpers import CliSandbox


def _runtime(cli: CliSandbox) -> dict[str, Any]:
    control = cli.client("bedrock-agentcore-control")
    (summary,) = control.list_agent_runtimes()["agentRuntimes"]
    runtime: dict[str, Any] = control.get_agent_runtime(agentRuntimeId=summary["agentRuntimeId"])
    return runtime


def test_a_redeploy_without_the_authorizer_is_repaired_by_the_cloudtrail_triggered_rollout(cli: CliSandbox) -> None:
    applied = cli.run("apply", "--sandbox", "--json")
    assert applied.returncode == 0, applied.output
    first = json.loads(applied.stdout)["execution"]

    redeploy = cli.run("sandbox", "redeploy")
    assert redeploy.returncode == 0, redeploy.output
    lines = redeploy.lines()
    assert lines[0] == (
        "redeployed runtime CustomerSupport: UpdateAgentRuntime by "
        "arn:aws:iam::123456789012:role/DeveloperRole (session agentcore-deploy)"
    )
    assert lines[1] == "  authorizer now: none; Authorization allowlist: none"
    assert lines[2].startswith("CloudTrail -> the stack's rule started ")
    repair = lines[2].split()[-4]
    assert repair != first
    # Followed live, like `apply`: the drift check finds what was taken away and the rollout puts it back.
    assert f"{repair} started on stack agentcore-secure-rollout (the offline sandbox)" in lines
    assert any(line.strip().startswith("SUCCEEDED in") for line in lines), redeploy.output

    status = cli.run("status", "--sandbox")
    assert status.returncode == 0, status.output
    principal = "arn:aws:sts::123456789012:assumed-role/DeveloperRole/agentcore-deploy"
    assert f"execution   {repair}" in status.lines()
    assert "status      SUCCEEDED" in status.stdout
    assert f"trigger     out-of-band AgentCore change: UpdateAgentRuntime by {principal} at " in status.stdout
    summary = json.loads(cli.run("status", "--sandbox", "--json").stdout)
    assert (summary["execution"], summary["status"]) == (repair, "SUCCEEDED")
    assert (summary["trigger"]["call"], summary["trigger"]["by"]) == ("UpdateAgentRuntime", principal)
    drift = summary["report"]["drift"]["cause"]
    assert drift.startswith("runtime authorizer removed, runtime Authorization header allowlist removed by ")
    assert drift.endswith(f"{principal} via UpdateAgentRuntime")

    # Secured again (read from the control plane), and the repair's own writes started no further rollout.
    runtime = _runtime(cli)
    assert runtime["authorizerConfiguration"]["customJWTAuthorizer"]["allowedClients"]
    assert runtime["requestHeaderConfiguration"]["requestHeaderAllowlist"] == ["Authorization"]
    recent = json.loads(cli.run("status", "--sandbox", "--list", "--json").stdout)
    assert [item["name"] for item in recent][:2] == [repair, first]
    assert {item["status"] for item in recent} == {"SUCCEEDED"}
    anonymous = cli.run("invoke", "--sandbox", "--anonymous", "Hi")
    assert anonymous.returncode == 1
    assert "error: the runtime answered 401" in anonymous.stderr
