"""Fixtures for workflow tests: the real ASL executed by moto against the full offline sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.core import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh account per test: deploy + tutorial seed + servers (a few seconds)."""
    with Sandbox(poll_seconds=0, max_polls=10) as instance:
        yield instance


@pytest.fixture(scope="module")
def rolled_out() -> Iterator[tuple[Sandbox, dict]]:
    """One sandbox per module with one successful rollout already run (shared by read-only tests). The description
    also says how many gateway calls and Lambda invocations the sandbox had seen when that rollout ended
    (`gatewayCallsByThen`, `invocationsByThen`): a later test of the module may add its own."""
    with Sandbox(poll_seconds=0, max_polls=10) as instance:
        execution_arn = instance.start_rollout({})
        description = instance.wait(execution_arn)
        yield (
            instance,
            {
                "arn": execution_arn,
                **description,
                "gatewayCallsByThen": len(instance.gateway_plane.calls),
                "invocationsByThen": len(instance.lambdas.invocations),
            },
        )
