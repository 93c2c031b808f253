"""The parts of a reply that follow the request: ``auto`` tool calls, ``{json: auto}``
content and ``{{ variable }}`` templates, resolved once per request.

Generated values are seeded by the delivery's ``seed`` or, without one, by a hash of
the conversation, so a replayed request gets the same arguments in every API.
"""

import hashlib
import json
from typing import Any

from understudy.core.errors import ApiError
from understudy.core.request import NAMESPACE_HEADER, NeutralRequest
from understudy.plan.generate import DEFAULT_BUDGET, TooLarge, Unsatisfiable, generate
from understudy.scenarios import template
from understudy.scenarios.schema import AUTO, ToolCallSpec

TextSpec = str | list[str] | None


def seed_of(request: NeutralRequest, seed: int | None) -> int:
    """The delivery's seed, else a stable hash of what the request says."""
    if seed is not None:
        return seed
    said = [request.model, request.system, [m.text for m in request.messages], request.tools]
    digest = hashlib.blake2b(json.dumps(said).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def tool_name(request: NeutralRequest, spec: ToolCallSpec) -> str:
    """``name: auto``: the forced tool, else the first offered not yet called, else the
    first offered."""
    if spec.name != AUTO:
        return spec.name
    if request.tool_choice == "tool" and request.forced_tool:
        return request.forced_tool
    offered = list(request.tool_schemas)
    if not offered:
        raise ApiError(
            400,
            "The scenario answers with a tool call 'name: auto', but the request offers no "
            "function tools to choose from.",
            code="understudy_no_tools",
        )
    called = request.called_tools
    return next((name for name in offered if name not in called), offered[0])


def arguments(
    request: NeutralRequest, spec: ToolCallSpec, name: str, seed: int, budget: int
) -> str:
    """The call's arguments on the wire; ``auto`` ones generated from the tool's schema."""
    if spec.arguments != AUTO:
        return spec.arguments_text()
    schema = request.tool_schemas.get(name) or {}
    if "type" not in schema:
        schema = {**schema, "type": "object"}
    return _dumps(_generate(schema, seed, budget, f"tool '{name}' parameters"))


def json_content(request: NeutralRequest, seed: int, budget: int) -> str:
    """``content: {json: auto}``: JSON valid for the requested schema (``{}`` without one)."""
    output = request.output
    schema = output.schema if output is not None and output.schema else {"type": "object"}
    return _dumps(_generate(schema, seed, budget, "response format schema"))


def _generate(schema: Any, seed: int, budget: int, what: str) -> Any:
    try:
        return generate(schema, seed, budget=budget)
    except TooLarge as error:
        raise ApiError(
            400,
            f"Understudy cannot generate a value for the {what}: {error} "
            f"(UNDERSTUDY_AUTO_MAX_SIZE={budget}).",
            code="understudy_schema_too_large",
        ) from None
    except Unsatisfiable as error:
        raise ApiError(
            400,
            f"Understudy cannot generate a value for the {what}: {error}.",
            code="understudy_schema_unsatisfiable",
        ) from None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def variable(request: NeutralRequest, name: str) -> str:
    """The value of one template variable, as text."""
    if name.startswith("request."):
        value = template.field_of(request.body, name.removeprefix("request."))
    elif name == "namespace":
        value = request.headers.get(NAMESPACE_HEADER, "")
    else:
        value = getattr(request, name)
    if value is None:
        return ""
    return value if isinstance(value, str) else _dumps(value)


def render(request: NeutralRequest, value: TextSpec) -> TextSpec:
    """Text or chunks with their templates filled in."""
    if value is None:
        return None

    def fill(text: str) -> str:
        if not template.has_holes(text):
            return text
        return template.render(text, lambda name: variable(request, name))

    return fill(value) if isinstance(value, str) else [fill(chunk) for chunk in value]


__all__ = ["DEFAULT_BUDGET", "arguments", "json_content", "render", "seed_of", "tool_name"]
