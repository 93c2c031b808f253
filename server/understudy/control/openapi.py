"""The OpenAPI 3.1 document for the admin routes, served at ``/_understudy/openapi.json``.

The scenario schema is the same pydantic model that validates scenario files, so the
document cannot drift from what ``POST /_understudy/scenarios`` accepts.
"""

from functools import cache
from typing import Any

from understudy._version import __version__
from understudy.scenarios.schema import Scenario

_NAMESPACE_QUERY = {
    "name": "namespace",
    "in": "query",
    "required": False,
    "description": "Namespace to act on; overrides the X-Understudy-Namespace header.",
    "schema": {"type": "string"},
}
_NAMESPACE_HEADER = {
    "name": "X-Understudy-Namespace",
    "in": "header",
    "required": False,
    "description": "Namespace to act on (the same header scopes model requests).",
    "schema": {"type": "string"},
}
_NAMESPACE = [_NAMESPACE_QUERY, _NAMESPACE_HEADER]


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


def _error(description: str) -> dict[str, Any]:
    return _json("AdminError", description)


_UNAUTHORIZED = _error("The admin token is configured and was not sent as a bearer token.")

_ENTRY = {
    "type": "object",
    "description": "One completed model request.",
    "properties": {
        "id": {"type": "integer", "description": "Increasing per server, in arrival order."},
        "request_id": {"type": "string", "description": "The request id sent to the client."},
        "time": {"type": "string", "format": "date-time"},
        "timestamp": {"type": "number", "description": "Arrival, epoch seconds."},
        "api": {"enum": ["chat", "messages", "responses"]},
        "method": {"type": "string"},
        "path": {"type": "string"},
        "query": {"type": "string"},
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Lower-case names; credentials are redacted.",
        },
        "body": {"description": "The parsed JSON body, or the (truncated) text if not JSON."},
        "namespace": {"type": "string"},
        "scenario": {"type": ["string", "null"]},
        "reply_index": {"type": ["integer", "null"]},
        "status": {"type": "integer"},
        "error": {"type": ["string", "null"], "description": "The error message answered."},
        "near_misses": {
            "type": ["array", "null"],
            "description": "No scenario matched: the closest ones and their failed conditions.",
            "items": {
                "type": "object",
                "properties": {
                    "scenario": {"type": "string"},
                    "failed": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "stream": {"type": "boolean"},
        "events_sent": {"type": ["integer", "null"]},
        "bytes_sent": {"type": ["integer", "null"]},
        "completed": {"type": "boolean", "description": "The reply was sent to its end."},
        "disconnected": {"type": "boolean", "description": "The client left mid-stream."},
        "disconnected_after_event": {
            "type": ["integer", "null"],
            "description": "How many events had been sent when the client left.",
        },
        "fault": {"type": ["string", "null"], "description": "The fault injected, if any."},
        "ttft_ms": {"type": ["number", "null"]},
        "duration_ms": {"type": "number"},
    },
}

_LISTED_SCENARIO = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "source": {"enum": ["runtime", "file"]},
        "namespace": {"type": ["string", "null"]},
        "default": {"type": "boolean"},
        "definition": {"$ref": "#/components/schemas/Scenario"},
    },
}


def _components() -> dict[str, Any]:
    scenario = Scenario.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = scenario.pop("$defs", {})
    return {
        "Scenario": scenario,
        **definitions,
        "JournalEntry": _ENTRY,
        "Journal": {
            "type": "object",
            "properties": {
                "entries": {"type": "array", "items": {"$ref": "#/components/schemas/JournalEntry"}}
            },
        },
        "ScenarioList": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "scenarios": {"type": "array", "items": _LISTED_SCENARIO},
            },
        },
        "Changed": {
            "type": "object",
            "properties": {
                "namespace": {"type": ["string", "null"]},
                "added": {"type": "array", "items": {"type": "string"}},
                "removed": {
                    "oneOf": [
                        {"type": "integer"},
                        {"type": "array", "items": {"type": "string"}},
                    ]
                },
                "removed_scenarios": {"type": "integer"},
                "removed_entries": {"type": "integer"},
            },
        },
        "AdminError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "details"],
                    "properties": {
                        "message": {"type": "string"},
                        "details": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "For scenarios: 'source:line: field: message'.",
                        },
                    },
                }
            },
        },
    }


def _paths() -> dict[str, Any]:
    changed = _json("Changed", "What changed.")
    return {
        "/_understudy/journal": {
            "get": {
                "summary": "Completed model requests, oldest first",
                "parameters": [
                    *_NAMESPACE,
                    _query("scenario", "Only requests answered by this scenario."),
                    _query("api", "Only this API.", {"enum": ["chat", "messages", "responses"]}),
                    _query(
                        "since",
                        "Only requests that arrived at or after this time "
                        "(epoch seconds or ISO 8601).",
                    ),
                    _query("limit", "Only the newest N entries.", {"type": "integer"}),
                ],
                "responses": {
                    "200": _json("Journal", "The entries."),
                    "400": _error("A bad filter."),
                    "401": _UNAUTHORIZED,
                },
            },
            "delete": {
                "summary": "Clear the journal (of one namespace if given)",
                "parameters": _NAMESPACE,
                "responses": {"200": changed, "401": _UNAUTHORIZED},
            },
        },
        "/_understudy/journal/stream": {
            "get": {
                "summary": "Journal entries live, as server-sent events (`event: entry`)",
                "parameters": [
                    *_NAMESPACE,
                    _query("scenario", "Only requests answered by this scenario."),
                    _query("api", "Only this API.", {"enum": ["chat", "messages", "responses"]}),
                ],
                "responses": {
                    "200": {
                        "description": "One event per completed request, pings when idle.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "401": _UNAUTHORIZED,
                },
            },
        },
        "/_understudy/scenarios": {
            "get": {
                "summary": "The scenarios a request in the namespace can reach, by priority",
                "parameters": _NAMESPACE,
                "responses": {
                    "200": _json("ScenarioList", "Runtime scenarios first, then files."),
                    "401": _UNAUTHORIZED,
                },
            },
            "post": {
                "summary": "Add runtime scenarios (replacing any of the same names)",
                "description": "The body is validated exactly like a scenario file: one "
                "scenario, a list, or several YAML documents.",
                "parameters": _NAMESPACE,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Scenario"}},
                        "application/yaml": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "201": changed,
                    "400": _error("The scenario is invalid; details name line and field."),
                    "401": _UNAUTHORIZED,
                },
            },
            "delete": {
                "summary": "Remove every runtime scenario of the namespace",
                "parameters": _NAMESPACE,
                "responses": {"200": changed, "401": _UNAUTHORIZED},
            },
        },
        "/_understudy/scenarios/{name}": {
            "delete": {
                "summary": "Remove one runtime scenario",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    *_NAMESPACE,
                ],
                "responses": {
                    "200": changed,
                    "404": _error("No such runtime scenario in the namespace."),
                    "409": _error("The scenario comes from a file."),
                    "401": _UNAUTHORIZED,
                },
            },
        },
        "/_understudy/reset": {
            "post": {
                "summary": "Forget a namespace's runtime scenarios, reply counters and journal "
                "(everything when no namespace is given)",
                "parameters": _NAMESPACE,
                "responses": {"200": changed, "401": _UNAUTHORIZED},
            },
        },
        "/_understudy/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1"}, "401": _UNAUTHORIZED},
            },
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Understudy admin API",
            "version": __version__,
            "description": "Request journal, runtime scenarios and namespaces for tests.",
        },
        "components": {
            "schemas": _components(),
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"adminToken": []}],
        "paths": _paths(),
    }
