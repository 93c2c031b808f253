"""The admin API under ``/_understudy/``: journal, runtime scenarios, reset.

Modelled on WireMock's admin API. Every route takes an optional namespace, from the
``namespace`` query parameter or the ``X-Understudy-Namespace`` header (the query wins).
Without one, journal and reset routes act on every namespace and scenario routes on the
global namespace ``""``. Errors are ``{"error": {"message": ..., "details": [...]}}``.

``ROUTES``, at the end, is the one list of these routes: the Starlette routes and the
OpenAPI document are both built from it.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any

import orjson
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from understudy.control.openapi import document
from understudy.control.table import AdminRoute, Body, Handler, Param, Reply, ref
from understudy.core.request import NAMESPACE_HEADER
from understudy.http import keys
from understudy.providers import API_NAMES
from understudy.record.journal import parse_since
from understudy.scenarios import Scenario, ScenarioError, load_text
from understudy.state import ServerState

BODY_SOURCE = "<request>"


class AdminError(Exception):
    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def error_response(status: int, message: str, details: list[str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "details": details or []}}, status)


def namespace_of(request: Request) -> str | None:
    """The namespace named by the query or the header, or None for "not given"."""
    if "namespace" in request.query_params:
        return request.query_params["namespace"]
    return request.headers.get(NAMESPACE_HEADER)


def _count(value: str, name: str) -> int:
    """A non-negative integer query parameter, or the admin 400 that says so."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise AdminError(400, f"'{name}' must be a non-negative integer, not {value!r}")
    return number


# --- journal -------------------------------------------------------------------------


def _api_filter(request: Request) -> str | None:
    """The ``api`` filter, or the 400 naming the APIs (a typo would match nothing)."""
    api = request.query_params.get("api") or None
    if api is not None and api not in API_NAMES:
        raise AdminError(400, f"'api' must be one of {', '.join(API_NAMES)}, not {api!r}")
    return api


async def get_journal(request: Request, state: ServerState) -> Response:
    query = request.query_params
    since = None
    if query.get("since"):
        try:
            since = parse_since(query["since"])
        except ValueError:
            raise AdminError(
                400, f"'since' must be epoch seconds or an ISO 8601 time, not {query['since']!r}"
            ) from None
    calls = state.journal.calls(
        scenario=query.get("scenario"),
        api=_api_filter(request),
        namespace=namespace_of(request),
        since=since,
    )
    if query.get("limit"):
        limit = _count(query["limit"], "limit")
        calls = calls[len(calls) - limit :] if limit else []
    entries = [call.to_dict() for call in calls]
    return Response(orjson.dumps({"entries": entries}), media_type="application/json")


async def stream_journal(request: Request, state: ServerState) -> Response:
    """Journal entries live, as server-sent events, as their requests complete.

    Filters as for ``GET /journal`` (``namespace``, ``scenario``, ``api``). An admin
    stream is the kind sse-starlette serves well: it pings an idle connection and
    notices the client leaving.
    """
    query = request.query_params
    namespace = namespace_of(request)
    wanted = {
        "namespace": namespace,
        "scenario": query.get("scenario"),
        "api": _api_filter(request),
    }
    wanted = {key: value for key, value in wanted.items() if value is not None}

    async def entries() -> AsyncIterator[dict[str, str]]:
        with state.journal.watch() as queue:
            while True:
                call = await queue.get()
                if all(getattr(call, key) == value for key, value in wanted.items()):
                    yield {"event": "entry", "data": orjson.dumps(call.to_dict()).decode()}

    return EventSourceResponse(entries(), ping=15)


async def delete_journal(request: Request, state: ServerState) -> Response:
    removed = state.journal.clear(namespace_of(request))
    return JSONResponse({"removed": removed})


# --- scenarios -----------------------------------------------------------------------


