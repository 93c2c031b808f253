"""The ASGI application: routes, middleware and error handlers."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from understudy._version import __version__
from understudy.control import admin, guard, reload, ui
from understudy.core.errors import ApiError
from understudy.core.words import plural
from understudy.http import hosts, keys, pipeline, routes
from understudy.http.responses import error_response
from understudy.providers import ENDPOINTS, ApiModule, dialect
from understudy.record.logs import fields
from understudy.settings import Settings
from understudy.state import ServerState
from understudy.stream.writer import RAW_SEND

logger = logging.getLogger("understudy")

Endpoint = Callable[[Request], Awaitable[Any]]
Handler = Callable[[Request, ServerState], Awaitable[Any]]


def _error(request: Request, error: ApiError) -> Response:
    if guard.is_control_plane(request.url.path):
        return admin.error_response(error.status, error.message)
    return error_response(dialect(request.url.path, request.headers), error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if guard.is_control_plane(path):
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = f"No admin route {request.method} {path}."
        return admin.error_response(exc.status_code, message)
    if exc.status_code in (404, 405):
        provider = dialect(path, request.headers)
        error = provider.not_found(request.method, path)
        error.status = exc.status_code
        return error_response(provider, error)
    return _error(request, ApiError(exc.status_code, str(exc.detail)))


def _internal_error(path: str) -> Response:
    message = "The server had an error while processing your request."
    if guard.is_control_plane(path):
        return admin.error_response(500, message)
    return error_response(dialect(path), ApiError(500, message))


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return _internal_error(request.url.path)


def _model_route(path: str, api: ApiModule, state: ServerState) -> Route:
    """The Starlette route of a model endpoint: reached only by methods other than POST
    (which ``ModelEndpoints`` answers first), so they get the API's own 405."""

    async def endpoint(request: Request) -> Any:
        return await pipeline.handle(api, request, state)

    return Route(path, endpoint, methods=["POST"], name=api.name)


def _v1_route(
    path: str, handler: Handler, method: str, state: ServerState, api_keys: list[str]
) -> Route:
    """A ``/v1/`` route besides the pipeline's, behind the API-key check when keys are set
    (the pipeline checks its own, so the journal records the 401)."""

    async def endpoint(request: Request) -> Any:
        if api_keys:
            try:
                keys.check_key(dialect(path, request.headers), request.headers, api_keys)
            except ApiError as error:
                return _error(request, error)
        return await handler(request, state)

    return Route(path, endpoint, methods=[method])


