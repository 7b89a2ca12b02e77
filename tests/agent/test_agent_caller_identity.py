"""Caller identity (app client AND subject) and the one-Authorization-header rule, in units and over real HTTP."""

import asyncio
import base64
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
import main
import pytest
from bedrock_agentcore.runtime import RequestContext
from identity.caller import (
    ANONYMOUS,
    ANONYMOUS_ACTOR_ID,
    Caller,
    RequestRefused,
    authenticate,
    authorization_values,
    caller_from_token,
)
from moto import mock_aws
from starlette.requests import Request

from tests.agent.helpers import (
    AgentServer,
    FakeGateway,
    collect_invocation,
    encode_fake_jwt,
    make_fake_jwt,
    make_fake_user_jwt,
    new_session_id,
)

APP_CLIENT = "4lk2bq7hs0example0client0"
ALICE = "a1b2c3d4-0000-4000-8000-00000000a11c"
BOB = "b0b0b0b0-0000-4000-8000-000000000b0b"


def _actor_id_rule() -> tuple[re.Pattern[str], int, int]:
    shape = botocore.session.get_session().get_service_model("bedrock-agentcore").shape_for("ActorId")
    return re.compile(shape.metadata["pattern"]), shape.metadata["min"], shape.metadata["max"]


ACTOR_ID_PATTERN, ACTOR_ID_MIN, ACTOR_ID_MAX = _actor_id_rule()


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(claims: Any) -> str:
    return "h." + _segment(json.dumps(claims).encode()) + ".s"


def secrets_of(token: str) -> list[str]:
    """The token and the parts of it that must not be written anywhere."""
    return [token, *token.split(".")[1:]]


def assert_not_leaked(tokens: list[str], *haystacks: str) -> None:
    for token in tokens:
        for secret in secrets_of(token):
            for haystack in haystacks:
                assert secret not in haystack


# --- Claims -> caller ---


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        # Cognito user access token: app client in client_id, user in sub.
        pytest.param(
            _token({"client_id": "1abc2def", "sub": "user-1", "token_use": "access"}),
            Caller("1abc2def", "user-1"),
            id="user-access-token",
        ),
        # Cognito ID token: app client in aud.
        pytest.param(
            _token({"aud": "1abc2def", "sub": "user-1", "token_use": "id"}), Caller("1abc2def", "user-1"), id="id-token"
        ),
        pytest.param(_token({"aud": ["1abc2def"], "sub": "user-1"}), Caller("1abc2def", "user-1"), id="aud-list"),
        pytest.param(_token({"aud": ["one", "two"], "sub": "user-1"}), Caller(None, "user-1"), id="two-audiences"),
        # M2M client_credentials token: sub is the client.
        pytest.param(_token({"client_id": "m2m", "sub": "m2m"}), Caller("m2m", "m2m"), id="m2m"),
        pytest.param(_token({"sub": "user-42"}), Caller(None, "user-42"), id="sub-only"),
        pytest.param(_token({"client_id": "only-client"}), Caller("only-client", None), id="client-only"),
        pytest.param(_token({"client_id": 7, "sub": ["x"]}), None, id="not-strings"),
        pytest.param(_token({"client_id": "", "sub": ""}), None, id="empty-strings"),
        pytest.param(_token(["client_id"]), None, id="payload-not-object"),
        pytest.param("h." + _segment(b"\xff\xfe not json") + ".s", None, id="payload-not-json"),
        pytest.param("h.!!!.s", None, id="payload-not-base64"),
        pytest.param("not-a-jwt", None, id="not-a-jwt"),
        # Valid but oversized: rejected before decoding.
        pytest.param(_token({"client_id": "big", "pad": "x" * 20_000}), None, id="oversized"),
    ],
)
def test_caller_from_token_reads_client_and_subject_and_survives_garbage(token: str, expected: Caller | None) -> None:
    assert caller_from_token(token) == expected


def test_a_users_access_and_id_tokens_name_the_same_caller() -> None:
    access = caller_from_token(make_fake_user_jwt(APP_CLIENT, ALICE))
    id_token = caller_from_token(make_fake_user_jwt(APP_CLIENT, ALICE, token_use="id"))

    assert access == id_token == Caller(APP_CLIENT, ALICE)


