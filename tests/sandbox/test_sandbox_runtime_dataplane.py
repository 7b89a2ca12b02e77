"""The loopback AgentCore runtime data plane: live records, JWT enforcement, header allowlist, streaming."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import jwt
import pytest

from sandbox.agent_host import AgentProcessPool
from sandbox.behaviour import AgentCoreBehaviour
from sandbox.cognito import CognitoServer
from sandbox.iam import SandboxIam
from sandbox.runtime_dataplane import REQUEST_ID_HEADER, SESSION_HEADER, RuntimeDataPlane
from sandbox.sigv4 import account_keys, sign
from tests.sandbox.helpers import (
    ACCOUNT_ID,
    REGION,
    Pool,
    assert_not_leaked,
    create_client,
    fetch_token,
    harness_credentials,
    invoke_headers,
    jwt_authorizer,
    new_session_id,
    runtime_record,
    signed,
)

MakeRuntime = Callable[..., dict[str, Any]]
CUSTOM_TENANT = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Tenant"
CUSTOM_OTHER = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Other"


def sse_events(text: str) -> list[Any]:
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


def invoke(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    runtime_arn: str,
    headers: dict[str, str],
    payload: dict[str, Any] | None = None,
    *,
    sigv4: bool = False,
) -> httpx.Response:
    """POST an invocation; `sigv4`: signed with the process's own credentials (a runtime without an authorizer)."""
    url = dataplane.invocation_url(runtime_arn)
    body = json.dumps(payload or {"prompt": "hello there"}).encode()
    return http.post(url, headers=signed(url, headers, body) if sigv4 else headers, content=body)


def test_open_runtime_streams_the_agent_answer(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime
) -> None:
    runtime = make_runtime("OpenAgent", environmentVariables={"AGENT_MODEL_PROVIDER": "offline-deterministic"})
    session_id = new_session_id()

    response = invoke(http, dataplane, runtime["agentRuntimeArn"], invoke_headers(session_id=session_id), sigv4=True)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers[SESSION_HEADER] == session_id
    first, *words = sse_events(response.text)
    assert words == ["hello", "there"]
    assert first["headers"][SESSION_HEADER.lower()] == session_id
    assert first["headers"][REQUEST_ID_HEADER.lower()]
    (record,) = dataplane.invocations
    assert (record.runtime_id, record.status, record.session_id, record.client_id) == (
        runtime["agentRuntimeId"],
        200,
        session_id,
        f"arn:aws:iam::{ACCOUNT_ID}:root",  # the SigV4 signer: the process's own (the account's) credentials
    )
    assert record.streamed_bytes == len(response.content)


def test_answer_is_relayed_while_the_agent_is_still_working(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, tmp_path: Path
) -> None:
    """The agent holds its second event until the test has seen the first: a buffering proxy would deadlock."""
    runtime = make_runtime("StreamingAgent")
    release = tmp_path / "release"
    url = dataplane.invocation_url(runtime["agentRuntimeArn"])
    body = json.dumps({"prompt": "done", "hold": str(release)}).encode()

    with http.stream("POST", url, headers=signed(url, invoke_headers(), body), content=body) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert "headers" in json.loads(first[len("data: ") :])
        release.touch()
        rest = sse_events("\n".join(lines))

    assert rest == [{"released": True}, "done"]


@pytest.mark.parametrize("qualifier", ["DEFAULT", "v2"])
def test_unknown_runtime_or_endpoint_is_404(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, qualifier: str
) -> None:
    arn = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT_ID}:runtime/Missing-abcdefghij"
    if qualifier != "DEFAULT":
        arn = make_runtime("QualifiedAgent")["agentRuntimeArn"]

    response = http.post(
        dataplane.invocation_url(arn, qualifier=qualifier), headers=invoke_headers(), content=b'{"prompt": "x"}'
    )

    assert response.status_code == 404
    assert response.json()["__type"] == "ResourceNotFoundException"
    assert response.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert "message" in response.json()


