"""The CustomerSupport agent with the tutorial's original bug: it calls the gateway WITHOUT the caller's token.

Used to prove the negative: a secured gateway must reject such calls (401) and the rollout's smoke test must fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "agent"))

import main as agent_main
from mcp_client import client as gateway_client
from strands.tools.mcp import MCPClient


def gateway_client_without_token(authorization: str | None) -> MCPClient | None:
    url = gateway_client.gateway_url()
    if not url:
        return None
    return MCPClient(gateway_client.streamable_http_transport(url, {}), startup_timeout=10)


agent_main.get_gateway_mcp_client = gateway_client_without_token

if __name__ == "__main__":
    agent_main.app.run(port=int(os.environ["PORT"]), host=os.environ.get("HOST", "127.0.0.1"))
