"""Responses request bodies: the parameters, ``input`` items and tools, checked as
OpenAI checks them.

The parameters are a table of rules (``PARAMETERS``, from the official SDK's request
types), sharing OpenAI's wording with Chat through ``fields``. The conversation becomes
neutral turns so the same scenarios match Responses, Chat and Messages alike.
"""

from typing import Any

from understudy.core.errors import ApiError
from understudy.core.request import Message, Strictness
from understudy.providers.openai import fields
from understudy.providers.openai.fields import (
    ANY,
    ARRAY,
    BOOLEAN,
    METADATA,
    NAME,
    OBJECT,
    REASONING_EFFORTS,
    STRING,
    Rule,
    Shape,
    Tagged,
    array_of,
    decimal,
    integer,
    object_of,
    one_of,
)

ROLES = ("user", "assistant", "system", "developer")
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")
# Built-in tool items and other items: accepted in ``input`` but not part of the neutral
# conversation.
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
    "compaction_trigger",
    "tool_search_call",
    "tool_search_output",
    "program",
    "program_output",
    "additional_tools",
    "configuration_update",
)
TRUNCATIONS = ("auto", "disabled")
MIN_OUTPUT_TOKENS = 16  # OpenAPI ``CreateResponse.max_output_tokens`` minimum

INPUT_PARTS = Tagged(
    {
        "input_text": Shape({"text": STRING}, ("text",)),
        "input_image": Shape(
            {
                "image_url": STRING,
                "file_id": STRING,
                "detail": one_of("low", "high", "auto", "original"),
            }
        ),
        "input_file": Shape(
            {"file_id": STRING, "file_data": STRING, "file_url": STRING, "filename": STRING}
        ),
    },
    at="",
)
OUTPUT_PARTS = Tagged(
    {
        "output_text": Shape({"text": STRING, "annotations": ARRAY}, ("text",)),
        "refusal": Shape({"refusal": STRING}, ("refusal",)),
    },
    at="",
)
ITEMS: dict[str, Shape] = {
    "function_call": Shape(
        {"call_id": fields.NON_EMPTY, "name": fields.NON_EMPTY, "arguments": STRING},
        ("call_id", "name", "arguments"),
    ),
    "function_call_output": Shape(
        {"call_id": fields.NON_EMPTY, "output": Rule(("a string", "an array"))},
        ("call_id", "output"),
    ),
    "reasoning": Shape({"id": STRING, "summary": ARRAY, "encrypted_content": STRING}),
    "item_reference": Shape({"id": STRING}, ("id",)),
}

TOOLS = Tagged(
    {
        "function": Shape(fields.FUNCTION, ("name",)),
        "custom": Shape({"name": NAME, "description": STRING, "format": OBJECT}, ("name",)),
        "file_search": Shape({"vector_store_ids": array_of(STRING)}, ("vector_store_ids",)),
        "web_search": None,
        "web_search_2025_08_26": None,
        "web_search_preview": None,
        "web_search_preview_2025_03_11": None,
        "computer": None,
        "computer_use_preview": None,
        "mcp": Shape({"server_label": STRING}, ("server_label",)),
        "code_interpreter": Shape({"container": ANY}, ("container",)),
        "image_generation": None,
        "local_shell": None,
        "shell": None,
        "apply_patch": None,
        "namespace": None,
        "tool_search": None,
        "programmatic_tool_calling": None,
    }
)
HOSTED_CHOICES = (
    "file_search",
    "web_search_preview",
    "computer",
    "computer_use_preview",
    "computer_use",
    "web_search_preview_2025_03_11",
    "image_generation",
    "code_interpreter",
    "apply_patch",
    "shell",
    "programmatic_tool_calling",
)
NAMED_CHOICE = Tagged(
    {
        "function": Shape({"name": STRING}, ("name",)),
        "custom": Shape({"name": STRING}, ("name",)),
        "mcp": Shape({"server_label": STRING, "name": STRING}, ("server_label",)),
        "allowed_tools": Shape(
            {"mode": one_of("auto", "required"), "tools": ARRAY}, ("mode", "tools")
        ),
        **dict.fromkeys(HOSTED_CHOICES),
    }
)