def _describe(scenario: Scenario, source: str, namespace: str | None) -> dict[str, Any]:
    return {
        "name": scenario.name,
        "source": source,
        "namespace": namespace,
        "default": scenario.default,
        "definition": scenario.model_dump(mode="json", exclude_defaults=True),
    }


async def list_scenarios(request: Request, state: ServerState) -> Response:
    """Every scenario a request in this namespace can reach, highest priority first."""
    namespace = namespace_of(request) or ""
    listed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for layer, scenarios in state.runtime.layers(namespace):
        for scenario in scenarios:
            if scenario.name not in seen:
                seen.add(scenario.name)
                listed.append(_describe(scenario, "runtime", layer))
    for scenario in state.catalog.scenarios:
        if scenario.name not in seen:
            listed.append(_describe(scenario, "file", None))
    return JSONResponse({"namespace": namespace, "scenarios": listed})


def parse_scenarios(text: str, content_type: str) -> list[Scenario]:
    """Validate a request body exactly as a scenario file is validated."""
    try:
        return load_text(text, BODY_SOURCE)
    except ScenarioError as exc:
        if "json" not in content_type or "invalid YAML" not in exc.problems[0]:
            raise
        # JSON that YAML cannot read (tabs between tokens): validate the same data
        # re-encoded on one line, so field errors still come out.
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as json_error:
            raise ScenarioError([f"{BODY_SOURCE}:1: invalid JSON: {json_error}"]) from None
        return load_text(orjson.dumps(data).decode(), BODY_SOURCE)


async def add_scenarios(request: Request, state: ServerState) -> Response:
    namespace = namespace_of(request) or ""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AdminError(400, "The request body must be UTF-8 YAML or JSON.") from None
    content_type = request.headers.get("content-type", "")
    try:
        scenarios = parse_scenarios(text, content_type)
    except ScenarioError as exc:
        raise AdminError(400, f"Invalid scenario: {exc.problems[0]}", exc.problems) from None
    if not scenarios:
        raise AdminError(400, "The request body holds no scenario.")
    names = [scenario.name for scenario in scenarios]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems = [f"{BODY_SOURCE}: name: duplicate scenario name '{n}'" for n in duplicates]
        raise AdminError(400, f"Invalid scenario: {problems[0]}", problems)
    state.runtime.add(namespace, scenarios)
    for name in names:
        state.counters.forget(namespace, name)
    return JSONResponse({"namespace": namespace, "added": names}, status_code=201)


async def clear_scenarios(request: Request, state: ServerState) -> Response:
    namespace = namespace_of(request) or ""
    removed = [scenario.name for scenario in state.runtime.scenarios(namespace)]
    state.runtime.clear(namespace)
    for name in removed:
        state.counters.forget(namespace, name)
    return JSONResponse({"namespace": namespace, "removed": removed})


async def delete_scenario(request: Request, state: ServerState) -> Response:
    namespace = namespace_of(request) or ""
    name = request.path_params["name"]
    if not state.runtime.remove(namespace, name):
        if name in state.catalog.by_name:
            raise AdminError(
                409,
                f"Scenario '{name}' comes from a scenario file; only runtime scenarios can "
                "be deleted.",
            )
        raise AdminError(404, f"No runtime scenario '{name}' in namespace '{namespace}'.")
    state.counters.forget(namespace, name)
    return JSONResponse({"namespace": namespace, "removed": [name]})


# --- reset ---------------------------------------------------------------------------


async def reset(request: Request, state: ServerState) -> Response:
    """Forget one namespace (runtime scenarios, counters, journal, kept replies), or
    everything."""
    namespace = namespace_of(request)
    scenarios, entries = state.forget(namespace)
    return JSONResponse(
        {"namespace": namespace, "removed_scenarios": scenarios, "removed_entries": entries}
    )


async def openapi(request: Request, state: ServerState) -> Response:
    return JSONResponse(openapi_document())


# --- routing -------------------------------------------------------------------------


