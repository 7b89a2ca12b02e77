"""Stand-in for agent/main.py in the sandbox tests: the same HTTP contract (GET /ping, POST /invocations, SSE).

Run as `python standin_agent.py` with HOST/PORT set. POST /invocations with a JSON body:
- first event: the headers this process received, the values of the env vars named in `env`, and its pid;
- `hold`: a file path; the process waits (at most 5 s) for it to exist before sending the rest, so a test can
  prove that the first event reached it while the agent was still working;
- then one event per word of `prompt`;
- `fail: true` answers HTTP 500 instead.
It logs only whether a token was present, never the token.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

HOLD_LIMIT_SECONDS = 5.0


def sse(data: Any) -> str:
    return f"data: {json.dumps(data)}\n\n"


async def ping(request: Request) -> Response:
    return JSONResponse({"status": "Healthy", "time_of_last_update": int(time.time())})


async def invocations(request: Request) -> Response:
    payload = await request.json()
    headers = dict(request.headers)
    print(
        f"invocation session={headers.get('x-amzn-bedrock-agentcore-runtime-session-id')} "
        f"token={'present' if 'authorization' in headers else 'absent'}",
        flush=True,
    )
    if payload.get("fail"):
        return JSONResponse({"error": "agent failure"}, status_code=500)

    async def events() -> AsyncIterator[str]:
        env = {name: os.environ.get(name) for name in payload.get("env", [])}
        yield sse({"headers": headers, "env": env, "pid": os.getpid()})
        hold = payload.get("hold")
        if hold:
            deadline = time.monotonic() + HOLD_LIMIT_SECONDS
            while not Path(hold).exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            yield sse({"released": Path(hold).exists()})
        for word in str(payload.get("prompt", "")).split():
            yield sse(word)

    return StreamingResponse(events(), media_type="text/event-stream")


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])

if __name__ == "__main__":
    print(f"stand-in agent starting, python {sys.version_info[:2]}", flush=True)
    uvicorn.run(app, host=os.environ["HOST"], port=int(os.environ["PORT"]), log_level="warning")
