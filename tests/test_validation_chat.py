"""Chat Completions refuses what OpenAI refuses, in OpenAI's words, and takes what it takes.

Each malformed request goes to a real server over HTTP and must come back as the exact
400 body OpenAI answers; every parameter openai-python declares, with a legal value, must
come back 200. The wordings are OpenAI's where they are known (docs/validation.md says
which ones are inferred).
"""

import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import completion_create_params

from tests.conftest import BUNDLED
from tests.mutations import mutations
from tests.sdk_types import param_keys, type_tags
from understudy.pytest_plugin import free_port

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": USER, **fields}


def error(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


def invalid_type(param: str, expected: str, got: str) -> dict[str, Any]:
    return error(
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        param,
        "invalid_type",
    )


def out_of_range(param: str, kind: str, above: bool, bound: Any, got: Any) -> dict[str, Any]:
    side, sign, code = (
        ("above maximum", "<=", "above_max") if above else ("below minimum", ">=", "below_min")
    )
    return error(
        f"Invalid '{param}': {kind} {side} value. Expected a value {sign} {bound}, but got "
        f"{got} instead.",
        param,
        f"{kind}_{code}_value",
    )


def invalid_value(param: str, value: str, supported: str) -> dict[str, Any]:
    return error(
        f"Invalid value: '{value}'. Supported values are: {supported}.", param, "invalid_value"
    )


def missing(param: str) -> dict[str, Any]:
    return error(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
    "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
)
PART_TYPES = "'text', 'image_url', 'input_audio', 'refusal', 'audio', and 'file'"

MALFORMED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # Sampling parameters: types and ranges.
    ("temperature-low", body(temperature=-5), out_of_range("temperature", "decimal", False, 0, -5)),
    ("temperature-high", body(temperature=99), out_of_range("temperature", "decimal", True, 2, 99)),
    ("top_p-string", body(top_p="0.5"), invalid_type("top_p", "a decimal", "a string")),
    ("top_p-list", body(top_p=[0.5]), invalid_type("top_p", "a decimal", "an array")),
    ("top_p-object", body(top_p={}), invalid_type("top_p", "a decimal", "an object")),
    ("top_p-bool", body(top_p=True), invalid_type("top_p", "a decimal", "a boolean")),
    ("top_p-high", body(top_p=1.5), out_of_range("top_p", "decimal", True, 1, 1.5)),
    ("seed-string", body(seed="42"), invalid_type("seed", "an integer", "a string")),
    ("seed-float", body(seed=4.2), invalid_type("seed", "an integer", "a decimal")),
    (
        "presence-type",
        body(presence_penalty="high"),
        invalid_type("presence_penalty", "a decimal", "a string"),
    ),
    (
        "presence-range",
        body(presence_penalty=-3),
        out_of_range("presence_penalty", "decimal", False, -2, -3),
    ),
    (
        "frequency-range",
        body(frequency_penalty=2.5),
        out_of_range("frequency_penalty", "decimal", True, 2, 2.5),
    ),
    ("logit_bias-type", body(logit_bias="x"), invalid_type("logit_bias", "an object", "a string")),
    (
        "logit_bias-key",
        body(logit_bias={"hello": 5}),
        error(
            "Invalid key in 'logit_bias': hello. You should only be submitting non-negative "
            "integers.",
            "logit_bias",
        ),
    ),
    (
        "logit_bias-value",
        body(logit_bias={"50256": 101}),
        out_of_range("logit_bias.50256", "decimal", True, 100, 101),
    ),
    (
        "logit_bias-value-type",
        body(logit_bias={"50256": "ban"}),
        invalid_type("logit_bias.50256", "a decimal", "a string"),
    ),
    ("user-type", body(user=5), invalid_type("user", "a string", "an integer")),
    ("n-zero", body(n=0), out_of_range("n", "integer", False, 1, 0)),
    ("n-high", body(n=129), out_of_range("n", "integer", True, 128, 129)),
    (
        "top_logprobs-high",
        body(top_logprobs=21),
        out_of_range("top_logprobs", "integer", True, 20, 21),
    ),
    (
        "max_tokens-huge",
        body(max_tokens=1_000_000),
        error(
            "max_tokens is too large: 1000000. This model supports at most 128000 completion "
            "tokens, whereas you provided 1000000.",
            "max_tokens",
            "invalid_value",
        ),
    ),
    (
        "max_completion_tokens-zero",
        body(max_completion_tokens=0),
        out_of_range("max_completion_tokens", "integer", False, 1, 0),
    ),
    (
        "stop-too-many",
        body(stop=["a", "b", "c", "d", "e"]),
        error(
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got "
            "an array with length 5 instead.",
            "stop",
            "array_above_max_length",
        ),
    ),
    ("stop-type", body(stop=5), invalid_type("stop", "one of a string or an array", "an integer")),
    # Enums and objects of a known shape.
    (
        "response_format-type",
        body(response_format="json"),
        invalid_type("response_format", "an object", "a string"),
    ),
    (
        "response_format-kind",
        body(response_format={"type": "xml"}),
        invalid_value("response_format.type", "xml", "'text', 'json_object', and 'json_schema'"),
    ),
    (
        "response_format-no-schema",
        body(response_format={"type": "json_schema"}),
        missing("response_format.json_schema"),
    ),
    (
        "response_format-no-name",
        body(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
        missing("response_format.json_schema.name"),
    ),
    (
        "reasoning_effort",
        body(reasoning_effort="extreme"),
        invalid_value(
            "reasoning_effort",
            "extreme",
            "'none', 'minimal', 'low', 'medium', 'high', 'xhigh', and 'max'",
        ),
    ),
    (
        "service_tier",
        body(service_tier="gold"),
        invalid_value(
            "service_tier", "gold", "'auto', 'default', 'flex', 'scale', 'priority', and 'fast'"
        ),
    ),
    (
        "verbosity",
        body(verbosity="loud"),
        invalid_value("verbosity", "loud", "'low', 'medium', and 'high'"),
    ),
    (
        "modalities",
        body(modalities=["video"]),
        invalid_value("modalities[0]", "video", "'text' and 'audio'"),
    ),
    (
        "stream_options-without-stream",
        body(stream_options={"include_usage": True}),
        error(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "invalid_value",
        ),
    ),
    # Messages and their content parts.
    (
        "message-without-content",
        body(messages=[{"role": "user"}]),
        missing("messages[0].content"),
    ),
    (
        "content-empty",
        body(messages=[{"role": "user", "content": []}]),
        error(
            "Invalid 'messages[0].content': empty array. Expected an array with minimum length "
            "1, but got an empty array instead.",
            "messages[0].content",
            "empty_array",
        ),
    ),
    (
        "part-not-object",
        body(messages=[{"role": "user", "content": ["hi"]}]),
        invalid_type("messages[0].content[0]", "an object", "a string"),
    ),
    (
        "part-unknown-type",
        body(messages=[{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]),
        invalid_value("messages[0].content[0].type", "input_text", PART_TYPES),
    ),
    (
        "part-text-not-string",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]),
        invalid_type("messages[0].content[0].text", "a string", "an integer"),
    ),
    (
        "part-without-type",
        body(messages=[{"role": "user", "content": [{"text": "hi"}]}]),
        missing("messages[0].content[0].type"),
    ),
    (
        "image-in-system-message",
        body(
            messages=[
                {
                    "role": "system",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                },
                *USER,
            ]
        ),
        error(
            "Invalid 'messages[0]'. Image URLs are only allowed for messages with role 'user', "
            "but this message with role 'system' contains an image URL.",
            "messages[0]",
            "invalid_value",
        ),
    ),
    (
        "message-name-pattern",
        body(messages=[{"role": "user", "content": "hi", "name": "Ada Lovelace"}]),
        error(
            "Invalid 'messages[0].name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "messages[0].name",
            "invalid_value",
        ),
    ),
    (
        "tool_calls-not-list",
        body(messages=[*USER, {"role": "assistant", "tool_calls": "get_weather"}]),
        invalid_type("messages[1].tool_calls", "an array", "a string"),
    ),
    (
        "tool_call-without-id",
        body(
            messages=[
                *USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            ]
        ),
        missing("messages[1].tool_calls[0].id"),
    ),
    (
        "tool_call-without-name",
        body(
            messages=[
                *USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"arguments": ""}}],
                },
            ]
        ),
        missing("messages[1].tool_calls[0].function.name"),
    ),
    # Tools and tool_choice.
    (
        "tools-empty",
        body(tools=[]),
        error(
            "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            "tools",
            "empty_array",
        ),
    ),
    (
        "tool-empty-function",
        body(tools=[{"type": "function", "function": {}}]),
        missing("tools[0].function.name"),
    ),
    (
        "tool-string-parameters",
        body(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
        invalid_type("tools[0].function.parameters", "an object", "a string"),
    ),
    (
        "tool-unknown-type",
        body(tools=[{"type": "retrieval"}]),
        invalid_value("tools[0].type", "retrieval", "'function' and 'custom'"),
    ),
    (
        "tool-name-pattern",
        body(tools=[{"type": "function", "function": {"name": "get.weather"}}]),
        error(
            "Invalid 'tools[0].function.name': string does not match pattern. Expected a string "
            "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "tools[0].function.name",
            "invalid_value",
        ),
    ),
    (
        "tool-name-empty",
        body(tools=[{"type": "function", "function": {"name": ""}}]),
        error(
            "Invalid 'tools[0].function.name': empty string. Expected a string with minimum "
            "length 1, but got an empty string instead.",
            "tools[0].function.name",
            "empty_string",
        ),
    ),
    (
        "tool_choice-value",
        body(tools=[WEATHER], tool_choice="sometimes"),
        invalid_value("tool_choice", "sometimes", "'none', 'auto', and 'required'"),
    ),
    (
        "tool_choice-shape",
        body(tools=[WEATHER], tool_choice={"type": "function"}),
        missing("tool_choice.function"),
    ),
    (
        "tool_choice-not-offered",
        body(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_time"}}),
        error(
            "Invalid value for 'tool_choice': function 'get_time' not found in 'tools'.",
            "tool_choice",
        ),
    ),
    (
        "tool_choice-without-tools",
        body(tool_choice="auto"),
        error(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        ),
    ),
    # Conversation shape.
    (
        "tool-message-answers-nothing",
        body(messages=[*USER, {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]),
        error(
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
            "messages.[1].role",
        ),
    ),
    (
        "tool-message-unknown-id",
        body(
            messages=[
                *USER,
                {"role": "assistant", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_9", "content": "18C"},
            ]
        ),
        error(
            "Invalid parameter: 'tool_call_id' of 'call_9' not found in 'tool_calls' of "
            "previous message.",
            "messages.[2].tool_call_id",
        ),
    ),
    (
        "tool-calls-unanswered-before-user",
        body(
            messages=[
                *USER,
                {"role": "assistant", "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
                {"role": "tool", "tool_call_id": "call_2", "content": "18C"},
                {"role": "user", "content": "well?"},
            ]
        ),
        error(UNANSWERED + "call_1", "messages.[3].role"),
    ),
    (
        "tool-calls-unanswered-at-end",
        body(messages=[*USER, {"role": "assistant", "tool_calls": [CALL]}]),
        error(UNANSWERED + "call_1", "messages"),
    ),
    # Parameters OpenAI does not know.
    (
        "unknown-parameter",
        body(top_k=5),
        error("Unrecognized request argument supplied: top_k"),
    ),
    (
        "unknown-parameters",
        body(top_k=5, repetition_penalty=1.1),
        error("Unrecognized request arguments supplied: top_k, repetition_penalty"),
    ),
]


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_request_gets_openais_exact_error(
    base_url: str, request_body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = httpx.post(f"{base_url}{CHAT}", json=request_body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected


# Every parameter openai-python declares, each with a legal value (and what it needs).
VALID: dict[str, dict[str, Any]] = {
    "audio": {"audio": {"voice": "alloy", "format": "wav"}, "modalities": ["text", "audio"]},
    "frequency_penalty": {"frequency_penalty": -1.5},
    "function_call": {
        "functions": [{"name": "get_weather", "parameters": {"type": "object"}}],
        "function_call": {"name": "get_weather"},
    },
    "functions": {"functions": [{"name": "get_weather", "description": "Weather"}]},
    "logit_bias": {"logit_bias": {"50256": -100, "1234": 100}},
    "logprobs": {"logprobs": True, "top_logprobs": 20},
    "max_completion_tokens": {"max_completion_tokens": 128_000},
    "max_tokens": {"max_tokens": 1},
    "metadata": {"metadata": {"run": "42"}},
    "modalities": {"modalities": ["text"]},
    "moderation": {"moderation": {"model": "omni-moderation-latest"}},
    "n": {"n": 1},
    "parallel_tool_calls": {"tools": [WEATHER], "parallel_tool_calls": False},
    "prediction": {"prediction": {"type": "content", "content": "Hello"}},
    "presence_penalty": {"presence_penalty": 2},
    "prompt_cache_key": {"prompt_cache_key": "user-1"},
    "prompt_cache_options": {"prompt_cache_options": {"mode": "explicit", "ttl": "30m"}},
    "prompt_cache_retention": {"prompt_cache_retention": "24h"},
    "reasoning_effort": {"reasoning_effort": "minimal"},
    "response_format": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        }
    },
    "safety_identifier": {"safety_identifier": "hash-1"},
    "seed": {"seed": -7},
    "service_tier": {"service_tier": "flex"},
    "stop": {"stop": ["\n\n", "END"]},
    "store": {"store": True},
    "stream": {"stream": False},
    "stream_options": {
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
    },
    "temperature": {"temperature": 0},
    "tool_choice": {
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    },
    "tools": {
        "tools": [
            WEATHER,
            {"type": "custom", "custom": {"name": "shell", "format": {"type": "text"}}},
        ]
    },
    "top_logprobs": {"logprobs": True, "top_logprobs": 0},
    "top_p": {"top_p": 1},
    "user": {"user": "u-1"},
    "verbosity": {"verbosity": "low"},
    "web_search_options": {
        "web_search_options": {
            "search_context_size": "low",
            "user_location": {"type": "approximate", "approximate": {"city": "Paris"}},
        }
    },
}
CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "every-role-and-part": [
        {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]},
        {"role": "system", "content": "You are kind.", "name": "policy"},
        {
            "role": "user",
            "name": "ada",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"file_id": "file-1"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        {"role": "user", "content": "Weather?"},
    ],
    "tool-loop": [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "19C"}]},
        {"role": "assistant", "content": "Mild.", "refusal": None},
        {"role": "user", "content": "thanks"},
    ],
    "legacy-function-message": [
        *USER,
        {"role": "assistant", "function_call": {"name": "get_weather", "arguments": "{}"}},
        {"role": "function", "name": "get_weather", "content": "18C"},
    ],
}