TEXT_FORMAT = Tagged(
    {
        "text": None,
        "json_object": None,
        "json_schema": Shape(fields.JSON_SCHEMA, ("name", "schema")),
    }
)
PARAMETERS: dict[str, Rule] = {
    "access_programs": ANY,
    "background": BOOLEAN,
    "background_options": OBJECT,
    "context_management": ARRAY,
    "conversation": Rule(("a string", "an object")),
    "image": OBJECT,
    "include": array_of(STRING),
    "input": Rule(("a string", "an array")),
    "instructions": Rule(("a string", "an array")),
    "max_output_tokens": integer(MIN_OUTPUT_TOKENS),
    "max_tool_calls": integer(1),
    "metadata": METADATA,
    "model": STRING,
    "moderation": fields.MODERATION,
    "parallel_tool_calls": BOOLEAN,
    "previous_response_id": STRING,
    "prompt": object_of({"id": STRING, "version": STRING, "variables": OBJECT}, "id"),
    "prompt_cache_key": STRING,
    "prompt_cache_options": OBJECT,
    "prompt_cache_retention": STRING,
    "reasoning": object_of(
        {
            "effort": one_of(*REASONING_EFFORTS),
            "summary": one_of("auto", "concise", "detailed"),
            "generate_summary": one_of("auto", "concise", "detailed"),
            "context": one_of("auto", "current_turn", "all_turns"),
            "mode": STRING,
        }
    ),
    "safety_identifier": STRING,
    "service_tier": one_of("auto", "default", "flex", "scale", "priority", "fast", "ultrafast"),
    "store": BOOLEAN,
    "stream": BOOLEAN,
    "stream_options": object_of({"include_obfuscation": BOOLEAN}),
    "temperature": decimal(0, 2),
    "text": object_of(
        {
            "format": Rule(("an object",), shape=TEXT_FORMAT),
            "verbosity": one_of("low", "medium", "high"),
        }
    ),
    "tool_choice": fields.tool_choice(NAMED_CHOICE),
    "tools": array_of(Rule(("an object",), shape=TOOLS)),
    "top_logprobs": integer(0, 20),
    "top_p": decimal(0, 1),
    "truncation": one_of(*TRUNCATIONS),
    "user": STRING,
}
"""Every parameter of ``POST /v1/responses`` (openai-python's ``ResponseCreateParams``),
with its type, range and allowed values."""


