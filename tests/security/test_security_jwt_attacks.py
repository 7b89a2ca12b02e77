"""The JWT attack catalog against both sandbox data planes: every answer as expected, nothing reaches the agent,
nothing is written down. `pytest -s tests/security` shows the tables (attack names and status codes only)."""

from __future__ import annotations

import pytest

from sandbox.agent_host import AgentProcessPool
from sandbox.cognito import CognitoServer
from sandbox.gateway_dataplane import GatewayDataPlane
from sandbox.runtime_dataplane import RuntimeDataPlane
from tests.security.helpers import SCOPE, LogRecords, Secured, record_attacks
from tests.security.helpers.jwt_attacks import (
    ACCEPTED,
    GATEWAY,
    NO_TOKEN,
    REFUSED,
    RUNTIME,
    Attack,
    AttackResult,
    build_catalog,
    catalog_secrets,
    format_table,
    misses,
    print_table,
    run_against_gateway,
    run_against_runtime,
)

REQUIRED_ATTACKS = {
    "valid token (control)",
    "no token",
    "empty Bearer",
    "wrong scheme (Basic)",
    "alg none (signature kept)",
    "alg none, signature stripped",
    "HS256 keyed with the RSA public key PEM",
    "HS256 with a guessed secret",
    "RS256 by a foreign key, same kid",
    "unknown kid",
    "missing kid",
    "jku pointing to attacker JWKS",
    "x5u pointing to attacker certificate",
    "embedded jwk (attacker key)",
    "stripped signature",
    "truncated signature",
    "flipped signature byte",
    "payload swapped (genuine signature)",
    "wrong issuer",
    "other pool's issuer (same host)",
    "expired",
    "nbf in the future",
    "iat in the future",
    "missing exp",
    "wrong client_id",
    "missing client_id",
    "id token (token_use=id, with aud)",
    "token_use missing",
    "wrong scope",
    "no scope claim",
    "empty scope",
    "duplicate Authorization (genuine, forged)",
    "duplicate Authorization (forged, genuine)",
    "token in query string only (access_token)",
    "oversized token (>16 KB, real key)",
    "crit header (real key)",
    "garbage (not a JWT)",
    "2-segment token",
    "4-segment token",
    "non-JSON header",
    "Bearer with trailing junk",
}


@pytest.fixture(scope="module")
def catalog(secured_planes: Secured, cognito: CognitoServer) -> list[Attack]:
    return build_catalog(secured_planes.token, cognito, secured_planes.pool_id, secured_planes.client_id, SCOPE)


@pytest.fixture(scope="module")
def runtime_rows(catalog: list[Attack], secured_planes: Secured, runtime_plane: RuntimeDataPlane) -> list[AttackResult]:
    return run_against_runtime(catalog, runtime_plane.invocation_url(secured_planes.runtime_arn))


@pytest.fixture(scope="module")
def gateway_rows(catalog: list[Attack], secured_planes: Secured, gateway_plane: GatewayDataPlane) -> list[AttackResult]:
    return run_against_gateway(catalog, gateway_plane.mcp_url(secured_planes.gateway_id))


def test_catalog_covers_the_required_attacks(catalog: list[Attack], secured_planes: Secured) -> None:
    names = [attack.name for attack in catalog]

    assert len(names) >= 32
    assert len(set(names)) == len(names)
    assert set(names) >= REQUIRED_ATTACKS, sorted(REQUIRED_ATTACKS - set(names))
    by_name = {attack.name: attack for attack in catalog}
    assert by_name["valid token (control)"].expected == ACCEPTED
    assert [a.name for a in catalog if a.expected == ACCEPTED] == ["valid token (control)"]
    assert {a.expected for a in catalog} == {ACCEPTED, NO_TOKEN, REFUSED}
    # What a report or a failing assertion may show of an attack holds no credential.
    shown = [attack.name for attack in catalog if secured_planes.token in f"{attack!r} {attack.why}"]
    assert shown == []


