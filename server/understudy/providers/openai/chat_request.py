"""What a Chat Completions request may hold, checked as OpenAI checks it.

The parameters are a table of rules (``PARAMETERS``, from the official SDK's request
types); the messages and ``tool_choice`` are checked in code because they depend on each
other: which content parts a message may hold depends on its role, a ``tool`` message
must answer a call of the assistant message before it, and every call must be answered
before the conversation goes on.
"""

from typing import Any

from understudy.core.errors import ApiError
from understudy.core.request import Message, Strictness
from understudy.providers.openai import fields
from understudy.providers.openai.fields import (
    ANY,
    ARRAY,
    BOOLEAN,
    INTEGER,
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

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_TEXT_ONLY = frozenset({"text"})
PARTS_BY_ROLE: dict[str, frozenset[str]] = {
    "user": frozenset({"text", "image_url", "input_audio", "file"}),
    "assistant": frozenset({"text", "refusal", "audio"}),
    "system": _TEXT_ONLY,
    "developer": _TEXT_ONLY,
    "tool": _TEXT_ONLY,
}
# A part in a message whose role may not hold it: the role it needs, and what it is.
_MISPLACED = {
    "image_url": ("user", "Image URLs", "an image URL"),
    "input_audio": ("user", "Audio inputs", "an audio input"),
    "file": ("user", "Files", "a file"),
    "refusal": ("assistant", "Refusals", "a refusal"),
    "audio": ("assistant", "Audio references", "an audio reference"),
}
PARTS = Tagged(
    {
        "text": Shape({"text": STRING}, ("text",)),
        "image_url": Shape(
            {
                "image_url": object_of(
                    {"url": STRING, "detail": one_of("auto", "low", "high", "original")}, "url"
                )
            },
            ("image_url",),
        ),
        "input_audio": Shape(
            {"input_audio": object_of({"data": STRING, "format": one_of("wav", "mp3")}, "data")},
            ("input_audio",),
        ),
        "refusal": Shape({"refusal": STRING}, ("refusal",)),
        "audio": Shape({"id": STRING}),
        "file": Shape(
            {"file": object_of({"file_data": STRING, "file_id": STRING, "filename": STRING})},
            ("file",),
        ),
    }
)
TOOL_CALL = Rule(
    ("an object",),
    shape=Tagged(
        {
            "function": Shape(
                {
                    "id": STRING,
                    "function": object_of(
                        {"name": STRING, "arguments": STRING}, "name", "arguments"
                    ),
                },
                ("id", "function"),
            ),
            "custom": Shape(
                {"id": STRING, "custom": object_of({"name": STRING, "input": STRING}, "name")},
                ("id", "custom"),
            ),
        }
    ),
)
# Fields a message may carry besides role and content, by role.
MESSAGE_FIELDS: dict[str, Shape] = {
    "user": Shape({"name": NAME}),
    "system": Shape({"name": NAME}),
    "developer": Shape({"name": NAME}),
    "assistant": Shape(
        {
            "name": NAME,
            "refusal": STRING,
            "tool_calls": array_of(TOOL_CALL),
            "function_call": object_of({"name": STRING, "arguments": STRING}, "name"),
            "audio": object_of({"id": STRING}, "id"),
        }
    ),
    "tool": Shape({"tool_call_id": STRING}, ("tool_call_id",)),
    "function": Shape({"name": STRING}, ("name",)),
}

FUNCTION = object_of(fields.FUNCTION, "name")
TOOL = Rule(
    ("an object",),
    shape=Tagged(
        {
            "function": Shape({"function": FUNCTION}, ("function",)),
            "custom": Shape(
                {
                    "custom": object_of(
                        {"name": NAME, "description": STRING, "format": OBJECT}, "name"
                    )
                },
                ("custom",),
            ),
        }
    ),
)


def _tools(value: list[Any], param: str) -> None:
    if not value:
        raise fields.empty_array(param)
    fields.Each(TOOL)(value, param)


NAMED_CHOICE = Tagged(
    {
        "function": Shape({"function": object_of({"name": STRING}, "name")}, ("function",)),
        "custom": Shape({"custom": object_of({"name": STRING}, "name")}, ("custom",)),
        "allowed_tools": Shape(
            {
                "allowed_tools": object_of(
                    {"mode": one_of("auto", "required"), "tools": ARRAY}, "mode", "tools"
                )
            },
            ("allowed_tools",),
        ),
    }
)


def _function_call(value: str | dict[str, Any], param: str) -> None:
    if isinstance(value, str):
        if value not in ("none", "auto"):
            raise fields.invalid_value(param, value, ("none", "auto"))
    else:
        Shape({"name": STRING}, ("name",))(value, param)


def _logit_bias(value: dict[str, Any], param: str) -> None:
    """Token ids (as strings) to biases from -100 to 100."""
    for key, bias in value.items():
        if not (key.isascii() and key.isdigit()):
            raise fields.invalid(
                param,
                f"Invalid key in 'logit_bias': {key}. You should only be submitting "
                "non-negative integers.",
            )
        Rule(("a decimal",), minimum=-100, maximum=100).check(bias, f"{param}.{key}")


def _stop(value: str | list[Any], param: str) -> None:
    if isinstance(value, list):
        if len(value) > 4:
            raise fields.too_long(param, value, 4)
        fields.Each(STRING)(value, param)


JSON_SCHEMA = object_of(fields.JSON_SCHEMA, "name")
RESPONSE_FORMAT = Tagged(
    {
        "text": None,
        "json_object": None,
        "json_schema": Shape({"json_schema": JSON_SCHEMA}, ("json_schema",)),
    }
)

PARAMETERS: dict[str, Rule] = {
    "model": STRING,
    "messages": ARRAY,
    "audio": object_of(
        {
            "format": one_of("wav", "aac", "mp3", "flac", "opus", "pcm16"),
            "voice": Rule(("a string", "an object")),
        },
        "format",
        "voice",
    ),
    "frequency_penalty": decimal(-2, 2),
    "function_call": Rule(("a string", "an object"), shape=_function_call),
    "functions": array_of(
        object_of({"name": NAME, "description": STRING, "parameters": OBJECT}, "name")
    ),
    "logit_bias": Rule(("an object",), shape=_logit_bias),
    "logprobs": BOOLEAN,
    "max_completion_tokens": integer(1),
    "max_tokens": integer(1),
    "metadata": METADATA,
    "modalities": array_of(one_of("text", "audio")),
    "moderation": fields.MODERATION,
    "n": integer(1, 128),
    "parallel_tool_calls": BOOLEAN,
    "prediction": object_of(
        {"type": one_of("content"), "content": Rule(("a string", "an array"))},
        "type",
        "content",
    ),
    "presence_penalty": decimal(-2, 2),
    "prompt_cache_key": STRING,
    "prompt_cache_options": OBJECT,
    "prompt_cache_retention": STRING,
    "reasoning_effort": one_of(*REASONING_EFFORTS),
    "response_format": Rule(("an object",), shape=RESPONSE_FORMAT),
    "safety_identifier": STRING,
    "seed": INTEGER,
    "service_tier": one_of("auto", "default", "flex", "scale", "priority", "fast"),
    "stop": Rule(("a string", "an array"), shape=_stop),
    "store": BOOLEAN,
    "stream": BOOLEAN,
    "stream_options": object_of({"include_usage": BOOLEAN, "include_obfuscation": BOOLEAN}),
    "temperature": decimal(0, 2),
    "tool_choice": fields.tool_choice(NAMED_CHOICE),
    "tools": Rule(("an array",), shape=_tools),
    "top_logprobs": integer(0, 20),
    "top_p": decimal(0, 1),
    "user": STRING,
    "verbosity": one_of("low", "medium", "high"),
    "web_search_options": object_of(
        {"search_context_size": one_of("low", "medium", "high"), "user_location": ANY}
    ),
}
"""Every parameter of ``POST /v1/chat/completions`` (openai-python's
``CompletionCreateParams``), with its type, range and allowed values."""
MAX_TOKENS = ("max_completion_tokens", "max_tokens")


def unrecognized(names: list[str]) -> ApiError:
    """Unknown parameters, all named at once; ``param`` stays null."""
    plural = len(names) > 1
    return ApiError(
        400,
        f"Unrecognized request argument{'s' if plural else ''} supplied: {', '.join(names)}",
    )


def _check_part(part: Any, param: str, role: str, message: str) -> None:
    if not isinstance(part, dict):
        raise fields.wrong_type(param, "an object", part)
    PARTS(part, param)
    kind = part["type"]
    if kind not in PARTS_BY_ROLE[role]:
        needed, plural, one = _MISPLACED[kind]
        raise fields.invalid(
            message,
            f"Invalid '{message}'. {plural} are only allowed for messages with role "
            f"'{needed}', but this message with role '{role}' contains {one}.",
            "invalid_value",
        )


def check_message(raw: Any, index: int) -> str:
    """One message's shape; its role."""
    param = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise fields.wrong_type(param, "an object", raw)
    role = raw.get("role")
    if role is None:
        raise fields.missing(f"{param}.role")
    if not isinstance(role, str):
        raise fields.wrong_type(f"{param}.role", "a string", role)
    if role not in ROLES:
        raise fields.invalid_value(f"{param}.role", role, ROLES)
    content = raw.get("content")
    if isinstance(content, str):
        pass
    elif isinstance(content, list) and role != "function":
        if not content and role != "assistant":
            raise fields.empty_array(f"{param}.content")
        for number, part in enumerate(content):
            _check_part(part, f"{param}.content[{number}]", role, param)
    elif content is None:
        answered = raw.get("tool_calls") or raw.get("function_call") or raw.get("audio")
        if role != "function" and not (role == "assistant" and answered):
            raise fields.missing(f"{param}.content")
    elif role == "function":
        raise fields.wrong_type(f"{param}.content", "a string", content)
    else:
        raise fields.wrong_type(
            f"{param}.content", "one of a string or an array of objects", content
        )
    if len(raw) > 1 + ("content" in raw) or role in ("tool", "function"):
        MESSAGE_FIELDS[role](raw, param)  # fields besides role and content
    return role


def neutral_message(raw: dict[str, Any], role: str) -> Message | str:
    """A neutral message, or the text of a system/developer message."""
    text = fields.text_of(raw.get("content"))
    if role in ("system", "developer"):
        return text
    if role in ("tool", "function"):
        return Message("tool", text, tool_result=True)
    if role == "assistant":
        names = tuple(
            call["function"]["name"]
            for call in raw.get("tool_calls") or ()
            if call.get("type") == "function"
        )
        return Message("assistant", text, tool_calls=names)
    return Message("user", text)


def _unanswered(ids: list[str], param: str) -> ApiError:
    return fields.invalid(
        param,
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(ids),
    )


def check_tool_turns(messages: list[Any]) -> None:
    """Each ``tool`` message answers a call of the assistant message just before the run
    of tool messages it belongs to, and each such call is answered before anything else."""
    pending: list[str] | None = None
    """The calls of the last assistant message not yet answered; None: not in a run."""
    answered: set[str] = set()
    for index, raw in enumerate(messages):
        role = raw["role"]
        if role == "tool":
            if pending is None:
                raise fields.invalid(
                    f"messages.[{index}].role",
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                )
            call_id = raw["tool_call_id"]
            if call_id in pending:
                pending.remove(call_id)
            elif call_id not in answered:
                raise fields.invalid(
                    f"messages.[{index}].tool_call_id",
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in "
                    "'tool_calls' of previous message.",
                )
            continue
        if pending:
            raise _unanswered(pending, f"messages.[{index}].role")
        calls = raw.get("tool_calls") if role == "assistant" else None
        pending = [call["id"] for call in calls] if calls else None
        answered = set(pending or ())
    if pending:
        raise _unanswered(pending, "messages")


def check_tool_choice(body: dict[str, Any]) -> None:
    """``tool_choice`` needs tools, and a named function must be one of them."""
    choice = body.get("tool_choice")
    if choice is None or choice == "none":
        return
    tools = body.get("tools")
    if not tools:
        raise fields.invalid(
            "tool_choice",
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
        )
    if isinstance(choice, dict) and choice["type"] in ("function", "custom"):
        kind = choice["type"]
        name = choice[kind]["name"]
        offered = {tool[kind]["name"] for tool in tools if tool["type"] == kind}
        if name not in offered:
            noun = "function" if kind == "function" else "custom tool"
            raise fields.invalid(
                "tool_choice",
                f"Invalid value for 'tool_choice': {noun} '{name}' not found in 'tools'.",
            )


def check_body(body: dict[str, Any], strictness: Strictness) -> list[Any]:
    """Everything but the messages themselves, which the caller checks one by one."""
    fields.check_body(body, PARAMETERS, None if strictness.lenient else unrecognized)
    if not body.get("model"):
        raise ApiError(400, "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise fields.missing("messages")
    if not messages:
        raise fields.empty_array("messages")
    check_tool_choice(body)
    if body.get("stream_options") and not body.get("stream"):
        raise fields.invalid(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "invalid_value",
        )
    limit = strictness.max_output_tokens
    for key in MAX_TOKENS:
        value = body.get(key)
        if limit and value is not None and value > limit:
            raise fields.too_many_tokens(key, value, limit, "completion")
    return messages
