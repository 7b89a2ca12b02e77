"""Reading a failed execution's Cause, shared by the workflow tests."""

from __future__ import annotations

import json
from typing import Any


def failure_message(execution: dict[str, Any]) -> str:
    """The named error's message: the Lambda's errorMessage - also when a rollback or a hold wrapped that cause in
    its own JSON (`{"errorType", "cause", "rolledBack", "backupKey", ...}`)."""
    cause = json.loads(execution["cause"])
    if "errorMessage" in cause:
        return str(cause["errorMessage"])
    inner = str(cause.get("cause", ""))
    try:
        return str(json.loads(inner)["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return inner
