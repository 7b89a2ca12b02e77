"""WarrantyCheck Lambda from the tutorial's prerequisite stack: the `check_warranty` tool behind the gateway.

AgentCore Gateway invokes it with the tool arguments as the event and the tool name in
``context.client_context.custom["bedrockAgentCoreToolName"]`` (``<target>___<tool>``).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

logger = logging.getLogger(__name__)

# Same catalogue as the agent's product data (PROD-001..005); purchase dates are the sandbox's sample orders.
WARRANTIES: dict[str, dict[str, Any]] = {
    "PROD-001": {"name": "Wireless Headphones", "warranty_months": 12, "purchased": "2026-03-14"},
    "PROD-002": {"name": "Smart Watch", "warranty_months": 24, "purchased": "2025-01-20"},
    "PROD-003": {"name": "Laptop Stand", "warranty_months": 6, "purchased": "2025-11-02"},
    "PROD-004": {"name": "USB-C Hub", "warranty_months": 12, "purchased": "2024-06-30"},
    "PROD-005": {"name": "Mechanical Keyboard", "warranty_months": 24, "purchased": "2026-08-09"},
}


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, 28))


def check_warranty(product_id: str, today: date | None = None) -> dict[str, Any]:
    key = (product_id or "").strip().upper()
    if key not in WARRANTIES:
        known = ", ".join(sorted(WARRANTIES))
        return {"error": f"unknown product id {product_id!r}; expected one of {known}"}
    record = WARRANTIES[key]
    purchased = date.fromisoformat(record["purchased"])
    expires = _add_months(purchased, record["warranty_months"])
    active = (today or date.today()) <= expires
    return {
        "product_id": key,
        "name": record["name"],
        "warranty_months": record["warranty_months"],
        "purchased": purchased.isoformat(),
        "expires": expires.isoformat(),
        "status": "active" if active else "expired",
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    custom = getattr(getattr(context, "client_context", None), "custom", None) or {}
    tool = str(custom.get("bedrockAgentCoreToolName", "")).split("___")[-1] or "check_warranty"
    if tool != "check_warranty":
        return {"error": f"unknown tool {tool!r}; this Lambda serves check_warranty"}
    result = check_warranty(str(event.get("product_id", "")))
    logger.info("warranty checked for %s", result.get("product_id", "unknown"))
    return result
