"""The admin API under ``/_understudy/``: journal, runtime scenarios, reset.

Modelled on WireMock's admin API. Every route takes an optional namespace, from the
``namespace`` query parameter or the ``X-Understudy-Namespace`` header (the query wins).
Without one, journal and reset routes act on every namespace and scenario routes on the
global namespace ``""``. Errors are ``{"error": {"message": ..., "details": [...]}}``.

``ROUTES``, at the end, is the one list of these routes: the Starlette routes and the
OpenAPI document are both built from it.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any

import orjson
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from understudy.control.openapi import document
from understudy.control.table import AdminRoute, Body, Handler, Param, Reply, ref
from understudy.core.request import NAMESPACE_HEADER
from understudy.http import keys
from understudy.http.body import read_body
from understudy.providers import API_NAMES
from understudy.record.journal import Journal, Watcher, WatcherDropped, parse_since
from understudy.scenarios import Scenario, ScenarioError, load_text
from understudy.scenarios.runtime import RuntimeLimitError
from understudy.state import ServerState
from understudy.state.backend import StateUnavailable
from understudy.stream.writer import cut_connection

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
    entries = await state.backend.entries(
        scenario=query.get("scenario"),
        api=_api_filter(request),
        namespace=namespace_of(request),
        since=since,
    )
    if query.get("limit"):
        limit = _count(query["limit"], "limit")
        entries = entries[len(entries) - limit :] if limit else []
    return Response(orjson.dumps({"entries": entries}), media_type="application/json")


async def get_entry(request: Request, state: ServerState) -> Response:
    """One entry, with its stream's timeline: when each event was due and went out."""
    given = request.path_params["id"]
    entry = await state.backend.entry(int(given)) if given.isascii() and given.isdigit() else None
    if entry is None:
        raise AdminError(404, f"No journal entry {given!r} (it may have fallen off the journal).")
    return Response(orjson.dumps(entry), media_type="application/json")


async def stream_journal(request: Request, state: ServerState) -> Response:
    """Journal entries live, as server-sent events, as their requests complete.

    Filters as for ``GET /journal`` (``namespace``, ``scenario``, ``api``). Each entry is
    encoded once for every reader; at most ``journal_subscribers`` readers at once, and a
    reader that stops reading is dropped (see ``JournalStream``).
    """
    query = request.query_params
    wanted = {
        "namespace": namespace_of(request),
        "scenario": query.get("scenario"),
        "api": _api_filter(request),
    }
    wanted = {key: value for key, value in wanted.items() if value is not None}
    settings = state.settings
    watcher = state.journal.subscribe(wanted, settings.journal_subscribers)
    if watcher is None:
        raise AdminError(
            503,
            f"Too many live journal streams: {settings.journal_subscribers} are open "
            "(setting journal_subscribers). Close one, or read GET /_understudy/journal.",
        )
    return JournalStream(state.journal, watcher, settings.journal_send_timeout)


class JournalStream(EventSourceResponse):
    """One live journal reader, dropped when it stops reading.

    A reader whose client takes longer than ``send_timeout`` to accept an event, or whose
    queue outgrows the journal (``Watcher``), has its connection cut; whatever happens, its
    queue is released when the response ends. sse-starlette pings an idle connection and
    notices the client leaving.
    """

    def __init__(self, journal: Journal, watcher: Watcher, send_timeout: float) -> None:
        super().__init__(_entry_events(watcher), ping=15, send_timeout=send_timeout)
        self.journal = journal
        self.watcher = watcher

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (SendTimeoutError, WatcherDropped):
            cut_connection()
        finally:
            self.journal.unsubscribe(self.watcher)


async def _entry_events(watcher: Watcher) -> AsyncIterator[bytes]:
    while True:
        yield b"event: entry\r\ndata: %s\r\n\r\n" % await watcher.get()


async def delete_journal(request: Request, state: ServerState) -> Response:
    removed = await state.backend.clear_journal(namespace_of(request))
    return JSONResponse({"removed": removed})


# --- scenarios -----------------------------------------------------------------------


def _describe(scenario: Scenario, source: str, namespace: str | None, hits: int) -> dict[str, Any]:
    return {
        "name": scenario.name,
        "source": source,
        "namespace": namespace,
        "default": scenario.default,
        "defined_at": scenario.defined_at,
        "hits": hits,
        "definition": scenario.model_dump(mode="json", exclude_defaults=True),
    }


