"""What an OpenAI request asks the reply to follow: tool schemas, tool choice, JSON output.

Read leniently, after the body was checked: a shape this module does not know simply
asks for nothing, so ``arguments: auto`` and ``content: {json: auto}`` fall back to an
empty schema rather than refusing a request the real API accepts.
"""

from typing import Any

from understudy.core.request import OutputFormat, ToolChoice

Follow = dict[str, Any]
"""Keyword arguments for ``NeutralRequest``: tool_schemas, tool_choice, forced_tool, output."""


def _schema(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _choice(raw: Any, name_of) -> tuple[ToolChoice, str | None]:
    """``"none" | "auto" | "required"`` or an object naming one tool."""
    if raw in ("none", "auto", "required"):
        return raw, None
    if isinstance(raw, dict):
        if raw.get("type") == "allowed_tools":
            return ("required" if raw.get("mode") == "required" else "auto"), None
        name = name_of(raw)
        if isinstance(name, str) and name:
            return "tool", name
    return "auto", None


def _output(raw: Any, inner: Any) -> OutputFormat | None:
    """A ``json_schema``/``json_object`` format; ``inner`` holds the schema's name and flags."""
    if not isinstance(raw, dict):
        return None
    if raw.get("type") == "json_object":
        return OutputFormat()
    if raw.get("type") != "json_schema" or not isinstance(inner, dict):
        return None
    name = inner.get("name")
    return OutputFormat(
        _schema(inner.get("schema")),
        name if isinstance(name, str) else "",
        inner.get("strict") is True,
    )


def chat_follow(body: dict[str, Any]) -> Follow:
    """Chat Completions: ``tools[].function.parameters`` (and the legacy ``functions``),
    ``tool_choice`` (or ``function_call``) and ``response_format``."""
    schemas: dict[str, Any] = {}
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            schemas[function["name"]] = _schema(function.get("parameters"))
    for function in body.get("functions") or ():
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            schemas.setdefault(function["name"], _schema(function.get("parameters")))
    raw_choice = body.get("tool_choice", body.get("function_call"))
    choice, forced = _choice(
        raw_choice,
        lambda raw: (
            (raw.get("function") or {}).get("name")
            if isinstance(raw.get("function"), dict)
            else raw.get("name")
        ),
    )
    response_format = body.get("response_format")
    inner = response_format.get("json_schema") if isinstance(response_format, dict) else None
    return {
        "tool_schemas": schemas,
        "tool_choice": choice,
        "forced_tool": forced,
        "output": _output(response_format, inner),
    }


def responses_follow(body: dict[str, Any]) -> Follow:
    """Responses: flat function tools' ``parameters``, ``tool_choice`` and ``text.format``."""
    schemas = {
        tool["name"]: _schema(tool.get("parameters"))
        for tool in body.get("tools") or ()
        if isinstance(tool, dict)
        and tool.get("type") == "function"
        and isinstance(tool.get("name"), str)
    }
    choice, forced = _choice(
        body.get("tool_choice"),
        lambda raw: raw.get("name") if raw.get("type") == "function" else None,
    )
    text = body.get("text")
    text_format = text.get("format") if isinstance(text, dict) else None
    return {
        "tool_schemas": schemas,
        "tool_choice": choice,
        "forced_tool": forced,
        "output": _output(text_format, text_format),
    }
