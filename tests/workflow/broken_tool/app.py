"""A warranty tool Lambda that fails every call: a new gateway target pointed at it cannot answer."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("warranty database unreachable")