async def list_scenarios(request: Request, state: ServerState) -> Response:
    """Every scenario a request in this namespace can reach, highest priority first."""
    namespace = namespace_of(request) or ""
    listed: list[dict[str, Any]] = []
    seen: set[str] = set()
    hits = await state.backend.hits(namespace)
    for layer, scenarios in state.runtime.layers(namespace):
        for scenario in scenarios:
            if scenario.name not in seen:
                seen.add(scenario.name)
                listed.append(_describe(scenario, "runtime", layer, hits.get(scenario.name, 0)))
    for scenario in state.catalog.scenarios:
        if scenario.name not in seen:
            listed.append(_describe(scenario, "file", None, hits.get(scenario.name, 0)))
    return JSONResponse({"namespace": namespace, "scenarios": listed})


def parse_scenarios(text: str, content_type: str) -> list[Scenario]:
    """Validate a request body exactly as a scenario file is validated: JSON (by its
    content type) with orjson, anything else as YAML."""
    media_type = content_type.partition(";")[0].strip().lower()
    syntax = "json" if media_type.endswith("json") else "yaml"
    return load_text(text, BODY_SOURCE, syntax)


async def add_scenarios(request: Request, state: ServerState) -> Response:
    namespace = namespace_of(request) or ""
    limit = state.settings.max_admin_body_bytes
    try:
        raw = await read_body(request, limit)
    except OverflowError:
        raise AdminError(
            413,
            f"The request body is larger than {limit} bytes, the limit for admin bodies "
            "(UNDERSTUDY_MAX_ADMIN_BODY_BYTES).",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AdminError(400, "The request body must be UTF-8 YAML or JSON.") from None
    content_type = request.headers.get("content-type", "")
    try:
        # In a thread: a large body takes a while to read and validate, and every stream
        # shares this event loop.
        scenarios = await asyncio.to_thread(parse_scenarios, text, content_type)
    except ScenarioError as exc:
        raise AdminError(400, f"Invalid scenario: {exc.problems[0]}", exc.problems) from None
    if not scenarios:
        raise AdminError(400, "The request body holds no scenario.")
    names = [scenario.name for scenario in scenarios]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems = [f"{BODY_SOURCE}: name: duplicate scenario name '{n}'" for n in duplicates]
        raise AdminError(400, f"Invalid scenario: {problems[0]}", problems)
    try:
        await state.backend.add_scenarios(namespace, scenarios, len(raw))
    except RuntimeLimitError as exc:
        raise AdminError(409, str(exc)) from None
    return JSONResponse({"namespace": namespace, "added": names}, status_code=201)


async def clear_scenarios(request: Request, state: ServerState) -> Response:
    namespace = namespace_of(request) or ""
    removed = await state.backend.clear_scenarios(namespace)
    state.scenarios_removed(removed)
    return JSONResponse({"namespace": namespace, "removed": removed})


async def delete_scenario(request: Request, state: ServerState) -> Response:
    namespace = namespace_of(request) or ""
    name = request.path_params["name"]
    if not await state.backend.remove_scenario(namespace, name):
        if name in state.catalog.by_name:
            raise AdminError(
                409,
                f"Scenario '{name}' comes from a scenario file; only runtime scenarios can "
                "be deleted.",
            )
        raise AdminError(404, f"No runtime scenario '{name}' in namespace '{namespace}'.")
    state.scenarios_removed([name])
    return JSONResponse({"namespace": namespace, "removed": [name]})


# --- reset ---------------------------------------------------------------------------


async def reset(request: Request, state: ServerState) -> Response:
    """Forget one namespace (runtime scenarios, counters, journal, kept replies), or
    everything."""
    namespace = namespace_of(request)
    scenarios, entries = await state.forget(namespace)
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
        except StateUnavailable as error:
            return error_response(503, str(error))

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
            503: _error("Too many live journal streams are open (`journal_subscribers`)."),
        },
    ),
    AdminRoute(
        "GET",
        "/journal/{id}",
        get_entry,
        "One journal entry, with its stream's timeline",
        description="`timeline` holds millisecond offsets from the request's arrival: when "
        "each of the first events was due and was sent, stalls, keep-alives and a "
        "deliberate cut. It is null for a reply that was not a stream, and for an instant "
        "stream without faults.",
        namespaced=False,
        params=(
            Param(
                "id", "The entry's id.", {"type": "string", "pattern": "^[0-9]+$"}, location="path"
            ),
        ),
        replies={
            200: Reply("The entry.", ref("JournalDetail")),
            404: _error("No such entry (any more)."),
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
            413: _error("The body is larger than the admin body limit."),
            409: _error(
                "A runtime-scenario cap would be passed (per namespace, in all, or in bytes)."
            ),
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
