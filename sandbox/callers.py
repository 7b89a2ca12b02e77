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
    text, tools = "", []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            event: Any = json.loads(line[6:])
            if isinstance(event, str):
                text += event
            elif isinstance(event, dict) and "metadata" in event:
                tools = event["metadata"]["toolsUsed"]
    return response.status_code, text, tools
