"""One scan for leaked credentials, shared by the workflow tests: the real client secret and every token issued."""

from __future__ import annotations

from sandbox.core import Sandbox


def client_secret(sandbox: Sandbox) -> str:
    client = sandbox.client("cognito-idp").describe_user_pool_client(
        UserPoolId=sandbox.seeded.pool_id, ClientId=sandbox.seeded.client_id
    )
    return str(client["UserPoolClient"]["ClientSecret"])


def assert_no_credentials(sandbox: Sandbox, published: dict[str, str]) -> None:
    """Neither the client secret nor any issued token (nor its signature) appears in any of the texts."""
    secret = client_secret(sandbox)
    tokens = sandbox.cognito.issued_tokens
    for where, text in published.items():
        assert secret not in text, f"client secret found in {where}"
        for token in tokens:
            assert token not in text, f"access token found in {where}"
            assert token.split(".")[2] not in text, f"token signature found in {where}"
