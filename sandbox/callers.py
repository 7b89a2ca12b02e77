"""Calling the sandbox's runtime like an OAuth caller (the workflow tests, the availability probe, the benchmarks)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import httpx

from sandbox.core import Sandbox


def ask(sandbox: Sandbox, prompt: str, session_id: str, token: str | None) -> tuple[int, str, list[str]]:
    """Invoke the runtime like an OAuth caller; returns status, answer text and the tools the agent reported."""
    arn = urllib.parse.quote(sandbox.seeded.runtime_arn, safe="")
    headers = {"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session_id, "Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(
        f"{sandbox.runtime_plane.base_url}/runtimes/{arn}/invocations?qualifier=DEFAULT",
        json={"prompt": prompt},
        headers=headers,
        timeout=60,
    )
    text, tools = "", []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            event: Any = json.loads(line[6:])
            if isinstance(event, str):
                text += event
            elif isinstance(event, dict) and "metadata" in event:
                tools = event["metadata"]["toolsUsed"]
    return response.status_code, text, tools


def redeploy_without_authorizer(sandbox: Sandbox, session_name: str = "agentcore-deploy") -> dict[str, Any]:
    """What a redeploy by another tool (`agentcore deploy` from a config without auth, a console edit) does: one
    full-replace UpdateAgentRuntime, made by the sandbox's DeveloperRole, that re-sends the code, role, network,
    protocol and environment and leaves out the authorizer and the header allowlist - so AgentCore clears the
    allowlist, and the authorizer too where an omitted authorizer is cleared (Faults.omitted_authorizer_clears: AWS's
    semantics are unconfirmed)."""
    control = sandbox.developer_client("bedrock-agentcore-control", session_name)
    runtime = control.get_agent_runtime(agentRuntimeId=sandbox.seeded.runtime_id)
    kept = ("networkConfiguration", "protocolConfiguration", "lifecycleConfiguration", "environmentVariables")
    request = {key: runtime[key] for key in kept if runtime.get(key)}
    response: dict[str, Any] = control.update_agent_runtime(
        agentRuntimeId=runtime["agentRuntimeId"],
        agentRuntimeArtifact=runtime["agentRuntimeArtifact"],
        roleArn=runtime["roleArn"],
        **request,
    )
    return response
