"""Calling the sandbox's runtime like its callers do (the workflow tests, the availability probe, the benchmarks).

A runtime with a CUSTOM_JWT authorizer takes a bearer token; one without an authorizer takes SigV4 (IAM) calls only,
as on AWS - so a caller without a token signs, as a backend with bedrock-agentcore:InvokeAgentRuntime does (the
seeded caller role's session).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import httpx
from rollout_core import answer_stream
from rollout_core.answer_stream import StreamContent

from sandbox.core import Sandbox
from sandbox.runtime_dataplane import SESSION_HEADER, SIGNING_SERVICE
from sandbox.sigv4 import sign


def ask(
    sandbox: Sandbox, prompt: str, session_id: str, token: str | None, *, unsigned: bool = False
) -> tuple[int, str, list[str]]:
    """Invoke the runtime: with `token` as a bearer token, else SigV4-signed as the tutorial's IAM caller (`unsigned`:
    with no credentials at all). Returns status, answer text and the tools the agent reported."""
    arn = urllib.parse.quote(sandbox.seeded.runtime_arn, safe="")
    url = f"{sandbox.runtime_plane.base_url}/runtimes/{arn}/invocations?qualifier=DEFAULT"
    body = json.dumps({"prompt": prompt}).encode()
    headers = {SESSION_HEADER: session_id, "Accept": "text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif not unsigned:
        headers = sign("POST", url, headers, body, sandbox.caller_credentials(), sandbox.region, SIGNING_SERVICE)
    response = httpx.post(url, content=body, headers=headers, timeout=60)
    content_type = response.headers.get("Content-Type", "")
    # A refusal's body (401/403/404 JSON) is not an answer.
    content = answer_stream.parse(response.content, content_type) if response.is_success else StreamContent()
    return response.status_code, content.answer, content.tools_used


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