@pytest.mark.parametrize("session_id", [None, "x" * 32, "x" * 257])
def test_session_id_must_be_33_to_256_characters(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, session_id: str | None
) -> None:
    runtime = make_runtime("SessionAgent")
    headers = invoke_headers()
    if session_id is None:
        del headers[SESSION_HEADER]
    else:
        headers[SESSION_HEADER] = session_id

    response = invoke(http, dataplane, runtime["agentRuntimeArn"], headers, sigv4=True)

    assert response.status_code == 400
    assert response.json()["__type"] == "ValidationException"


def test_secured_runtime_without_token_is_401_with_resource_metadata(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
    agents: AgentProcessPool,
) -> None:
    runtime = make_runtime("SecuredAgent", authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id))
    arn = runtime["agentRuntimeArn"]

    response = invoke(http, dataplane, arn, invoke_headers())

    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge == f'Bearer resource_metadata="{dataplane.resource_metadata_url(arn)}"'
    assert "/.well-known/oauth-protected-resource" in challenge
    metadata = http.get(dataplane.resource_metadata_url(arn)).json()
    assert metadata["authorization_servers"] == [cognito.issuer(pool.pool_id)]
    assert agents.running() == {}  # refused before any agent work
    assert dataplane.invocations[-1].status == 401


def test_secured_runtime_with_valid_token_streams_and_records_the_caller(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
) -> None:
    authorizer = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    runtime = make_runtime("SecuredAgentOk", authorizerConfiguration=authorizer)
    token = fetch_token(http, cognito, pool)

    response = invoke(http, dataplane, runtime["agentRuntimeArn"], invoke_headers(token))

    assert response.status_code == 200, response.text
    first, *words = sse_events(response.text)
    assert words == ["hello", "there"]
    # Authorization is not on this runtime's allowlist: validated, then stripped before the agent.
    assert "authorization" not in first["headers"]
    record = dataplane.invocations[-1]
    assert (record.status, record.client_id) == (200, pool.client_id)
    assert "Authorization" not in record.forwarded_headers


REJECTED: dict[str, dict[str, Any]] = {
    "expired": {"lifetime": -120},
    "wrong issuer": {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_someoneelse"},
    "foreign key": {"foreign_key": True},
    "client not allowed": {"client_id": "not-an-allowed-client", "sub": "not-an-allowed-client"},
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_invalid_tokens_are_403(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
    agents: AgentProcessPool,
    case: str,
) -> None:
    authorizer = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    runtime = make_runtime("RejectingAgent", authorizerConfiguration=authorizer)
    token = cognito.mint_token(pool.client_id, **REJECTED[case])

    response = invoke(http, dataplane, runtime["agentRuntimeArn"], invoke_headers(token))

    assert response.status_code == 403
    body = response.json()
    assert body["__type"] == "AccessDeniedException"
    assert body["message"]
    assert token not in response.text
    assert "www-authenticate" not in response.headers
    assert agents.running() == {}
    assert dataplane.invocations[-1].client_id is None


def test_tampered_signature_is_403(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, cognito: CognitoServer, pool: Pool
) -> None:
    runtime = make_runtime("TamperAgent", authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id))
    header, claims, signature = fetch_token(http, cognito, pool).split(".")
    tampered = f"{header}.{claims}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"

    response = invoke(http, dataplane, runtime["agentRuntimeArn"], invoke_headers(tampered))

    assert response.status_code == 403


def test_only_allowlisted_headers_reach_the_agent(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
) -> None:
    runtime = make_runtime(
        "HeaderAgent",
        authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id]),
        requestHeaderConfiguration={"requestHeaderAllowlist": ["authorization", CUSTOM_TENANT]},
    )
    token = fetch_token(http, cognito, pool)
    headers = invoke_headers(token, **{CUSTOM_TENANT: "acme", CUSTOM_OTHER: "nope", "X-Debug": "nope"})

    response = invoke(http, dataplane, runtime["agentRuntimeArn"], headers)

    assert response.status_code == 200, response.text
    received = sse_events(response.text)[0]["headers"]
    assert received["authorization"] == f"Bearer {token}"  # allowlisted (matched case-insensitively)
    assert received[CUSTOM_TENANT.lower()] == "acme"
    assert CUSTOM_OTHER.lower() not in received
    assert "x-debug" not in received
    assert received[SESSION_HEADER.lower()] == headers[SESSION_HEADER]