# --- Caller -> actor id ---

# Pairs chosen to collide under naive schemes: joining with a separator, sanitising, stripping, truncating, quoting.
ADVERSARIAL_CALLERS = [
    Caller("a.b", "c"),
    Caller("a", "b.c"),
    Caller("a_b", "c"),
    Caller("a", "b_c"),
    Caller("a b", "c"),
    Caller("a-b", "c"),
    Caller("a", "b-c"),
    Caller("a/b", "c"),
    Caller("a:b", "c"),
    Caller("ab", "c"),
    Caller("a", "bc"),
    Caller("c1", "x"),
    Caller("c1", "_x"),
    Caller("c1", "-x"),
    Caller("c1", "x_"),
    Caller("c1", "x "),
    Caller("x", "x"),  # M2M
    Caller("x", None),
    Caller(None, "x"),
    Caller("", "x"),
    Caller("x", ""),
    Caller("c", "ü"),
    Caller("c", "é"),
    Caller("c", "ü" * 3),
    Caller("c", "u" * 300),
    Caller("c", "u" * 300 + "v"),
    Caller("c", "u" * 64),
    Caller("c" * 300, "u"),
    Caller('a", "b', "c"),
    Caller("a", 'b", "c'),
    Caller("a", "b\x00c"),
    Caller("anonymous", None),
    Caller(None, "anonymous"),
    Caller("c\nINFO forged log line", "u"),
    ANONYMOUS,
]


def test_distinct_callers_get_distinct_actor_ids_even_when_built_to_collide() -> None:
    actor_ids = [caller.actor_id for caller in ADVERSARIAL_CALLERS]

    assert len(set(ADVERSARIAL_CALLERS)) == len(ADVERSARIAL_CALLERS)
    assert len(set(actor_ids)) == len(actor_ids)
    # Stable: the same caller always gets the same id (memory written yesterday is found today).
    assert [Caller(c.client_id, c.subject).actor_id for c in ADVERSARIAL_CALLERS] == actor_ids


@pytest.mark.parametrize("caller", ADVERSARIAL_CALLERS, ids=range(len(ADVERSARIAL_CALLERS)))
def test_every_actor_id_meets_agentcore_memorys_actor_id_rule(caller: Caller) -> None:
    actor_id = caller.actor_id

    assert ACTOR_ID_PATTERN.fullmatch(actor_id), actor_id
    assert ACTOR_ID_MIN <= len(actor_id) <= ACTOR_ID_MAX
    # Log-safe as well: nothing but [A-Za-z0-9_-].
    assert re.fullmatch(r"[A-Za-z0-9_-]+", actor_id)


def test_actor_ids_stay_readable_for_operators() -> None:
    user = Caller(APP_CLIENT, ALICE).actor_id
    m2m = Caller("testclient123", "testclient123").actor_id

    assert re.fullmatch(rf"{APP_CLIENT}_{ALICE}-[0-9a-f]{{32}}", user)
    assert re.fullmatch(r"testclient123-[0-9a-f]{32}", m2m)
    assert Caller("a b\n<c>", "a b\n<c>").actor_id.startswith("a_b_c-")
    assert Caller("c", "ü").actor_id.startswith("c-")
    assert Caller("ü", "é").actor_id.startswith("caller-")
    assert ANONYMOUS.actor_id == ANONYMOUS_ACTOR_ID
    # No token-named caller can take the anonymous callers' id.
    assert Caller("anonymous", "anonymous").actor_id != ANONYMOUS_ACTOR_ID


# --- Authorization header -> caller, or refusal ---


def context_with(headers: dict[str, str] | None) -> RequestContext:
    return RequestContext(session_id="s", request_headers=headers, request=None)


