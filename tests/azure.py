"""A local server speaking Azure OpenAI's URL shape: deployments in the path, `api-version`, an `api-key` header."""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from relay.server import EmbeddedServer

KEY = "azure-key-0123456789"
DEPLOYMENT = "gpt4o-prod"
API_VERSION = "2024-10-21"


def _chunk(data: object) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class AzureServer(EmbeddedServer):
    def __init__(self) -> None:
        self.requests: list[Request] = []
        route = Route("/openai/deployments/{deployment}/chat/completions", self.complete, methods=["POST"])
        super().__init__(Starlette(routes=[route]), lifespan="off")

    async def complete(self, request: Request) -> Response:
        self.requests.append(request)
        if request.headers.get("api-key") != KEY:
            denied = "Access denied due to invalid subscription key."
            return JSONResponse({"error": {"code": "401", "message": denied}}, 401)
        if request.query_params.get("api-version") != API_VERSION:
            return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, 404)
        if request.path_params["deployment"] != DEPLOYMENT:
            return JSONResponse({"error": {"code": "DeploymentNotFound", "message": "No such deployment."}}, 404)
        body = orjson.loads(await request.body())
        question = body["messages"][-1]["content"]

        async def events():
            for piece in ("Azure says: ", question):
                yield _chunk({"choices": [{"index": 0, "delta": {"content": piece}}]})
            yield _chunk({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