def test_authorizer_changes_on_the_record_apply_to_the_next_request(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
    agents: AgentProcessPool,
) -> None:
    runtime = make_runtime("ChangingAgent")
    arn, record = runtime["agentRuntimeArn"], runtime_record(runtime["agentRuntimeId"])
    token = fetch_token(http, cognito, pool)

    assert invoke(http, dataplane, arn, invoke_headers(), sigv4=True).status_code == 200
    agent_pid = agents.pid(runtime["agentRuntimeId"])

    record.authorizer_configuration = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    assert invoke(http, dataplane, arn, invoke_headers()).status_code == 401
    assert invoke(http, dataplane, arn, invoke_headers(token)).status_code == 200

    record.authorizer_configuration = jwt_authorizer(cognito, pool.pool_id, allowedClients=["someone-else"])
    assert invoke(http, dataplane, arn, invoke_headers(token)).status_code == 403

    record.authorizer_configuration = None
    assert invoke(http, dataplane, arn, invoke_headers(token)).status_code == 403  # a bearer token: method mismatch
    assert invoke(http, dataplane, arn, invoke_headers(), sigv4=True).status_code == 200
    assert agents.pid(runtime["agentRuntimeId"]) == agent_pid  # same environment: same agent process


def test_environment_changes_on_the_record_restart_the_agent(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, agents: AgentProcessPool
) -> None:
    runtime = make_runtime("EnvAgent", environmentVariables={"GATEWAY_URL": "none"})
    arn, record = runtime["agentRuntimeArn"], runtime_record(runtime["agentRuntimeId"])
    payload = {"prompt": "x", "env": ["GATEWAY_URL", "SANDBOX_BASE"]}

    before = sse_events(invoke(http, dataplane, arn, invoke_headers(), payload, sigv4=True).text)[0]
    record.environment_variables = {"GATEWAY_URL": "https://gw.example/mcp"}
    after = sse_events(invoke(http, dataplane, arn, invoke_headers(), payload, sigv4=True).text)[0]

    assert before["env"] == {"GATEWAY_URL": "none", "SANDBOX_BASE": "base"}
    assert after["env"] == {"GATEWAY_URL": "https://gw.example/mcp", "SANDBOX_BASE": "base"}
    assert after["pid"] != before["pid"]


def test_agent_failure_is_a_runtime_client_error(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime
) -> None:
    runtime = make_runtime("FailingAgent")

    payload = {"prompt": "x", "fail": True}
    response = invoke(http, dataplane, runtime["agentRuntimeArn"], invoke_headers(), payload, sigv4=True)

    assert response.status_code == 424
    assert response.json()["__type"] == "RuntimeClientError"


def test_tokens_and_secrets_never_reach_logs_or_records(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
    cognito_idp: Any,
    agents: AgentProcessPool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sandbox")
    client_id, secret = create_client(cognito_idp, pool.pool_id, name="leakcheck")
    caller = Pool(pool.pool_id, client_id, secret)
    runtime = make_runtime(
        "LeakCheck",
        authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id, allowedClients=[client_id]),
        requestHeaderConfiguration={"requestHeaderAllowlist": ["Authorization"]},
    )
    arn = runtime["agentRuntimeArn"]
    token = fetch_token(http, cognito, caller)

    assert invoke(http, dataplane, arn, invoke_headers(token)).status_code == 200
    assert invoke(http, dataplane, arn, invoke_headers(cognito.mint_token(client_id, lifetime=-60))).status_code == 403
    assert (
        invoke(http, dataplane, arn, invoke_headers(cognito.mint_token(client_id, foreign_key=True))).status_code == 403
    )

    sandbox_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("sandbox"))
    haystacks = {
        "sandbox logs": sandbox_logs,
        "agent logs": agents.logs(),
        "invocation records": repr(dataplane.invocations),
    }
    assert client_id in sandbox_logs
    assert "token=present" in agents.logs(runtime["agentRuntimeId"])  # the agent did get the token ...
    for where, text in haystacks.items():
        assert secret not in text, where
        for issued in cognito.issued_tokens:  # ... and nobody wrote any token down
            assert issued not in text, where
            assert issued.split(".")[2] not in text, where