def test_one_bearer_credential_names_its_caller_and_is_forwarded_as_sent() -> None:
    token = make_fake_user_jwt(APP_CLIENT, ALICE)

    assert authenticate(context_with({"Authorization": f"Bearer {token}"})) == (
        Caller(APP_CLIENT, ALICE),
        f"Bearer {token}",
    )
    # Scheme and header name in any case; optional whitespace around the value; 1+ spaces after the scheme.
    assert authenticate(context_with({"AUTHORIZATION": f" \tbearer  {token} "})) == (
        Caller(APP_CLIENT, ALICE),
        f"bearer  {token}",
    )


@pytest.mark.parametrize("headers", [None, {}, {"X-Other": "1"}])
def test_no_authorization_header_is_the_anonymous_caller(headers: dict[str, str] | None) -> None:
    assert authenticate(context_with(headers)) == (ANONYMOUS, None)


def _refusal_cases() -> list[Any]:
    token, other = make_fake_jwt(), make_fake_jwt("otherclient")
    basic = base64.b64encode(b"user:password").decode()
    return [
        pytest.param({"Authorization": f"Bearer {token}", "authorization": f"Bearer {other}"}, 400, id="two-headers"),
        pytest.param({"Authorization": f"Bearer {token}", "AUTHORIZATION": f"Bearer {token}"}, 400, id="same-twice"),
        pytest.param({"Authorization": f"Bearer {token}, Bearer {other}"}, 400, id="two-credentials"),
        pytest.param({"Authorization": f"Bearer {token},{other}"}, 400, id="comma-joined"),
        pytest.param({"Authorization": f"Bearer {token} {other}"}, 400, id="space-joined"),
        pytest.param({"Authorization": f"Basic {basic}"}, 400, id="basic"),
        pytest.param({"Authorization": token}, 400, id="no-scheme"),
        pytest.param({"Authorization": f"Bearer\t{token}"}, 400, id="tab-after-scheme"),
        pytest.param({"Authorization": "Bearer"}, 400, id="scheme-only"),
        pytest.param({"Authorization": "Bearer "}, 400, id="scheme-and-space"),
        pytest.param({"Authorization": ""}, 400, id="empty"),
        pytest.param({"Authorization": "   "}, 400, id="blank"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, 401, id="not-a-jwt"),
        pytest.param({"Authorization": f"Bearer {_token({'scope': 'x'})}"}, 401, id="names-nobody"),
    ]


@pytest.mark.parametrize(("headers", "status"), _refusal_cases())
def test_ambiguous_or_unusable_authorization_is_refused_without_naming_values(
    headers: dict[str, str], status: int
) -> None:
    with pytest.raises(RequestRefused) as refused:
        authenticate(context_with(headers))

    assert refused.value.status == status
    assert refused.value.error == ("invalid_request" if status == 400 else "invalid_token")
    for value in headers.values():
        for secret in value.split():
            if len(secret) > 8:
                assert secret not in refused.value.reason
                assert secret not in refused.value.description


def test_raw_header_list_of_the_starlette_request_is_used_not_the_collapsed_dict() -> None:
    """bedrock_agentcore's request_headers keeps only the LAST Authorization header; the raw list keeps all."""
    first, second = make_fake_jwt("first"), make_fake_jwt("second")
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/invocations",
            "headers": [(b"authorization", f"Bearer {token}".encode()) for token in (first, second)],
        }
    )
    context = RequestContext(session_id="s", request_headers={"Authorization": f"Bearer {second}"}, request=request)

    assert authorization_values(context) == [f"Bearer {first}", f"Bearer {second}"]
    with pytest.raises(RequestRefused, match="2 Authorization headers"):
        authenticate(context)


# --- Over HTTP: the real app, the offline model (inputs recorded) ---


def texts_of(model_inputs: list[str]) -> str:
    return "\n".join(model_inputs)