def test_runtime_plane_answers_every_attack_as_expected(runtime_rows: list[AttackResult]) -> None:
    print_table(runtime_rows, title="JWT attacks on the runtime data plane (InvokeAgentRuntime)")
    record_attacks("jwt (data plane)", runtime_rows)

    assert {row.target for row in runtime_rows} == {RUNTIME}
    assert misses(runtime_rows) == []


def test_gateway_plane_answers_every_attack_as_expected(gateway_rows: list[AttackResult]) -> None:
    print_table(gateway_rows, title="JWT attacks on the gateway data plane (MCP initialize)")
    record_attacks("jwt (data plane)", gateway_rows)

    assert {row.target for row in gateway_rows} == {GATEWAY}
    assert misses(gateway_rows) == []


def test_every_answer_is_on_the_planes_record_and_refusals_carry_no_identity(
    runtime_rows: list[AttackResult],
    gateway_rows: list[AttackResult],
    runtime_plane: RuntimeDataPlane,
    gateway_plane: GatewayDataPlane,
    secured_planes: Secured,
) -> None:
    invocations = {record.request_id: record for record in runtime_plane.invocations}
    calls = {record.request_id: record for record in gateway_plane.calls}
    for row in runtime_rows:
        record = invocations[str(row.request_id)]
        assert (record.status, record.session_id) == (row.observed, row.session_id), row.attack
        if row.observed == 200:
            assert record.client_id == secured_planes.client_id
        else:
            assert (record.client_id, record.forwarded_headers, record.streamed_bytes) == (None, (), 0), row.attack
    for row in gateway_rows:
        call = calls[str(row.request_id)]
        assert (call.status, call.method) == (row.observed, "initialize"), row.attack
        assert call.client_id == (secured_planes.client_id if row.observed == 200 else None), row.attack
    # The ambiguous-credential refusals say why (3 attacks x 2 planes, and the comma-joined pair on both).
    reasons = {record.request_id: record.reason for record in runtime_plane.invocations}
    reasons.update({call.request_id: call.reason for call in gateway_plane.calls})
    duplicates = [reasons[str(r.request_id)] for r in [*runtime_rows, *gateway_rows] if "Authorization (" in r.attack]
    joined = [reasons[str(r.request_id)] for r in [*runtime_rows, *gateway_rows] if r.attack.startswith("comma-joined")]
    assert len(duplicates) == 6
    assert all("request carries 2 Authorization headers" in reason for reason in duplicates)
    assert len(joined) == 2
    assert all("joins more than one credential" in reason for reason in joined)


def test_no_refused_attack_reaches_the_agent(
    runtime_rows: list[AttackResult], agents: AgentProcessPool, secured_planes: Secured
) -> None:
    """The stand-in agent logs one line per request it gets, with the session id: only the control's is there."""
    agent_log = agents.logs(secured_planes.runtime_id)
    reached = [row for row in runtime_rows if row.session_id and row.session_id in agent_log]

    assert [row.attack for row in reached] == ["valid token (control)"]  # also proves the check can see a request
    assert agent_log.count("invocation session=") == 1


def test_no_token_is_written_down_or_printed(
    catalog: list[Attack],
    runtime_rows: list[AttackResult],
    gateway_rows: list[AttackResult],
    runtime_plane: RuntimeDataPlane,
    gateway_plane: GatewayDataPlane,
    agents: AgentProcessPool,
    server_logs: LogRecords,
    cognito: CognitoServer,
) -> None:
    secrets = catalog_secrets(catalog) | set(cognito.issued_tokens)
    assert server_logs.lines, "server logs were captured (the scan is not vacuous)"
    haystacks = {
        "server logs": server_logs.text,
        "agent logs": agents.logs(),
        "runtime records": repr(runtime_plane.invocations),
        "gateway records": repr(gateway_plane.calls),
        "tables": format_table(runtime_rows) + format_table(gateway_rows),
        "rows": repr(runtime_rows) + repr(gateway_rows),
        "attacks": repr(catalog),
    }
    for where, text in haystacks.items():
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, f"{len(leaked)} credential(s) found in {where}"  # never the secret itself