REAL_AGENT = Path(__file__).resolve().parents[2] / "agent" / "main.py"


@pytest.mark.slow
@pytest.mark.skipif(not REAL_AGENT.exists(), reason="agent/main.py not present")
def test_real_agent_behind_a_secured_runtime(
    http: httpx.Client, make_runtime: MakeRuntime, cognito: CognitoServer, pool: Pool, tmp_path: Path
) -> None:
    """The CustomerSupport agent itself (offline model) behind the data plane, as the sandbox runs it."""
    runtime = make_runtime(
        "RealAgent",
        authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id]),
        requestHeaderConfiguration={"requestHeaderAllowlist": ["Authorization"]},
        environmentVariables={"AGENT_MODEL_PROVIDER": "offline-deterministic", "LOG_LEVEL": "INFO"},
    )
    token = fetch_token(http, cognito, pool)
    with (
        AgentProcessPool(agent_entry=REAL_AGENT, startup_timeout=60.0, log_dir=tmp_path / "agents") as agents,
        RuntimeDataPlane(ACCOUNT_ID, REGION, agents) as plane,
    ):
        response = invoke(
            http, plane, runtime["agentRuntimeArn"], invoke_headers(token), {"prompt": "Return policy for electronics?"}
        )
        logs = agents.logs(runtime["agentRuntimeId"])

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    answer = "".join(event for event in sse_events(response.text) if isinstance(event, str))
    assert "30 days" in answer
    assert f"caller={pool.client_id}" in logs  # the agent saw the allowlisted Authorization header ...
    assert token not in logs  # ... and did not write it down


# -- ambiguous or unusual credentials --------------------------------------------------------------------------


def test_token_with_crit_header_is_403_not_a_dropped_connection(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, cognito: CognitoServer, pool: Pool
) -> None:
    runtime = make_runtime("CritAgent", authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id))
    claims = jwt.decode(cognito.mint_token(pool.client_id), options={"verify_signature": False})
    token = cognito.sign(claims, {"crit": ["urn:example:ext"], "urn:example:ext": True})

    response = invoke(http, dataplane, runtime["agentRuntimeArn"], invoke_headers(token))

    assert response.status_code == 403
    assert "'crit'" in response.json()["message"]


@pytest.mark.parametrize(
    "order", ["genuine then forged", "forged then genuine", "genuine twice, other case", "comma-joined"]
)
def test_more_than_one_credential_is_403_before_the_agent(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
    agents: AgentProcessPool,
    order: str,
) -> None:
    """With Authorization allowlisted, the forged token would reach the agent if one header were verified and another
    forwarded."""
    runtime = make_runtime(
        "DuplicateHeaderAgent",
        authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id]),
        requestHeaderConfiguration={"requestHeaderAllowlist": ["Authorization"]},
    )
    genuine = f"Bearer {fetch_token(http, cognito, pool)}"
    forged = f"Bearer {cognito.mint_token(pool.client_id, foreign_key=True)}"
    authorizations = {
        "genuine then forged": [("Authorization", genuine), ("Authorization", forged)],
        "forged then genuine": [("Authorization", forged), ("authorization", genuine)],
        "genuine twice, other case": [("Authorization", genuine), ("AUTHORIZATION", genuine)],
        "comma-joined": [("Authorization", f"{genuine}, {forged}")],
    }[order]
    headers = [*invoke_headers().items(), *authorizations]

    response = http.post(
        dataplane.invocation_url(runtime["agentRuntimeArn"]), headers=headers, content=b'{"prompt": "hi"}'
    )

    assert response.status_code == 403
    assert response.json()["__type"] == "AccessDeniedException"
    assert agents.running() == {}  # refused before any agent work
    record = dataplane.invocations[-1]
    assert (record.status, record.client_id, record.forwarded_headers) == (403, None, ())
    assert "Authorization" in record.reason
    for credential in (genuine, forged):
        assert_not_leaked(credential, repr(record) + response.text)