def unknown_parameter(names: list[str]) -> ApiError:
    """The first unknown parameter, named in ``param`` with code ``unknown_parameter``."""
    name = names[0]
    return ApiError(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")


def check_body(body: dict[str, Any], strictness: Strictness) -> None:
    """The parameters, the tools and ``tool_choice``; ``input`` items come later."""
    fields.check_body(body, PARAMETERS, None if strictness.lenient else unknown_parameter)
    model = body.get("model")
    if model is None:
        raise fields.missing("model")
    if not model:
        raise fields.empty_string("model")
    _check_tool_choice(body)
    limit = strictness.max_output_tokens
    budget = body.get("max_output_tokens")
    if limit and budget is not None and budget > limit:
        raise fields.too_many_tokens("max_output_tokens", budget, limit, "output")


def _not_in_tools(kind: str) -> ApiError:
    return fields.invalid("tool_choice", f"Tool choice '{kind}' not found in 'tools' parameter.")


def _check_tool_choice(body: dict[str, Any]) -> None:
    """A choice that needs tools, or names one, must find it among ``tools``."""
    choice = body.get("tool_choice")
    tools = body.get("tools") or ()
    if choice == "required" and not tools:
        raise fields.invalid(
            "tool_choice", "Tool choice 'required' must be specified with 'tools' parameter."
        )
    if not isinstance(choice, dict) or choice["type"] == "allowed_tools":
        return
    kind = choice["type"]
    if kind in ("function", "custom"):
        if not any(tool["type"] == kind and tool["name"] == choice["name"] for tool in tools):
            raise _not_in_tools(kind)
    elif not tools:
        raise _not_in_tools(kind)


def _assistant(messages: list[Message], current: Message | None) -> Message:
    """The open assistant turn, or a new one: a turn's items arrive one after another."""
    if current is not None:
        return current
    turn = Message("assistant")
    messages.append(turn)
    return turn


def _message_item(raw: dict[str, Any], param: str) -> tuple[str, str]:
    """A message item's role and text."""
    role = raw.get("role")
    if role not in ROLES:
        role = fields.get(raw, "role", "a string", param=f"{param}.role", required=True)
        raise fields.invalid_value(f"{param}.role", role, ROLES)
    content = raw.get("content")
    if content.__class__ is str:
        return role, content
    if not isinstance(content, list):
        fields.get(raw, "content", "a string", "an array", param=f"{param}.content", required=True)
    else:
        parts = OUTPUT_PARTS if role == "assistant" else INPUT_PARTS
        for number, part in enumerate(content):
            where = f"{param}.content[{number}]"
            if not isinstance(part, dict):
                raise fields.wrong_type(where, "an object", part)
            parts(part, where)
    return role, fields.text_of(content)


def conversation(items: list[Any], continued: bool) -> tuple[list[str], list[Message]]:
    """System texts and neutral turns from ``input`` items.

    Consecutive assistant-side items (an assistant message, ``function_call`` items,
    ``reasoning`` items) are one assistant turn, as they are one response's output;
    ``function_call_output`` items are tool results. Each output must answer a call made
    earlier (unless the calls are elsewhere: ``continued`` by ``previous_response_id``,
    a conversation, or item references), and each call must get its output.
    """
    system: list[str] = []
    messages: list[Message] = []
    turn: Message | None = None
    calls: list[str] = []
    outputs: set[str] = set()
    for index, raw in enumerate(items):
        param = f"input[{index}]"
        if not isinstance(raw, dict):
            raise fields.wrong_type(param, "an object", raw)
        kind = raw.get("type")
        if kind.__class__ is not str and kind is not None:
            raise fields.wrong_type(f"{param}.type", "a string", kind)
        if kind is None:
            if "role" not in raw:
                raise fields.missing(f"{param}.type")
            kind = "message"
        if kind == "message":
            role, text = _message_item(raw, param)
            if role in ("system", "developer"):
                system.append(text)
            elif role == "assistant":
                turn = _assistant(messages, turn)
                turn.text = f"{turn.text}\n{text}" if turn.text else text
            else:
                messages.append(Message("user", text))
                turn = None
            continue
        if kind not in ITEMS:
            if kind not in BUILT_IN_ITEM_TYPES:
                raise fields.invalid_value(f"{param}.type", kind, ITEM_TYPES + BUILT_IN_ITEM_TYPES)
            continue
        ITEMS[kind](raw, param)
        if kind == "function_call":
            turn = _assistant(messages, turn)
            turn.tool_calls = (*turn.tool_calls, raw["name"])
            calls.append(raw["call_id"])
        elif kind == "function_call_output":
            call_id = raw["call_id"]
            if call_id not in calls and not continued:
                raise fields.invalid(
                    "input",
                    f"No tool call found for function call output with call_id {call_id}.",
                )
            outputs.add(call_id)
            messages.append(Message("tool", fields.text_of(raw["output"]), tool_result=True))
            turn = None
        elif kind == "reasoning":
            turn = _assistant(messages, turn)
    for call_id in calls:
        if call_id not in outputs:
            raise fields.invalid("input", f"No tool output found for function call {call_id}.")
    return system, messages


def echo_tools(raw: list[dict[str, Any]] | None) -> list[Any]:
    """Tools as the Response object echoes them: function tools are flat
    (``{"type": "function", "name": ...}``) and filled in; others are echoed as sent."""
    echoed: list[Any] = []
    for tool in raw or ():
        if tool.get("type") != "function":
            echoed.append(tool)
            continue
        strict = tool.get("strict")
        echoed.append(
            {
                "type": "function",
                "name": tool["name"],
                "description": tool.get("description"),
                "parameters": tool.get("parameters"),
                "strict": True if strict is None else strict,
            }
        )
    return echoed


def function_names(raw: list[dict[str, Any]] | None) -> tuple[str, ...]:
    return tuple(tool["name"] for tool in raw or () if tool["type"] in ("function", "custom"))


def previous_not_found(response_id: str) -> ApiError:
    return ApiError(
        400,
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def not_found(response_id: str) -> ApiError:
    return ApiError(404, f"Response with id '{response_id}' not found.")
