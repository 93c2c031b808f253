"""The OpenAPI 3.1 document for the admin routes, served at ``/_understudy/openapi.json``.

``paths`` is built from the admin route table, the same entries the Starlette routes are
built from. The scenario schema is the pydantic model that validates scenario files, and
the API names are those the scenario format accepts, so the document cannot drift from
what the server does.
"""

from collections.abc import Sequence
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from starlette.routing import compile_path

from understudy._version import __version__
from understudy.control.table import AdminRoute, Param, Reply, ref
from understudy.providers import API_NAMES
from understudy.scenarios.schema import Scenario

_NAMESPACE = [
    {
        "name": "namespace",
        "in": "query",
        "required": False,
        "description": "Namespace to act on; overrides the X-Understudy-Namespace header.",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Understudy-Namespace",
        "in": "header",
        "required": False,
        "description": "Namespace to act on (the same header scopes model requests).",
        "schema": {"type": "string"},
    },
]

_UNAUTHORIZED = Reply(
    "The admin token is configured and was not sent as a bearer token.", ref("AdminError")
)

_ENTRY = {
    "type": "object",
    "description": "One completed model request.",
    "properties": {
        "id": {"type": "integer", "description": "Increasing per server, in arrival order."},
        "request_id": {"type": "string", "description": "The request id sent to the client."},
        "time": {"type": "string", "format": "date-time"},
        "timestamp": {"type": "number", "description": "Arrival, epoch seconds."},
        "api": ref("ApiName"),
        "method": {"type": "string"},
        "path": {"type": "string"},
        "query": {"type": "string"},
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Lower-case names; credentials are redacted; each value cut to "
            "`journal_header_bytes` with a `...[N more bytes]` marker.",
        },
        "body": {
            "description": "The JSON body (over `journal_body_bytes`, a copy whose long "
            "strings and lists are cut with `...[N more ...]` markers), or the start of the "
            "text if not JSON."
        },
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
        "thread_id": {
            "type": ["string", "null"],
            "description": "The Anthropic message thread: the id of its first reply.",
        },
        "ttft_ms": {"type": ["number", "null"]},
        "duration_ms": {"type": "number"},
    },
}

_MS_LIST = {"type": "array", "items": {"type": "number"}}

_TIMELINE = {
    "type": ["object", "null"],
    "description": "Millisecond offsets from the request's arrival.",
    "properties": {
        "limit": {"type": "integer", "description": "At most this many events are recorded."},
        "sent_ms": {**_MS_LIST, "description": "When each event was sent."},
        "due_ms": {**_MS_LIST, "description": "When each was due (empty if unpaced)."},
        "pauses": {
            "type": "array",
            "description": "Stalls and scripted waits.",
            "items": {
                "type": "object",
                "properties": {
                    "after_events": {"type": "integer"},
                    "start_ms": {"type": "number"},
                    "end_ms": {"type": "number"},
                },
            },
        },
        "keepalives_ms": _MS_LIST,
        "cut_ms": {"type": ["number", "null"], "description": "A disconnect fault cut here."},
        "end_ms": {"type": "number", "description": "The stream ended (or the client left)."},
    },
}

_LISTED_SCENARIO = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "source": {"enum": ["runtime", "file"]},
        "namespace": {"type": ["string", "null"]},
        "default": {"type": "boolean"},
        "defined_at": {
            "type": ["string", "null"],
            "description": "file:line of its name (`<request>:line` for runtime scenarios).",
        },
        "hits": {"type": "integer", "description": "Requests in the namespace it answered."},
        "definition": ref("Scenario"),
    },
}


class _WithoutNullDefaults(GenerateJsonSchema):
    """Pydantic's schemas, less ``"default": null``.

    A null default only says a field may be left out, which ``required`` already says.
    """

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        return json_schema


def _components() -> dict[str, Any]:
    scenario = Scenario.model_json_schema(
        ref_template="#/components/schemas/{model}", schema_generator=_WithoutNullDefaults
    )
    definitions = {"Scenario": scenario, **scenario.pop("$defs", {})}
    ours = {
        "ApiName": {"enum": list(API_NAMES), "description": "A model API."},
        "JournalEntry": _ENTRY,
        "JournalDetail": {
            "allOf": [
                ref("JournalEntry"),
                {"type": "object", "properties": {"timeline": _TIMELINE}},
            ]
        },
        "Journal": {
            "type": "object",
            "properties": {
                "entries": {"type": "array", "items": ref("JournalEntry")},
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
    if clash := definitions.keys() & ours.keys():
        raise ValueError(f"scenario models and admin schemas share the names {sorted(clash)}")
    return {**definitions, **ours}


def _parameter(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.location,
        "required": param.location == "path",
        "description": param.description,
        "schema": param.schema,
    }


def _response(reply: Reply) -> dict[str, Any]:
    response: dict[str, Any] = {"description": reply.description}
    if reply.schema is not None:
        response["content"] = {reply.media_type: {"schema": reply.schema}}
    return response


def _operation(route: AdminRoute) -> dict[str, Any]:
    in_path = [param for param in route.params if param.location == "path"]
    in_query = [param for param in route.params if param.location == "query"]
    named = set(compile_path(route.path)[2])
    if named != {param.name for param in in_path}:
        raise ValueError(f"{route.method} {route.path}: describe exactly its path parameters")
    operation: dict[str, Any] = {"operationId": route.handler.__name__, "summary": route.summary}
    if route.description:
        operation["description"] = route.description
    parameters = [
        *map(_parameter, in_path),
        *(_NAMESPACE if route.namespaced else []),
        *map(_parameter, in_query),
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        operation["requestBody"] = {
            "description": route.body.description,
            "required": True,
            "content": {kind: {"schema": schema} for kind, schema in route.body.content.items()},
        }
    # The token check wraps every handler, so every route may answer 401.
    replies = {**route.replies, 401: _UNAUTHORIZED}
    operation["responses"] = {str(status): _response(reply) for status, reply in replies.items()}
    return operation


def paths(table: Sequence[AdminRoute]) -> dict[str, dict[str, Any]]:
    """The document's ``paths``: one operation per table entry, under OpenAPI's path syntax."""
    found: dict[str, dict[str, Any]] = {}
    for route in table:
        path = compile_path(route.full_path)[1]
        operations = found.setdefault(path, {})
        method = route.method.lower()
        if method in operations:
            raise ValueError(f"{route.method} {route.path} is in the table twice")
        operations[method] = _operation(route)
    return found


def document(table: Sequence[AdminRoute]) -> dict[str, Any]:
    """The whole document: ``paths`` from ``table``, and the schemas they refer to."""
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
        "paths": paths(table),
    }
