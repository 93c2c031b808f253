"""The words an admin route table is written in.

One entry says everything about one admin operation: where it is, what handles it, and
what it takes and answers. The Starlette routes (``admin.routes``) and the OpenAPI
document (``openapi.document``) are both built from the same entries, so a route cannot
be served without being described, nor described without being served.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from understudy.state import ServerState

PREFIX = "/_understudy"

Handler = Callable[[Request, ServerState], Awaitable[Response]]
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to one of the document's named schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True)
class Param:
    """A query parameter, or a path parameter named in the route's path."""

    name: str
    description: str
    schema: Schema = field(default_factory=lambda: {"type": "string"})
    location: Literal["query", "path"] = "query"


@dataclass(frozen=True)
class Body:
    """A request body, by media type."""

    description: str
    content: dict[str, Schema]


@dataclass(frozen=True)
class Reply:
    """One response status; ``schema`` None means the response has no documented body."""

    description: str
    schema: Schema | None = None
    media_type: str = "application/json"


@dataclass(frozen=True)
class AdminRoute:
    """One admin operation: a method on a path under ``PREFIX``.

    ``path`` uses Starlette's syntax (``{name:path}``). ``namespaced`` says the route reads
    the namespace from the query or the ``X-Understudy-Namespace`` header. Every admin
    route may also answer 401; that reply is added for all of them, because the token
    check wraps every handler.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    replies: dict[int, Reply]
    description: str | None = None
    params: tuple[Param, ...] = ()
    namespaced: bool = True
    body: Body | None = None

    @property
    def full_path(self) -> str:
        return PREFIX + self.path