def _admin(handler: Handler, state: ServerState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if not keys.admin_allowed(request.headers, state.settings.admin_token):
            response = error_response(
                401, "This admin route needs the admin token: Authorization: Bearer <token>."
            )
            response.headers["www-authenticate"] = "Bearer"
            return response
        try:
            return await handler(request, state)
        except AdminError as error:
            return error_response(error.status, error.message, error.details)

    return endpoint


def routes(state: ServerState) -> list[Route]:
    return [
        Route(
            route.full_path,
            _admin(route.handler, state),
            methods=[route.method],
            name=route.handler.__name__,
        )
        for route in ROUTES
    ]


@cache
def openapi_document() -> dict[str, Any]:
    return document(ROUTES)


# --- the table -----------------------------------------------------------------------


def _error(description: str) -> Reply:
    return Reply(description, ref("AdminError"))


_CHANGED = Reply("What changed.", ref("Changed"))
_SCENARIO = Param("scenario", "Only requests answered by this scenario.")
_API = Param("api", "Only this API.", ref("ApiName"))

ROUTES: tuple[AdminRoute, ...] = (
    AdminRoute(
        "GET",
        "/journal",
        get_journal,
        "Completed model requests, oldest first",
        params=(
            _SCENARIO,
            _API,
            Param(
                "since",
                "Only requests that arrived at or after this time (epoch seconds or ISO 8601).",
            ),
            Param("limit", "Only the newest N entries.", {"type": "integer", "minimum": 0}),
        ),
        replies={
            200: Reply("The entries.", ref("Journal")),
            400: _error("A bad filter."),
        },
    ),
    AdminRoute(
        "DELETE",
        "/journal",
        delete_journal,
        "Clear the journal (of one namespace if given)",
        replies={200: _CHANGED},
    ),
    AdminRoute(
        "GET",
        "/journal/stream",
        stream_journal,
        "Journal entries live, as server-sent events (`event: entry`)",
        params=(_SCENARIO, _API),
        replies={
            200: Reply(
                "One event per completed request, pings when idle.",
                {"type": "string"},
                "text/event-stream",
            ),
            400: _error("A bad filter."),
        },
    ),
    AdminRoute(
        "GET",
        "/scenarios",
        list_scenarios,
        "The scenarios a request in the namespace can reach, by priority",
        replies={200: Reply("Runtime scenarios first, then files.", ref("ScenarioList"))},
    ),
    AdminRoute(
        "POST",
        "/scenarios",
        add_scenarios,
        "Add runtime scenarios (replacing any of the same names)",
        description="The body is validated exactly like a scenario file: one scenario, a "
        "list, or several YAML documents.",
        body=Body(
            "Scenarios in the scenario file format, as YAML or JSON.",
            {
                "application/json": {
                    "oneOf": [ref("Scenario"), {"type": "array", "items": ref("Scenario")}]
                },
                "application/yaml": {"type": "string"},
            },
        ),
        replies={
            201: _CHANGED,
            400: _error("The scenario is invalid; details name line and field."),
        },
    ),
    AdminRoute(
        "DELETE",
        "/scenarios",
        clear_scenarios,
        "Remove every runtime scenario of the namespace",
        replies={200: _CHANGED},
    ),
    AdminRoute(
        "DELETE",
        "/scenarios/{name:path}",
        delete_scenario,
        "Remove one runtime scenario",
        params=(Param("name", "The scenario's name.", location="path"),),
        replies={
            200: _CHANGED,
            404: _error("No such runtime scenario in the namespace."),
            409: _error("The scenario comes from a file."),
        },
    ),
    AdminRoute(
        "POST",
        "/reset",
        reset,
        "Forget a namespace's runtime scenarios, reply counters and journal "
        "(everything when no namespace is given)",
        replies={200: _CHANGED},
    ),
    AdminRoute(
        "GET",
        "/openapi.json",
        openapi,
        "This document",
        namespaced=False,
        replies={200: Reply("OpenAPI 3.1", {"type": "object"})},
    ),
)