def _routes(state: ServerState, watcher: reload.Watcher) -> list[BaseRoute]:
    api_keys = state.settings.api_keys

    async def health(request: Request) -> JSONResponse:
        """``degraded`` while the scenario files on disk are bad (the previous catalog
        still serves), the file watcher has failed, or the shared state is lost;
        ``reload`` and ``state`` say which."""
        backend = state.backend
        body = {
            "status": "degraded" if watcher.degraded or backend.degraded else "ok",
            "version": __version__,
            "scenarios": len(state.catalog.scenarios),
            "instance_id": state.instance.id,
            "started_at": state.instance.started_at_iso,
            "reload": watcher.report(),
        }
        report = backend.report()
        if report is not None:
            body["state"] = report
        return JSONResponse(body)

    async def metrics(request: Request) -> Response:
        text = state.metrics.render(await state.gauges()) + state.counters_text()
        if state.engine is not None:
            text += state.engine.render_metrics()
        return Response(text, media_type=METRICS_CONTENT_TYPE)

    v1: list[tuple[str, str, Handler]] = [
        ("GET", "/v1/models", routes.list_models),
        ("GET", "/v1/models/{model:path}", routes.get_model),
        ("POST", "/v1/messages/count_tokens", routes.count_tokens),
        ("GET", "/v1/responses/{response_id}", routes.get_response),
        ("DELETE", "/v1/responses/{response_id}", routes.delete_response),
    ]
    return [
        *(_model_route(path, api, state) for path, api in ENDPOINTS.items()),
        *(_v1_route(path, handler, method, state, api_keys) for method, path, handler in v1),
        Route("/health", health, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *admin.routes(state),
        *ui.routes(),
    ]


METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ModelEndpoints:
    """``POST`` to the three model endpoints, answered without Starlette's router and
    middleware stack.

    These are the requests that stream, often thousands at once: every layer of that
    stack adds a coroutine frame that lives as long as the stream (about 4 KiB of the
    ~18 KiB an idle stream holds) and per-request work. Everything else goes through
    Starlette as usual.
    """

    def __init__(self, apis: dict[str, ApiModule], state: ServerState) -> None:
        self.apis = apis
        self.state = state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope["path"]
        try:
            response = await pipeline.handle(self.apis[path], Request(scope, receive), self.state)
        except Exception:
            logger.exception("unhandled error on POST %s", path)
            response = _internal_error(path)
        await response(scope, receive, send)


NO_CORS_PATHS = frozenset({"/metrics"})
"""Routes besides the control plane that no other origin may read: the metrics name every
scenario and count its traffic, and a scraper needs no CORS."""


class CORSExceptControlPlane(CORSMiddleware):
    """CORS for every route but the control plane and the metrics, which never answer
    another origin.

    A request without an ``Origin`` header (every SDK's) skips the middleware's reading of
    the request's headers: its response goes through the middleware's own ``send`` with
    no ``Origin``, which adds ``Vary: Origin`` and nothing else. At a few hundred streams
    opened a second that per-request work shows in the CPU a paced stream costs.
    """

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        # Lifespan scopes pass through here too, and they have no path.
        if scope["type"] == "http":
            if guard.is_control_plane(scope["path"]) or scope["path"] in NO_CORS_PATHS:
                await self.app(scope, receive, send)
                return
            if not any(name == b"origin" for name, _ in scope["headers"]):
                await self.app(
                    scope, receive, partial(self.send, send=send, request_headers=_NO_ORIGIN)
                )
                return
        await super().__call__(scope, receive, send)


_NO_ORIGIN = Headers(raw=[])
"""The request headers ``CORSMiddleware.send`` is given for a request without ``Origin``:
it only reads ``Origin`` from them."""


def _host(scope: dict) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return value.decode("latin-1")
    return None


def refusal(scope: dict, allowed_hosts: hosts.HostCheck) -> Response | None:
    """The answer to a request no route may see: a ``Host`` this server does not answer
    (on every route), or a control-plane request a web page may have sent."""
    path = scope["path"]
    control = guard.is_control_plane(path)
    host = _host(scope)
    if host is not None and not allowed_hosts.allowed(host):
        message = hosts.refusal_message(host)
        if control:
            return admin.error_response(400, message)
        return error_response(dialect(path, Headers(scope=scope)), ApiError(400, message))
    if control:
        return guard.refusal(scope["method"], scope["scheme"], Headers(scope=scope))
    return None


def _headers_too_large(scope: dict, settings: Settings) -> Response | None:
    """The 431 for a request whose headers exceed the budget, or None.

    Checked before anything reads or keeps the headers (the journal, the pipeline), so an
    oversized request costs only what uvicorn already spent parsing it. ``/v1/`` routes
    answer in their provider's error shape, the rest in the admin API's.
    """
    headers = scope["headers"]
    count = len(headers)
    size = sum(len(name) + len(value) for name, value in headers)
    if count <= settings.max_header_count and size <= settings.max_header_bytes:
        return None
    message = (
        f"Request header fields too large: {size} bytes in {count} headers; the limits are "
        f"{settings.max_header_bytes} bytes and {settings.max_header_count} headers."
    )
    path = scope["path"]
    if path.startswith("/v1/"):
        response = error_response(dialect(path, Headers(scope=scope)), ApiError(431, message))
    else:
        response = admin.error_response(431, message)
    response.headers["connection"] = "close"
    return response


class UnderstudyApp(Starlette):
    """Starlette, with model requests taken first by ``ModelEndpoints``.

    Every request is first checked by ``refusal`` (the ``Host`` header, and the
    control plane's refusal of web pages), before any route or middleware sees it.

    The server's own ``send`` is kept in the scope: model streams send their body
    messages with it (``understudy.stream.writer``), because every middleware wraps ``send`` and at
    tens of thousands of events a second those wrappers are a measurable share of the
    cost. The response start still goes through them, so CORS headers are added.
    """

    def __init__(
        self,
        *,
        model_endpoints: Callable,
        model_paths: set[str],
        allowed_hosts: hosts.HostCheck,
        settings: Settings,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_endpoints = model_endpoints
        self.model_paths = model_paths
        self.allowed_hosts = allowed_hosts
        self.settings = settings

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        refused = _headers_too_large(scope, self.settings) or refusal(scope, self.allowed_hosts)
        if refused is not None:
            await refused(scope, receive, send)
            return
        # uvicorn's send is a method of the object that holds the scope: keeping it in the
        # scope makes a reference cycle, so it is taken out again when the request ends,
        # and the request's objects are freed at once instead of by the garbage collector.
        scope[RAW_SEND] = send
        try:
            if scope["method"] == "POST" and scope["path"] in self.model_paths:
                scope["app"] = self
                await self.model_endpoints(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            del scope[RAW_SEND]


def address(host: str, port: int) -> str:
    """The base URL of a server listening on ``host`` and ``port``."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def log_startup(state: ServerState) -> None:
    """One line that says what this server serves, and where."""
    settings = state.settings
    count = len(state.catalog.scenarios)
    url = address(settings.host, settings.port)
    logger.info(
        "understudy %s serving %s from %s on %s",
        __version__,
        plural(count, "scenario"),
        ", ".join(settings.scenarios),
        url,
        extra=fields(version=__version__, scenarios=count, sources=settings.scenarios, url=url),
    )
    if not count:
        logger.warning(
            "no scenarios in %s: every model request gets a 404 until scenarios are added "
            "(scenario files there, or POST /_understudy/scenarios)",
            ", ".join(settings.scenarios),
            extra=fields(scenarios=0, sources=settings.scenarios),
        )


def lifespan(
    state: ServerState, watcher: reload.Watcher
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The app's lifespan: say what is served, run the scenario watcher, and stop quietly
    when uvicorn is forced to exit."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        log_startup(state)
        await state.backend.start()
        try:
            async with watcher.lifespan(app):
                yield
        except asyncio.CancelledError:
            # A second Ctrl-C makes uvicorn exit at once: it skips the lifespan's shutdown
            # and the event loop cancels the lifespan, which Starlette would report as a
            # failed shutdown with three tracebacks. One line says what happened instead.
            logger.warning("forced exit: open requests were cut off")
        finally:
            await state.backend.stop()

    return run


def create_app(settings: Settings | None = None, state: ServerState | None = None) -> Starlette:
    """Build the app; loading the catalog here makes a bad scenario file fail at start-up."""
    if state is None:
        state = ServerState.load(settings or Settings.from_env())
    settings = state.settings

    cors = {
        "allow_origins": settings.cors_origins,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "expose_headers": ["x-request-id", "request-id"],
    }
    watcher = reload.Watcher(state)
    model_endpoints: Callable = ModelEndpoints(ENDPOINTS, state)
    if settings.cors_origins:
        model_endpoints = CORSExceptControlPlane(model_endpoints, **cors)
    app = UnderstudyApp(
        model_endpoints=model_endpoints,
        model_paths=set(ENDPOINTS),
        allowed_hosts=hosts.HostCheck(settings.allowed_hosts, settings.host),
        settings=settings,
        routes=_routes(state, watcher),
        middleware=[Middleware(CORSExceptControlPlane, **cors)] if settings.cors_origins else [],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan(state, watcher),
    )
    app.state.understudy = state
    return app


def create_app_from_env() -> Starlette:
    """Factory for uvicorn (used with ``--workers``): settings come from the environment."""
    app = create_app(Settings.from_env())
    tune_garbage_collector()
    return app


def tune_garbage_collector() -> None:
    """Collect less often in a server process that holds thousands of streams.

    Every open stream keeps a few dozen objects alive, and each full collection walks all
    of them: with 500 paced streams the default thresholds cost a p99 inter-token error
    of ~30 ms, these ~20 ms (bench/README.md). Everything loaded at start-up is frozen out
    of collection; full collections still run every ~10^8 allocations, so reference
    cycles are reclaimed. Only the ``understudy serve`` process is tuned, never a process
    that embeds the app (the pytest plugin runs it inside the test process).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
