"""Responses request bodies: ``input`` items, tools and options.

Validation answers in OpenAI's wording through ``fields``; the conversation becomes
neutral turns so the same scenarios match Responses, Chat and Messages alike.
"""

from typing import Any

from understudy.core.errors import ApiError
from understudy.core.request import Message
from understudy.providers.openai import fields

ROLES = ("user", "assistant", "system", "developer")
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")
# Built-in tool items: accepted in ``input`` but not part of the neutral conversation.
BUILT_IN_ITEM_TYPES = (
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "web_search_call",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "custom_tool_call",
    "custom_tool_call_output",
    "compaction",
)
TOOL_CHOICES = ("none", "auto", "required")
TRUNCATIONS = ("auto", "disabled")
MIN_OUTPUT_TOKENS = 16  # OpenAPI ``CreateResponse.max_output_tokens`` minimum


def _assistant(messages: list[Message], current: Message | None) -> Message:
    """The open assistant turn, or a new one: a turn's items arrive one after another."""
    if current is not None:
        return current
    turn = Message("assistant")
    messages.append(turn)
    return turn


def conversation(items: list[Any]) -> tuple[list[str], list[Message]]:
    """System texts and neutral turns from ``input`` items.

    Consecutive assistant-side items (an assistant message, ``function_call`` items,
    ``reasoning`` items) are one assistant turn, as they are one response's output;
    ``function_call_output`` items are tool results.
    """
    system: list[str] = []
    messages: list[Message] = []
    turn: Message | None = None
    for index, raw in enumerate(items):
        param = f"input[{index}]"
        if not isinstance(raw, dict):
            raise fields.wrong_type(param, "an object", raw)
        kind = fields.get(raw, "type", "a string", param=f"{param}.type")
        if kind is None:
            if "role" not in raw:
                raise fields.missing(f"{param}.type")
            kind = "message"
        if kind == "message":
            role = fields.get(raw, "role", "a string", param=f"{param}.role", required=True)
            if role not in ROLES:
                raise fields.invalid_value(f"{param}.role", role, ROLES)
            content = fields.get(
                raw, "content", "a string", "an array", param=f"{param}.content", required=True
            )
            text = fields.text_of(content)
            if role in ("system", "developer"):
                system.append(text)
            elif role == "assistant":
                turn = _assistant(messages, turn)
                turn.text = f"{turn.text}\n{text}" if turn.text else text
            else:
                messages.append(Message("user", text))
                turn = None
        elif kind == "function_call":
            for key in ("call_id", "arguments"):
                fields.get(raw, key, "a string", param=f"{param}.{key}", required=True)
            name = fields.get(raw, "name", "a string", param=f"{param}.name", required=True)
            turn = _assistant(messages, turn)
            turn.tool_calls = (*turn.tool_calls, name)
        elif kind == "function_call_output":
            fields.get(raw, "call_id", "a string", param=f"{param}.call_id", required=True)
            output = fields.get(
                raw, "output", "a string", "an array", param=f"{param}.output", required=True
            )
            messages.append(Message("tool", fields.text_of(output), tool_result=True))
            turn = None
        elif kind == "reasoning":
            turn = _assistant(messages, turn)
        elif kind == "item_reference":
            fields.get(raw, "id", "a string", param=f"{param}.id", required=True)
        elif kind not in BUILT_IN_ITEM_TYPES:
            raise fields.invalid_value(f"{param}.type", kind, ITEM_TYPES + BUILT_IN_ITEM_TYPES)
    return system, messages


def tools_of(raw: Any) -> tuple[list[Any], tuple[str, ...]]:
    """Tools as the Response object echoes them, and the function names offered.

    Function tools are flat (``{"type": "function", "name": ...}``);
    built-in tools are echoed as sent and offer no function name.
    """
    if raw is None:
        return [], ()
    if not isinstance(raw, list):
        raise fields.wrong_type("tools", "an array", raw)
    echoed: list[Any] = []
    names: list[str] = []
    for index, tool in enumerate(raw):
        param = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise fields.wrong_type(param, "an object", tool)
        kind = fields.get(tool, "type", "a string", param=f"{param}.type", required=True)
        if kind != "function":
            echoed.append(tool)
            continue
        name = fields.get(tool, "name", "a string", param=f"{param}.name", required=True)
        strict = fields.get(tool, "strict", "a boolean", param=f"{param}.strict")
        names.append(name)
        echoed.append(
            {
                "type": "function",
                "name": name,
                "description": fields.get(
                    tool, "description", "a string", param=f"{param}.description"
                ),
                "parameters": fields.get(
                    tool, "parameters", "an object", param=f"{param}.parameters"
                ),
                "strict": True if strict is None else strict,
            }
        )
    return echoed, tuple(names)


def check_options(body: dict[str, Any]) -> None:
    """Type checks for the fields that are only echoed back."""
    for key in ("stream", "store", "background", "parallel_tool_calls"):
        fields.get(body, key, "a boolean")
    for key in ("temperature", "top_p"):
        fields.get(body, key, "a number")
    for key in ("user", "safety_identifier", "prompt_cache_key", "service_tier"):
        fields.get(body, key, "a string")
    for key in ("reasoning", "text"):
        fields.get(body, key, "an object")
    fields.get(body, "include", "an array")
    fields.positive_int(body, "max_tool_calls")
    fields.positive_int(body, "top_logprobs", minimum=0)
    fields.choice(body, "truncation", TRUNCATIONS)
    tool_choice = fields.get(body, "tool_choice", "a string", "an object")
    if isinstance(tool_choice, str):
        fields.choice(body, "tool_choice", TOOL_CHOICES)
    metadata = fields.get(body, "metadata", "an object") or {}
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise fields.wrong_type(f"metadata.{key}", "a string", value)
    options = fields.get(body, "stream_options", "an object") or {}
    fields.get(
        options, "include_obfuscation", "a boolean", param="stream_options.include_obfuscation"
    )


def previous_not_found(response_id: str) -> ApiError:
    return ApiError(
        400,
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def not_found(response_id: str) -> ApiError:
    return ApiError(404, f"Response with id '{response_id}' not found.")
