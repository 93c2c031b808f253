"""The ASGI application: routes, middleware and error handlers."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import __version__, admin, auth, metrics, reload
from server.apis import pipeline
from server.apis.base import ApiModule
from server.apis.chat import ChatApi
from server.apis.messages import MESSAGES, count_tokens
from server.apis.models import get_model, list_models
from server.apis.responses import ResponsesApi
from server.settings import Settings
from server.state import ServerState

logger = logging.getLogger("understudy")

Endpoint = Callable[[Request], Awaitable[Any]]


def _model_route(path: str, api: ApiModule, state: ServerState) -> Route:
    async def endpoint(request: Request) -> Any:
        return await pipeline.handle(api, request, state)

    return Route(path, endpoint, methods=["POST"], name=api.name)


def _with_state(
    function: Callable[[Request, ServerState], Awaitable[Any]], state: ServerState
) -> Endpoint:
    async def endpoint(request: Request) -> Any:
        return await function(request, state)

    return endpoint


def _openai_error(status: int, message: str, type_: str = "invalid_request_error") -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": None}}
    return JSONResponse(body, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        return _openai_error(exc.status_code, f"Invalid URL ({request.method} {request.url.path})")
    return _openai_error(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return _openai_error(
        500, "The server had an error while processing your request.", "server_error"
    )


def create_app(settings: Settings | None = None, state: ServerState | None = None) -> Starlette:
    """Build the app; loading the catalog here makes a bad scenario file fail at start-up."""
    if state is None:
        state = ServerState.load(settings or Settings.from_env())
    settings = state.settings

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {"status": "ok", "version": __version__, "scenarios": len(state.catalog.scenarios)}
        )

    responses = ResponsesApi(state.responses)
    routes = [
        _model_route("/v1/chat/completions", ChatApi(), state),
        _model_route("/v1/responses", responses, state),
        Route("/v1/responses/{response_id}", responses.retrieve, methods=["GET"]),
        Route("/v1/responses/{response_id}", responses.delete, methods=["DELETE"]),
        _model_route("/v1/messages", MESSAGES, state),
        Route("/v1/messages/count_tokens", _with_state(count_tokens, state), methods=["POST"]),
        Route("/v1/models", _with_state(list_models, state), methods=["GET"]),
        Route("/v1/models/{model:path}", _with_state(get_model, state), methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/metrics", metrics.endpoint(state.metrics), methods=["GET"]),
        *admin.routes(state),
    ]
    routes = auth.guard_routes(routes, settings.api_keys, openai=ChatApi(), anthropic=MESSAGES)
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["x-request-id", "request-id"],
        )
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware if settings.cors_origins else [],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=reload.lifespan(state),
    )
    app.state.understudy = state
    return app


def create_app_from_env() -> Starlette:
    """Factory for uvicorn (used with ``--workers``): settings come from the environment."""
    return create_app(Settings.from_env())