def test_valid_variants_cover_every_parameter_the_sdk_declares() -> None:
    declared = param_keys(completion_create_params.CompletionCreateParamsBase) | {"stream"}
    assert declared - {"model", "messages"} <= set(VALID)


@pytest.mark.parametrize("fields", list(VALID.values()), ids=list(VALID))
def test_every_parameter_with_a_legal_value_is_accepted(base_url: str, fields: dict) -> None:
    response = httpx.post(f"{base_url}{CHAT}", json=body(**fields))
    assert response.status_code == 200, response.text


def test_all_parameters_at_once_are_accepted(base_url: str) -> None:
    everything: dict[str, Any] = {}
    for fields in VALID.values():
        everything.update(fields)
    everything["tool_choice"] = "auto"
    response = httpx.post(f"{base_url}{CHAT}", json=body(**everything))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("messages", list(CONVERSATIONS.values()), ids=list(CONVERSATIONS))
def test_well_formed_conversations_are_accepted(base_url: str, messages: list) -> None:
    response = httpx.post(f"{base_url}{CHAT}", json=body(messages=messages, tools=[WEATHER]))
    assert response.status_code == 200, response.text


def test_every_tool_type_the_sdk_declares_is_accepted(base_url: str) -> None:
    from openai.types.chat.chat_completion_tool_union_param import ChatCompletionToolUnionParam

    tools = {
        "function": WEATHER,
        "custom": {"type": "custom", "custom": {"name": "shell"}},
    }
    assert type_tags(ChatCompletionToolUnionParam) <= set(tools)
    response = httpx.post(f"{base_url}{CHAT}", json=body(tools=list(tools.values())))
    assert response.status_code == 200, response.text


