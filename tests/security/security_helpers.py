"""Helpers shared by the security suite (a plain module: `conftest` is not importable by name across test dirs)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
RESOURCE_SERVER = "customersupport"
SCOPE = f"{RESOURCE_SERVER}/invoke"
# The sandbox suite's stand-in agent: same HTTP contract as agent/main.py, logs only whether a token was present.
STANDIN_AGENT = Path(__file__).resolve().parents[1] / "sandbox" / "standin_agent.py"


@dataclass(frozen=True)
class Secured:
    """The secured resources under attack and the allowed caller (its token is never printed)."""

    pool_id: str
    client_id: str
    token: str = field(repr=False)  # pytest shows fixture values of failing tests
    authorizer: dict[str, Any]
    runtime_id: str
    runtime_arn: str
    gateway_id: str


class LogRecords(logging.Handler):
    """Every log record of the module's run (the sandbox's, uvicorn's, the MCP SDK's), formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
