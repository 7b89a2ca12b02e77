"""An agent build that starts (answers /ping) but fails every invocation: what a bad deploy looks like."""

from __future__ import annotations

import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"status": "Healthy"})


async def invocations(request: Request) -> JSONResponse:
    return JSONResponse({"error": "ModuleNotFoundError: No module named 'strands'"}, status_code=500)


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ["PORT"]), log_level="warning")