# --- The official SDK sees OpenAI's errors ---------------------------------------------


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)


def test_sdk_raises_bad_request_with_param_and_code(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, temperature=3)
    assert caught.value.param == "temperature"
    assert caught.value.code == "decimal_above_max_value"
    assert caught.value.type == "invalid_request_error"


def test_sdk_unknown_parameter_has_no_param_and_no_code(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, extra_body={"top_k": 1})
    assert caught.value.message.endswith("Unrecognized request argument supplied: top_k")
    assert caught.value.param is None
    assert caught.value.code is None


def test_sdk_unanswered_tool_call(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[*USER, {"role": "assistant", "tool_calls": [CALL]}, *USER],  # type: ignore[list-item]
            tools=[WEATHER],  # type: ignore[list-item]
        )
    assert caught.value.param == "messages.[2].role"
    assert "call_1" in caught.value.message


# --- Lenient mode ----------------------------------------------------------------------

DEFAULT = "name: d\ndefault: true\nreply: {content: hi}\n"
EXTRA = body(top_k=40, repetition_penalty=1.1, chat_template_kwargs={"thinking": False})


def test_lenient_setting_accepts_unknown_parameters_but_not_bad_types(serve) -> None:
    url = serve(DEFAULT, lenient=True)
    assert httpx.post(f"{url}{CHAT}", json=EXTRA).status_code == 200
    wrong = httpx.post(f"{url}{CHAT}", json={**EXTRA, "temperature": "hot"})
    assert wrong.json() == invalid_type("temperature", "a decimal", "a string")
    # A request can still ask for the providers' strictness.
    strict = httpx.post(f"{url}{CHAT}", json=EXTRA, headers={"X-Understudy-Lenient": "0"})
    assert strict.status_code == 400


