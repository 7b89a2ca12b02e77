"""One scan for leaked credentials, shared by the workflow tests: the real client secret and every token issued."""

from __future__ import annotations

from sandbox.core import Sandbox
from sandbox.leaks import credentials, find_leaks


def client_secret(sandbox: Sandbox) -> str:
    return credentials(sandbox)[0]


def assert_no_credentials(sandbox: Sandbox, published: dict[str, str]) -> None:
    """Neither the client secret nor any issued token (nor its signature) appears in any of the texts."""
    assert find_leaks(published, credentials(sandbox)) == []
