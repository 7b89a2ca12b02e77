"""Two end users of one app client on one session id never share a conversation (through the real runtime)."""

from __future__ import annotations

import json
import uuid

import httpx

from sandbox.core import Sandbox
from sandbox.runtime_dataplane import SESSION_HEADER
from tests.security.helpers import record

CATEGORY = "end-users"


def ask(sandbox: Sandbox, token: str, session_id: str, prompt: str) -> tuple[int, str]:
    response = httpx.post(
        sandbox.runtime_plane.invocation_url(sandbox.seeded.runtime_arn),
        json={"prompt": prompt},
        headers={"Authorization": f"Bearer {token}", SESSION_HEADER: session_id, "Accept": "text/event-stream"},
        timeout=60,
    )
    texts = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            value = json.loads(line[6:])
            if isinstance(value, str):
                texts.append(value)
    return response.status_code, "".join(texts)


def test_two_users_of_one_client_on_one_session_do_not_see_each_other(secured: Sandbox) -> None:
    sandbox = secured
    client_id = sandbox.seeded.client_id
    alice = sandbox.cognito.mint_token(client_id, sub=str(uuid.uuid4()), username="alice")
    bob = sandbox.cognito.mint_token(client_id, sub=str(uuid.uuid4()), username="bob")
    machine = sandbox.cognito.mint_token(client_id)  # the M2M token of the same client (sub == client_id)
    session = f"shared-session-{uuid.uuid4().hex}"

    status, _ = ask(sandbox, alice, session, "Tell me about PROD-002, my order ref ALICE-PRIVATE-7731")
    assert status == 200
    _, alice_recall = ask(sandbox, alice, session, "What did I ask before?")
    _, bob_recall = ask(sandbox, bob, session, "What did I ask before?")
    _, machine_recall = ask(sandbox, machine, session, "What did I ask before?")

    observed = {
        "alice recalls her own question": "ALICE-PRIVATE-7731" in alice_recall,
        "bob sees alice's text": "ALICE-PRIVATE-7731" in bob_recall,
        "the client's M2M caller sees alice's text": "ALICE-PRIVATE-7731" in machine_recall,
    }
    expected = {
        "alice recalls her own question": True,
        "bob sees alice's text": False,
        "the client's M2M caller sees alice's text": False,
    }
    for case, value in observed.items():
        record(CATEGORY, f"same client, same session: {case}", str(expected[case]), str(value), value == expected[case])
    assert observed == expected