@pytest.mark.parametrize(("header", "status"), [("1", 200), ("true", 200), ("0", 400), ("no", 400)])
def test_lenient_header_per_request(base_url: str, header: str, status: int) -> None:
    response = httpx.post(f"{base_url}{CHAT}", json=EXTRA, headers={"X-Understudy-Lenient": header})
    assert response.status_code == status


def test_lenient_header_through_the_sdk(base_url: str) -> None:
    client = openai.OpenAI(
        base_url=f"{base_url}/v1",
        api_key="sk-test",
        max_retries=0,
        default_headers={"X-Understudy-Lenient": "1"},
    )
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, extra_body={"top_k": 40, "min_p": 0.1}
    )
    assert completion.choices[0].message.content


@pytest.mark.parametrize(("limit", "status"), [(0, 200), (2_000_000, 200), (1000, 400)])
def test_max_output_tokens_setting(serve, limit: int, status: int) -> None:
    url = serve(DEFAULT, max_output_tokens=limit)
    response = httpx.post(f"{url}{CHAT}", json=body(max_completion_tokens=1_000_000))
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"]["message"].startswith(
            "max_completion_tokens is too large: 1000000. This model supports at most 1000 "
        )


def test_serve_flags(tmp_path) -> None:
    """``understudy serve --lenient --max-output-tokens N`` reach the server (through
    ``UNDERSTUDY_LENIENT`` and ``UNDERSTUDY_MAX_OUTPUT_TOKENS``)."""
    from tests.test_cli import wait_healthy

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "understudy",
            "serve",
            "--lenient",
            "--max-output-tokens",
            "100",
            "--port",
            str(port),
            "--scenarios",
            str(BUNDLED),
            "--time-scale",
            "0",
            "--no-reload",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "UNDERSTUDY_LENIENT": "", "UNDERSTUDY_MAX_OUTPUT_TOKENS": ""},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        assert httpx.post(f"{url}{CHAT}", json=EXTRA).status_code == 200
        too_many = httpx.post(f"{url}{CHAT}", json=body(max_tokens=101))
        assert too_many.json()["error"]["message"].startswith("max_tokens is too large: 101.")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