def test_two_users_of_one_app_client_in_one_session_never_see_each_others_conversation(
    agent_server: AgentServer,
    model_inputs: list[str],
    memory_sessions: list[tuple[str, str]],
    session_id: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    alice_token, bob_token = make_fake_user_jwt(APP_CLIENT, ALICE), make_fake_user_jwt(APP_CLIENT, BOB)
    alice_secret = "My order note is PINEAPPLE-7731."

    alice_first = agent_server.invoke(f"{alice_secret} What's the return policy for audio?", session_id, alice_token)
    seen = len(model_inputs)
    bob_answer = agent_server.invoke("What's the return policy for electronics?", session_id, bob_token)
    bob_inputs = model_inputs[seen:]
    seen = len(model_inputs)
    alice_again = agent_server.invoke("Tell me about the USB-C Hub", session_id, alice_token)
    alice_later_inputs = model_inputs[seen:]

    assert "Return policy for audio" in alice_first.text
    assert "Return policy for electronics" in bob_answer.text
    assert "PROD-004: USB-C Hub" in alice_again.text
    # Bob's model input holds none of Alice's turns ...
    assert bob_inputs
    assert "PINEAPPLE-7731" not in texts_of(bob_inputs)
    assert "return policy for audio" not in texts_of(bob_inputs)
    assert "Return policy for audio" not in texts_of(bob_inputs)
    # ... while Alice's own conversation goes on (and holds none of Bob's).
    assert "PINEAPPLE-7731" in texts_of(alice_later_inputs)
    assert "Return policy for electronics" not in texts_of(alice_later_inputs)
    # One conversation, and one memory actor, per user: client AND subject.
    alice, bob = Caller(APP_CLIENT, ALICE), Caller(APP_CLIENT, BOB)
    assert memory_sessions == [(session_id, alice.actor_id), (session_id, bob.actor_id)]
    assert alice.actor_id != bob.actor_id
    assert len(main.conversations) == 2
    assert main.conversations.get(session_id, alice) is not main.conversations.get(session_id, bob)
    # The log names each caller by its actor id, never by its token.
    assert f"caller={alice.actor_id}" in caplog.text
    assert f"caller={bob.actor_id}" in caplog.text
    captured = capfd.readouterr()
    assert_not_leaked([alice_token, bob_token], caplog.text, captured.out, captured.err)


def test_m2m_tokens_keep_one_conversation_per_client(
    agent_server: AgentServer,
    model_inputs: list[str],
    memory_sessions: list[tuple[str, str]],
    session_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    # Client credentials: sub == client_id; a fresh token per request, as after expiry.
    first = agent_server.invoke("What's the return policy for accessories?", session_id, make_fake_jwt("m2mclient9"))
    seen = len(model_inputs)
    second = agent_server.invoke("What is PROD-002?", session_id, make_fake_jwt("m2mclient9"))

    m2m = Caller("m2mclient9", "m2mclient9")
    assert first.status_code == second.status_code == 200
    assert "Return policy for accessories" in first.text
    assert "Smart Watch (PROD-002)" in second.text
    assert "Return policy for accessories" in texts_of(model_inputs[seen:])  # the same conversation
    assert memory_sessions == [(session_id, m2m.actor_id)]
    assert m2m.actor_id.startswith("m2mclient9-")
    assert "caller=m2mclient9-" in caplog.text


def _http_refusal_cases() -> list[Any]:
    def jwt(client: str) -> str:
        return make_fake_user_jwt(APP_CLIENT, client)

    basic = base64.b64encode(b"user:password").decode()
    return [
        # The first header is the one an authorizer or proxy typically checks; the SDK's dict keeps the last.
        pytest.param(
            lambda a, b: [("Authorization", f"Bearer {a}"), ("Authorization", f"Bearer {b}")], 400, id="two-tokens"
        ),
        pytest.param(
            lambda a, b: [("Authorization", f"Bearer {a}"), ("authorization", f"Bearer {b}")], 400, id="mixed-case"
        ),
        pytest.param(
            lambda a, b: [("Authorization", f"Bearer {a}"), ("Authorization", f"Bearer {a}")], 400, id="same-twice"
        ),
        pytest.param(lambda a, b: [("Authorization", f"Bearer {a}, Bearer {b}")], 400, id="two-credentials"),
        pytest.param(lambda a, b: [("Authorization", f"Basic {basic}")], 400, id="basic"),
        pytest.param(lambda a, b: [("Authorization", a)], 400, id="no-scheme"),
        pytest.param(lambda a, b: [("Authorization", "")], 400, id="empty"),
        pytest.param(lambda a, b: [("Authorization", f"Bearer {a.split('.')[2]}")], 401, id="not-a-jwt"),
    ]


@pytest.mark.parametrize(("build_headers", "status"), _http_refusal_cases())
def test_duplicate_or_malformed_authorization_is_refused_before_any_model_or_gateway_call(
    build_headers: Callable[[str, str], list[tuple[str, str]]],
    status: int,
    agent_server: AgentServer,
    fake_gateway: FakeGateway,
    model_inputs: list[str],
    memory_sessions: list[tuple[str, str]],
    session_id: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    alice_token, bob_token = make_fake_user_jwt(APP_CLIENT, ALICE), make_fake_user_jwt(APP_CLIENT, BOB)

    response = agent_server.invoke(
        "Check the warranty for PROD-001", session_id, raw_headers=build_headers(alice_token, bob_token)
    )

    error = "invalid_request" if status == 400 else "invalid_token"
    assert response.status_code == status
    assert response.headers["www-authenticate"] == f'Bearer error="{error}"'
    (body,) = response.chunks
    assert body["error"] == error
    assert body["error_description"]
    # Nothing ran: no conversation, no memory session, no model input, no gateway request.
    assert model_inputs == []
    assert memory_sessions == []
    assert len(main.conversations) == 0
    assert fake_gateway.authorization_headers == []
    assert f"Invocation refused with HTTP {status}" in caplog.text
    captured = capfd.readouterr()
    assert_not_leaked([alice_token, bob_token], caplog.text, captured.out, captured.err, json.dumps(body))


def test_the_same_request_with_one_authorization_header_is_served(
    agent_server: AgentServer,
    fake_gateway: FakeGateway,
    model_inputs: list[str],
    session_id: str,
) -> None:
    """Control for the refusal test: one header, same prompt, reaches the model and the gateway."""
    token = make_fake_user_jwt(APP_CLIENT, ALICE)

    response = agent_server.invoke(
        "Check the warranty for PROD-001", session_id, raw_headers=[("Authorization", f"Bearer {token}")]
    )

    assert response.status_code == 200
    assert "Warranty for PROD-001: active" in response.text
    assert model_inputs
    assert set(fake_gateway.authorization_headers) == {f"Bearer {token}"}


# --- AgentCore Memory (moto): each user's turns under their own actor id ---


def test_memory_keeps_each_users_turns_under_their_own_actor_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(main, "conversations", main.ConversationCache())
    session = new_session_id()
    alice, bob = Caller(APP_CLIENT, ALICE), Caller(APP_CLIENT, BOB)
    with mock_aws():
        control = boto3.client("bedrock-agentcore-control", region_name="us-east-1")
        memory_id = control.create_memory(name="CustomerSupportMemory", eventExpiryDuration=30)["memory"]["id"]
        monkeypatch.setenv("MEMORY_ID", memory_id)

        for subject, prompt in ((ALICE, "Alice asks: return policy for audio?"), (BOB, "Bob asks: what is PROD-003?")):
            token = make_fake_user_jwt(APP_CLIENT, subject)
            context = RequestContext(
                session_id=session, request_headers={"Authorization": f"Bearer {token}"}, request=None
            )
            asyncio.run(collect_invocation(main.invoke, {"prompt": prompt}, context))
        data = boto3.client("bedrock-agentcore", region_name="us-east-1")
        events = {
            caller: json.dumps(
                data.list_events(memoryId=memory_id, actorId=caller.actor_id, sessionId=session, includePayloads=True)[
                    "events"
                ],
                default=str,
            )
            for caller in (alice, bob)
        }

    assert "Alice asks" in events[alice]
    assert "Bob asks" not in events[alice]
    assert "Bob asks" in events[bob]
    assert "Alice asks" not in events[bob]


def test_encode_fake_jwt_round_trips_through_caller_from_token() -> None:
    assert caller_from_token(encode_fake_jwt({"client_id": "c", "sub": "s"})) == Caller("c", "s")
