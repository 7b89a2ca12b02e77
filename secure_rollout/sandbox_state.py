"""Where a running offline sandbox (`secure-rollout sandbox up`) can be reached: a small JSON file.

The sandbox process writes it once everything is up and removes it when it stops; `--sandbox` commands read it.
It holds loopback URLs and a control token for the sandbox's own controls - no AWS credential (the sandbox takes
any) and nothing secret of the account it plays.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HOME_ENV = "SECURE_ROLLOUT_HOME"
DEFAULT_HOME = ".secure-rollout"  # relative to the working directory: one sandbox per checkout
STATE_FILE = "sandbox.json"
CONTROL_PREFIX = "/_sandbox"
CONTROL_TOKEN_HEADER = "X-Sandbox-Control-Token"


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME)


def state_path() -> Path:
    return home() / STATE_FILE


@dataclass(frozen=True)
class SandboxState:
    """`endpoint` serves the AWS APIs (one endpoint for every service, SigV4 with any credentials);
    `endpoints` names the services served elsewhere (the AgentCore data plane)."""

    endpoint: str
    region: str
    stackName: str
    stateMachineArn: str
    pid: int
    controlToken: str
    endpoints: dict[str, str] = field(default_factory=dict)

    def endpoint_for(self, service: str) -> str:
        return self.endpoints.get(service, self.endpoint)

    def write(self, path: Path) -> None:
        """Atomically, readable by the owner only (the control token stops other local users' faults)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> SandboxState | None:
        """The state, or None when no sandbox wrote one (or it is unreadable)."""
        try:
            raw: Any = json.loads(path.read_text())
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None