# --- No malformed body crashes the server ----------------------------------------------


def test_no_mutation_of_a_full_request_is_a_server_error(base_url: str) -> None:
    full = body(
        messages=CONVERSATIONS["every-role-and-part"][:3] + CONVERSATIONS["tool-loop"],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        response_format=VALID["response_format"]["response_format"],
        logit_bias={"50256": 5},
        stream_options={"include_usage": True},
        stream=True,
        stop=["END"],
        metadata={"a": "b"},
    )
    statuses = set()
    with httpx.Client(base_url=base_url, timeout=10) as http:
        for mutated in mutations(full):
            response = http.post(CHAT, json=mutated)
            statuses.add(response.status_code)
            assert response.status_code in (200, 400), (mutated, response.text)
            if response.status_code == 400:
                assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert statuses == {200, 400}


def test_a_reply_message_sent_back_as_the_sdk_gives_it_is_accepted(client: openai.OpenAI) -> None:
    """``messages.append(completion.choices[0].message)``, the documented tool loop, sends
    the reply's own fields back (``refusal``, ``annotations``, ``audio``...)."""
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    reply = first.choices[0].message
    assert reply.tool_calls
    messages.append(reply)
    messages += [
        {"role": "tool", "tool_call_id": call.id, "content": "18C"} for call in reply.tool_calls
    ]
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    assert second.choices[0].message.content
