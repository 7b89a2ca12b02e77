"""Fixtures for the unit tests: plain moto (`mock_aws`), the tutorial's resources seeded directly."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import Any, cast
from unittest import mock

import botocore.session
import pytest
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto import mock_aws
from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends
from rollout_core import agentcore
from rollout_core.desired import warranty_tool_schema
from rollout_core.state import Config

from tests.unit.helpers import (
    ACCOUNT,
    REGION,
    SSM_VALUES,
    FakeLambdaContext,
    Seeded,
    put_ssm,
    run_load_config,
    seed_tutorial,
)

_CLEARED_ENV_PREFIXES = ("AWS_ENDPOINT_URL", "ROLLOUT_")
_CLEARED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


POWERTOOLS_ENV = {
    "POWERTOOLS_METRICS_NAMESPACE": "UnitTests",
    "POWERTOOLS_SERVICE_NAME": "secure-rollout-unit",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Test modules import their handler while being collected (`from functions.plan import app`), and Powertools
    reads its settings when a function module is imported (Logger/Tracer/Metrics are module globals): collect under
    the unit tests' settings, without changing the process environment the other test trees see."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in POWERTOOLS_ENV.items():
            patch.setenv(name, value)
        return (yield)


@pytest.fixture(autouse=True)
def unit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials; nothing from the host (endpoints, proxies, deployment defaults) leaks in."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_ENV_PREFIXES) or name in _CLEARED_ENV:
            monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **POWERTOOLS_ENV,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module", autouse=True)
def shared_botocore_loader() -> Iterator[None]:
    """moto hands out a fresh boto3 session per mock, and every session re-parses botocore's JSON models (~0.3 s).
    Sharing one (read-only, instance-cached) loader keeps the unit tests fast; nothing else changes."""
    original = botocore.session.create_loader
    loaders: dict[Any, Any] = {}

    def cached(search_path_string: Any = None) -> Any:
        if search_path_string not in loaders:
            loaders[search_path_string] = original(search_path_string)
        return loaders[search_path_string]

    with mock.patch.object(botocore.session, "create_loader", cached):
        yield


@pytest.fixture
def aws() -> Iterator[None]:
    DEFAULT_PROVIDERS.clear()  # Powertools caches its SSM provider (and boto3 client) per process
    with mock_aws():
        yield
    DEFAULT_PROVIDERS.clear()


@pytest.fixture
def client(aws: None) -> Any:
    return agentcore.agentcore_control()


@pytest.fixture
def backend(aws: None) -> Any:
    return bedrockagentcorecontrol_backends[ACCOUNT][REGION]


@pytest.fixture
def context() -> LambdaContext:
    # Typed as the real context the handlers take; the fake has the attributes Powertools reads.
    return cast(LambdaContext, FakeLambdaContext())


@pytest.fixture
def ssm_parameters(aws: None) -> dict[str, str]:
    put_ssm(SSM_VALUES)
    return dict(SSM_VALUES)


@pytest.fixture
def seeded(client: Any, ssm_parameters: dict[str, str]) -> Seeded:
    return seed_tutorial(client)


@pytest.fixture
def config(seeded: Seeded, client: Any) -> Config:
    return run_load_config(client)


@pytest.fixture
def schema() -> list[dict[str, Any]]:
    return warranty_tool_schema()
