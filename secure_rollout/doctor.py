"""`secure-rollout doctor`: read what the auth doctor needs from the target - the runtime's live version and its
endpoints, the secured gateway - run its checks (rollout_core.doctor, shared with the smoke test) on a token
(from a file, or minted with the stored client credentials) or a SigV4 caller, and print the findings.

The token stays in this process's memory: it is never printed, and the findings hold no part of it.
"""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout_core import doctor as core

from secure_rollout import invoke
from secure_rollout.errors import CliError
from secure_rollout.target import Target

DEFAULT_GATEWAY_NAME = "my-gateway-secure"
MAX_PAGES = 100
MAX_TOKEN_FILE_BYTES = 65536


@dataclass(frozen=True)
class Subject:
    """What the caller talks to: the runtime as its endpoint serves it, the secured gateway (None: missing)."""

    runtime: Mapping[str, Any]
    gateway: Mapping[str, Any] | None
    gateway_name: str
    invocation: core.Invocation


def read_token_file(path: str) -> str:
    """The token in a file ('-': stdin), as pasted (a leading 'Bearer ' is fine). Errors never quote the content."""
    try:
        if path == "-":
            text = sys.stdin.read(MAX_TOKEN_FILE_BYTES)
        else:
            with Path(path).open(encoding="utf-8") as handle:
                text = handle.read(MAX_TOKEN_FILE_BYTES)
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"--token-file {path}: cannot read it ({type(exc).__name__})") from None
    token = core.bearer_value(text)
    if not token:
        raise CliError(f"--token-file {path} is empty", "put the access token (the JWT) in it, or use --mint")
    return token


def _pages(call: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = call(maxResults=100, **kwargs, **({"nextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("nextToken")
        if not token:
            break
    return items


def read_subject(target: Target, url: str | None) -> Subject:
    control = target.client("bedrock-agentcore-control")
    arn = invoke.runtime_arn(target)
    runtime_id = arn.rsplit("/", 1)[-1]
    runtime = control.get_agent_runtime(agentRuntimeId=runtime_id)
    endpoints = {
        str(e["name"]): e
        for e in _pages(control.list_agent_runtime_endpoints, "runtimeEndpoints", agentRuntimeId=runtime_id)
    }
    url = url or invoke.invocation_url(target, arn)
    qualifier = (urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("qualifier") or ["DEFAULT"])[0]
    if qualifier in endpoints:
        # The one the caller reaches, read in full: its liveVersion (what answers) comes from GetAgentRuntimeEndpoint.
        detail = control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName=qualifier)
        endpoints[qualifier] = {**endpoints[qualifier], **detail}
    live = (endpoints.get(qualifier) or {}).get("liveVersion")
    if live and live != runtime.get("agentRuntimeVersion"):
        # The endpoint serves an older (or newer) version than the latest: judge the caller by what answers it.
        runtime = control.get_agent_runtime(agentRuntimeId=runtime_id, agentRuntimeVersion=live)
    gateway_name = target.parameters.get("GatewayName") or DEFAULT_GATEWAY_NAME
    named = [g for g in _pages(control.list_gateways, "items") if g.get("name") == gateway_name]
    if len(named) > 1:
        raise CliError(f"{len(named)} gateways are named {gateway_name} in {target.region}; expected at most one")
    gateway = control.get_gateway(gatewayIdentifier=named[0]["gatewayId"]) if named else None
    data_plane = urllib.parse.urlsplit(target.data_plane_endpoint())
    invocation = core.Invocation(url, f"{data_plane.scheme}://{data_plane.netloc}", endpoints)
    return Subject(runtime, gateway, gateway_name, invocation)


def examine(target: Target, token: str | None, method: str, url: str | None) -> tuple[Subject, list[core.Finding]]:
    subject = read_subject(target, url)
    findings = core.diagnose(
        token, subject.runtime, subject.gateway, now=time.time(), method=method, invocation=subject.invocation
    )
    if subject.gateway is None:
        findings.append(core.missing_gateway(subject.gateway_name))
    return subject, findings


def caller_line(token: str | None, method: str) -> str:
    if method == core.SIGV4:
        return "caller: SigV4-signed (IAM credentials)"
    if not token:
        return "caller: no token"
    try:
        _, claims = core.decode_unverified(token)
    except core.TokenUnreadable:
        return "caller: a bearer value that is not a JWT"
    summary = core.scrubbed([core.Finding("caller", True, core.describe_token(claims, time.time()))], [token])
    return f"caller: {summary[0].detail}"


def outcomes(findings: list[core.Finding]) -> dict[str, int | None]:
    return {kind: core.outcome(findings, kind) for kind in (core.RUNTIME, core.GATEWAY)}


def report_lines(caller: str, subject: Subject, findings: list[core.Finding]) -> list[str]:
    runtime = subject.runtime.get("agentRuntimeName") or subject.runtime.get("agentRuntimeId")
    version = subject.runtime.get("agentRuntimeVersion")
    gateway = subject.gateway_name if subject.gateway is not None else f"{subject.gateway_name} (missing)"
    lines = [caller, f"checked against runtime {runtime} (version {version}) and gateway {gateway}"]
    width = max(len(f.check) for f in findings)
    for finding in findings:
        lines.append(f"{'OK' if finding.ok else 'FAIL':<4}  {finding.check:<{width}}  {finding.detail}")
        if not finding.ok:
            answer = f"{finding.status}" if finding.status else "no error status"
            lines.append(f"{'':<4}  {'':<{width}}  -> {answer}: {finding.cause}")
            lines.append(f"{'':<4}  {'':<{width}}  fix: {finding.fix}")
    failed = sum(not f.ok for f in findings)
    verdicts = []
    for kind, status in outcomes(findings).items():
        verdicts.append(f"the {kind} would answer {status}" if status else f"the {kind} would let the call in")
    lines.append(f"result: {failed} of {len(findings)} checks failed; {'; '.join(verdicts)}")
    return lines


def report_json(caller: str, subject: Subject, findings: list[core.Finding], method: str) -> dict[str, Any]:
    return {
        "caller": caller.removeprefix("caller: "),
        "method": method,
        "runtime": {
            "name": subject.runtime.get("agentRuntimeName"),
            "arn": subject.runtime.get("agentRuntimeArn"),
            "version": subject.runtime.get("agentRuntimeVersion"),
        },
        "gateway": {"name": subject.gateway_name, "id": (subject.gateway or {}).get("gatewayId")},
        "invocationUrl": core.shown_url(subject.invocation.url),
        "findings": [f.to_dict() for f in findings],
        "outcome": outcomes(findings),
        "ok": all(f.ok for f in findings),
    }
