"""What a Messages request asks the reply to follow: tool schemas, tool choice, JSON output.

Structured output arrives as ``output_config.format`` (what the current SDK's
``messages.parse`` sends) or the earlier beta's top-level ``output_format``, both
``{"type": "json_schema", "schema": {...}}``; Anthropic always holds the reply to it.
"""

from typing import Any

from understudy.core.request import OutputFormat, ToolChoice

_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "any": "required", "none": "none"}


def messages_follow(body: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``NeutralRequest``: tool_schemas, tool_choice, forced_tool, output."""
    schemas = {
        tool["name"]: tool["input_schema"] if isinstance(tool.get("input_schema"), dict) else {}
        for tool in body.get("tools") or ()
        if isinstance(tool, dict)
        and tool.get("type") in (None, "custom")
        and isinstance(tool.get("name"), str)
    }
    raw = body.get("tool_choice")
    choice: ToolChoice = "auto"
    forced = None
    if isinstance(raw, dict):
        if raw.get("type") == "tool" and isinstance(raw.get("name"), str):
            choice, forced = "tool", raw["name"]
        else:
            choice = _CHOICES.get(raw.get("type"), "auto")
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    output = None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        output = OutputFormat(schema if isinstance(schema, dict) else {}, strict=True)
    return {"tool_schemas": schemas, "tool_choice": choice, "forced_tool": forced, "output": output}
