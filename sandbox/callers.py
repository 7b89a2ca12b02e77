"""Calling the sandbox's runtime like an OAuth caller (the workflow tests, the availability probe, the benchmarks)."""

from __future__ import annotations

import urllib.parse

import httpx
from rollout_core import answer_stream
from rollout_core.answer_stream import StreamContent

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
    content_type = response.headers.get("Content-Type", "")
    # A refusal's body (401/403/404 JSON) is not an answer.
    content = answer_stream.parse(response.content, content_type) if response.is_success else StreamContent()
    return response.status_code, content.answer, content.tools_used
