"""A second gateway tool the team added after the tutorial; the rollout must carry it to the new gateway too."""

from __future__ import annotations

from typing import Any

DELIVERY_DAYS = {"US": 3, "CA": 5, "GB": 6, "DE": 6}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    country = str(event.get("country") or "US").upper()
    days = DELIVERY_DAYS.get(country)
    if days is None:
        return {"error": f"no shipping to {country!r}; we ship to {', '.join(sorted(DELIVERY_DAYS))}"}
    return {"product_id": str(event.get("product_id", "")).upper(), "country": country, "delivery_days": days}