def test_duplicate_authorization_is_refused_on_an_open_runtime_too(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime
) -> None:
    runtime = make_runtime(
        "OpenDuplicateAgent", requestHeaderConfiguration={"requestHeaderAllowlist": ["Authorization"]}
    )
    headers = [*invoke_headers().items(), ("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")]

    response = http.post(dataplane.invocation_url(runtime["agentRuntimeArn"]), headers=headers, content=b"{}")

    assert response.status_code == 403
    assert dataplane.invocations[-1].status == 403


@pytest.mark.parametrize("parameter", ["access_token", "token"])
def test_token_in_the_query_string_counts_as_no_token_and_is_never_written_down(
    http: httpx.Client,
    dataplane: RuntimeDataPlane,
    make_runtime: MakeRuntime,
    cognito: CognitoServer,
    pool: Pool,
    caplog: pytest.LogCaptureFixture,
    parameter: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sandbox")
    runtime = make_runtime("QueryTokenAgent", authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id))
    arn = runtime["agentRuntimeArn"]
    token = fetch_token(http, cognito, pool)

    response = http.post(
        f"{dataplane.invocation_url(arn)}&{parameter}={token}", headers=invoke_headers(), content=b"{}"
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{dataplane.resource_metadata_url(arn)}"'
    assert dataplane.invocations[-1].status == 401
    assert "dataplane" in caplog.text  # the request line was logged (the check below is not vacuous) ...
    for text in (caplog.text, repr(dataplane.invocations), response.text):
        assert_not_leaked(token, text)  # ... without its query string


# -- a runtime without an authorizer takes SigV4 (IAM) calls only ------------------------------------------------


def test_a_runtime_without_an_authorizer_answers_only_a_valid_sigv4_signature(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, cognito: CognitoServer, pool: Pool
) -> None:
    """AgentCore's default inbound auth is IAM: no Authorization is AWS's "Missing Authentication Token", a bearer token
    (even a valid one) an "Authorization method mismatch", a signature that does not verify AWS's SigV4 errors."""
    arn = make_runtime("IamAgent")["agentRuntimeArn"]
    url = dataplane.invocation_url(arn)
    body = b'{"prompt": "hello there"}'
    good = signed(url, invoke_headers(), body)
    wrong_secret = signed(url, invoke_headers(), body, {**harness_credentials(), "AWS_SECRET_ACCESS_KEY": "guess"})
    unknown_key = signed(
        url, invoke_headers(), body, {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN", "AWS_SECRET_ACCESS_KEY": "x"}
    )
    other_region = sign("POST", url, invoke_headers(), body, harness_credentials(), "eu-west-1", "bedrock-agentcore")
    token = fetch_token(http, cognito, pool)
    requests = {
        "no Authorization": (invoke_headers(), body),
        "valid bearer token": (invoke_headers(token), body),
        "signed": (good, body),
        "signed, body changed after signing": (good, b'{"prompt": "something else"}'),
        "signed with a wrong secret": (wrong_secret, body),
        "signed with an unknown key": (unknown_key, body),
        "signed for another region": (other_region, body),
    }

    observed = {}
    for case, (headers, content) in requests.items():
        response = http.post(url, headers=headers, content=content)
        error = response.json() if response.status_code != 200 else {}
        observed[case] = (response.status_code, error.get("__type"), " ".join(error.get("message", "").split()[:3]))

    assert observed == {
        "no Authorization": (403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "valid bearer token": (403, "AccessDeniedException", "Authorization method mismatch."),
        "signed": (200, None, ""),
        "signed, body changed after signing": (403, "InvalidSignatureException", "The request signature"),
        "signed with a wrong secret": (403, "InvalidSignatureException", "The request signature"),
        "signed with an unknown key": (403, "UnrecognizedClientException", "The security token"),
        "signed for another region": (403, "InvalidSignatureException", "Credential should be"),
    }
    assert [r.status for r in dataplane.invocations[-len(requests) :]] == [s for s, _, _ in observed.values()]
    assert_not_leaked(token, repr(dataplane.invocations))


def test_a_jwt_runtime_refuses_a_valid_sigv4_signature_as_a_method_mismatch(
    http: httpx.Client, dataplane: RuntimeDataPlane, make_runtime: MakeRuntime, cognito: CognitoServer, pool: Pool
) -> None:
    arn = make_runtime("JwtOnlyAgent", authorizerConfiguration=jwt_authorizer(cognito, pool.pool_id))["agentRuntimeArn"]
    url = dataplane.invocation_url(arn)
    body = b'{"prompt": "hello there"}'

    response = http.post(url, headers=signed(url, invoke_headers(), body), content=body)

    assert (response.status_code, response.json()["__type"]) == (403, "AccessDeniedException")
    assert response.json()["message"].startswith("Authorization method mismatch. The agent is configured for a")


@pytest.fixture
def agentcore(aws: None) -> Iterator[None]:
    """AgentCore's own behaviour (AWS's runtime ARNs, the format IAM's resource types match), settling at once."""
    behaviour = AgentCoreBehaviour(latency_scale=0.0)
    behaviour.install()
    try:
        yield
    finally:
        behaviour.uninstall()


def test_a_sigv4_caller_needs_invoke_agent_runtime_on_the_endpoint(
    http: httpx.Client, agents: AgentProcessPool, agentcore: None, make_runtime: MakeRuntime, boto_session: Any
) -> None:
    """The signer is a role: its identity-based policies decide (bedrock-agentcore:InvokeAgentRuntime on the runtime's
    endpoint), denied with AWS's AccessDeniedException message."""
    iam = SandboxIam(ACCOUNT_ID, REGION)
    arn = make_runtime("GuardedAgent")["agentRuntimeArn"]
    roles = {
        "may invoke": _role(boto_session, "MayInvoke", arn),
        "may invoke another runtime": _role(boto_session, "MayInvokeOther", f"{arn[:-4]}zzzz"),
    }
    body = b'{"prompt": "hello there"}'
    observed = {}
    with RuntimeDataPlane(ACCOUNT_ID, REGION, agents, keys=account_keys({}, iam.identities), iam=iam) as plane:
        url = plane.invocation_url(arn)
        for case, role_arn in roles.items():
            # A Credentials TypedDict: every value a str, as signed() takes them.
            credentials = cast(Mapping[str, str], iam.identities.credentials(role_arn, "caller"))
            response = http.post(url, headers=signed(url, invoke_headers(), body, credentials), content=body)
            observed[case] = (response.status_code, response.json()["__type"] if response.status_code != 200 else None)
        denied = response.json()["message"]
        callers = [r.client_id for r in plane.invocations]

    assert observed == {"may invoke": (200, None), "may invoke another runtime": (403, "AccessDeniedException")}
    assert denied == (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/MayInvokeOther/caller is not authorized to perform: "
        f"bedrock-agentcore:InvokeAgentRuntime on resource: {arn}/runtime-endpoint/DEFAULT because no "
        "identity-based policy allows the bedrock-agentcore:InvokeAgentRuntime action"
    )
    assert callers == [f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/MayInvoke/caller", None]


def _role(boto_session: Any, name: str, runtime_arn: str) -> str:
    iam = boto_session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}],
    }
    role_arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    allow = {
        "Effect": "Allow",
        "Action": "bedrock-agentcore:InvokeAgentRuntime",
        "Resource": [runtime_arn, f"{runtime_arn}/runtime-endpoint/*"],
    }
    document = {"Version": "2012-10-17", "Statement": [allow]}
    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps(document))
    return role_arn
