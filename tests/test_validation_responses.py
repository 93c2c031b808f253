"""Responses refuses what OpenAI refuses, in OpenAI's words, and takes what it takes.

Each malformed request goes to a real server over HTTP and must come back as the exact
400 body; every parameter, input item, content part and tool type openai-python declares,
with a legal value, must come back 200 (docs/validation.md says which wordings are
inferred).
"""

from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import response_create_params
from openai.types.responses.response_input_item_param import ResponseInputItemParam
from openai.types.responses.tool_param import ToolParam

from tests.mutations import mutations
from tests.sdk_types import param_keys, type_tags

RESPONSES = "/v1/responses"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1-mini", "input": "hi", **fields}


def error(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


def invalid_type(param: str, expected: str, got: str) -> dict[str, Any]:
    return error(
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        param,
        "invalid_type",
    )


def invalid_value(param: str, value: str, supported: str) -> dict[str, Any]:
    return error(
        f"Invalid value: '{value}'. Supported values are: {supported}.", param, "invalid_value"
    )


def missing(param: str) -> dict[str, Any]:
    return error(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "18C"}
TOOL_TYPES = (
    "'function', 'custom', 'file_search', 'web_search', 'web_search_2025_08_26', "
    "'web_search_preview', 'web_search_preview_2025_03_11', 'computer', "
    "'computer_use_preview', 'mcp', 'code_interpreter', 'image_generation', 'local_shell', "
    "'shell', 'apply_patch', 'namespace', 'tool_search', and 'programmatic_tool_calling'"
)

MALFORMED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "model-empty",
        body(model=""),
        error(
            "Invalid 'model': empty string. Expected a string with minimum length 1, but got an "
            "empty string instead.",
            "model",
            "empty_string",
        ),
    ),
    ("model-missing", {"input": "hi"}, missing("model")),
    (
        "max_output_tokens-huge",
        body(max_output_tokens=10_000_000),
        error(
            "max_output_tokens is too large: 10000000. This model supports at most 128000 "
            "output tokens, whereas you provided 10000000.",
            "max_output_tokens",
            "invalid_value",
        ),
    ),
    (
        "max_output_tokens-small",
        body(max_output_tokens=15),
        error(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
            "but got 15 instead.",
            "max_output_tokens",
            "integer_below_min_value",
        ),
    ),
    (
        "temperature-high",
        body(temperature=3),
        error(
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got "
            "3 instead.",
            "temperature",
            "decimal_above_max_value",
        ),
    ),
    ("top_p-type", body(top_p="1"), invalid_type("top_p", "a decimal", "a string")),
    ("include-type", body(include="reasoning"), invalid_type("include", "an array", "a string")),
    (
        "reasoning-effort",
        body(reasoning={"effort": "extreme"}),
        invalid_value(
            "reasoning.effort",
            "extreme",
            "'none', 'minimal', 'low', 'medium', 'high', 'xhigh', and 'max'",
        ),
    ),
    (
        "text-format",
        body(text={"format": {"type": "xml"}}),
        invalid_value("text.format.type", "xml", "'text', 'json_object', and 'json_schema'"),
    ),
    (
        "text-schema-without-schema",
        body(text={"format": {"type": "json_schema", "name": "answer"}}),
        missing("text.format.schema"),
    ),
    (
        "metadata-values",
        body(metadata={"run": 42}),
        invalid_type("metadata.run", "a string", "an integer"),
    ),
    (
        "input-part-unknown",
        body(input=[{"role": "user", "content": [{"type": "input_video", "video_url": "x"}]}]),
        invalid_value(
            "input[0].content[0]", "input_video", "'input_text', 'input_image', and 'input_file'"
        ),
    ),
    (
        "input-part-assistant",
        body(input=[{"role": "assistant", "content": [{"type": "input_text", "text": "hi"}]}]),
        invalid_value("input[0].content[0]", "input_text", "'output_text' and 'refusal'"),
    ),
    (
        "input-part-text-type",
        body(input=[{"role": "user", "content": [{"type": "input_text", "text": 5}]}]),
        invalid_type("input[0].content[0].text", "a string", "an integer"),
    ),
    (
        "input-item-unknown",
        body(input=[{"type": "memory", "id": "m_1"}]),
        error(
            "Invalid value: 'memory'. Supported values are: 'message', 'function_call', "
            "'function_call_output', 'reasoning', 'item_reference', 'file_search_call', "
            "'computer_call', 'computer_call_output', 'web_search_call', "
            "'image_generation_call', 'code_interpreter_call', 'local_shell_call', "
            "'local_shell_call_output', 'shell_call', 'shell_call_output', 'apply_patch_call', "
            "'apply_patch_call_output', 'mcp_list_tools', 'mcp_approval_request', "
            "'mcp_approval_response', 'mcp_call', 'custom_tool_call', 'custom_tool_call_output', "
            "'compaction', 'compaction_trigger', 'tool_search_call', 'tool_search_output', "
            "'program', 'program_output', 'additional_tools', and 'configuration_update'.",
            "input[0].type",
            "invalid_value",
        ),
    ),
    (
        "call-id-empty",
        body(input=[{**CALL, "call_id": ""}, OUTPUT]),
        error(
            "Invalid 'input[0].call_id': empty string. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            "input[0].call_id",
            "empty_string",
        ),
    ),
    (
        "tool-unknown-type",
        body(tools=[{"type": "browser"}]),
        invalid_value("tools[0].type", "browser", TOOL_TYPES),
    ),
    (
        "tool-nested-function",
        body(tools=[{"type": "function", "function": {"name": "f"}}]),
        missing("tools[0].name"),
    ),
    ("tool-mcp-without-label", body(tools=[{"type": "mcp"}]), missing("tools[0].server_label")),
    (
        "tool-name-pattern",
        body(tools=[{**WEATHER, "name": "get weather"}]),
        error(
            "Invalid 'tools[0].name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "tools[0].name",
            "invalid_value",
        ),
    ),
    (
        "tool_choice-required-without-tools",
        body(tool_choice="required"),
        error("Tool choice 'required' must be specified with 'tools' parameter.", "tool_choice"),
    ),
    (
        "tool_choice-function-not-offered",
        body(tools=[WEATHER], tool_choice={"type": "function", "name": "get_time"}),
        error("Tool choice 'function' not found in 'tools' parameter.", "tool_choice"),
    ),
    (
        "tool_choice-hosted-without-tools",
        body(tool_choice={"type": "image_generation"}),
        error("Tool choice 'image_generation' not found in 'tools' parameter.", "tool_choice"),
    ),
    (
        "output-for-unknown-call",
        body(input=[{"role": "user", "content": "hi"}, {**OUTPUT, "call_id": "call_x"}]),
        error("No tool call found for function call output with call_id call_x.", "input"),
    ),
    (
        "call-without-output",
        body(input=[{"role": "user", "content": "hi"}, CALL]),
        error("No tool output found for function call call_1.", "input"),
    ),
    (
        "unknown-parameter",
        body(top_k=5),
        error("Unknown parameter: 'top_k'.", "top_k", "unknown_parameter"),
    ),
    (
        "unknown-parameter-moved",
        body(messages=[{"role": "user", "content": "hi"}]),
        error("Unknown parameter: 'messages'.", "messages", "unknown_parameter"),
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
    response = httpx.post(f"{base_url}{RESPONSES}", json=request_body)
    assert response.status_code == 400
    assert response.json() == expected


VALID: dict[str, dict[str, Any]] = {
    "access_programs": {"access_programs": {}},
    "background": {"background": False},
    "background_options": {"background_options": {}},
    "context_management": {
        "context_management": [{"type": "compaction", "compact_threshold": 1000}]
    },
    "conversation": {"conversation": "conv_1"},
    "image": {"image": {}},
    "include": {"include": ["reasoning.encrypted_content", "message.output_text.logprobs"]},
    "input": {"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]},
    "instructions": {"instructions": "Be brief."},
    "max_output_tokens": {"max_output_tokens": 16},
    "max_tool_calls": {"max_tool_calls": 3},
    "metadata": {"metadata": {"run": "42"}},
    "moderation": {"moderation": {"model": "omni-moderation-latest"}},
    "parallel_tool_calls": {"parallel_tool_calls": False},
    "previous_response_id": {},  # needs a stored response: covered in test_responses.py
    "prompt": {"prompt": {"id": "pmpt_1", "version": "2", "variables": {"city": "Paris"}}},
    "prompt_cache_key": {"prompt_cache_key": "k"},
    "prompt_cache_options": {"prompt_cache_options": {"mode": "implicit"}},
    "prompt_cache_retention": {"prompt_cache_retention": "in_memory"},
    "reasoning": {"reasoning": {"effort": "high", "summary": "auto"}},
    "safety_identifier": {"safety_identifier": "h"},
    "service_tier": {"service_tier": "priority"},
    "store": {"store": False},
    "stream": {"stream": True},
    "stream_options": {"stream": True, "stream_options": {"include_obfuscation": False}},
    "temperature": {"temperature": 2},
    "text": {
        "text": {
            "format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}},
            "verbosity": "high",
        }
    },
    "tool_choice": {"tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}},
    "tools": {"tools": [WEATHER, {"type": "web_search"}]},
    "top_logprobs": {"top_logprobs": 20},
    "top_p": {"top_p": 0},
    "truncation": {"truncation": "auto"},
    "user": {"user": "u"},
}


def test_valid_variants_cover_every_parameter_the_sdk_declares() -> None:
    declared = param_keys(response_create_params.ResponseCreateParamsBase) | {"stream"}
    assert declared - {"model"} <= set(VALID)


@pytest.mark.parametrize("fields", list(VALID.values()), ids=list(VALID))
def test_every_parameter_with_a_legal_value_is_accepted(base_url: str, fields: dict) -> None:
    response = httpx.post(f"{base_url}{RESPONSES}", json=body(**fields))
    assert response.status_code == 200, response.text


# A minimal legal item of every type the SDK declares for ``input``.
ITEMS: dict[str, dict[str, Any]] = {
    "message": {"type": "message", "role": "developer", "content": "Be terse."},
    "function_call": CALL,
    "function_call_output": OUTPUT,
    "reasoning": {"type": "reasoning", "id": "rs_1", "summary": []},
    "item_reference": {"type": "item_reference", "id": "msg_1"},
}


def test_every_input_item_and_part_the_sdk_declares_is_accepted(base_url: str) -> None:
    declared = type_tags(ResponseInputItemParam)
    others = [{"type": kind, "id": f"{kind}_1"} for kind in sorted(declared - set(ITEMS))]
    items = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look:"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                {"type": "input_file", "file_id": "file_1"},
            ],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "A cat.", "annotations": []},
                {"type": "refusal", "refusal": "No more."},
            ],
        },
        *ITEMS.values(),
        *others,
    ]
    response = httpx.post(f"{base_url}{RESPONSES}", json=body(input=items))
    assert response.status_code == 200, response.text


def test_every_tool_type_the_sdk_declares_is_accepted(base_url: str) -> None:
    required = {
        "function": WEATHER,
        "custom": {"type": "custom", "name": "shell_command"},
        "file_search": {"type": "file_search", "vector_store_ids": ["vs_1"]},
        "mcp": {"type": "mcp", "server_label": "docs", "server_url": "https://x"},
        "code_interpreter": {"type": "code_interpreter", "container": {"type": "auto"}},
    }
    tools = [required.get(kind, {"type": kind}) for kind in sorted(type_tags(ToolParam))]
    response = httpx.post(f"{base_url}{RESPONSES}", json=body(tools=tools))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "choice",
    [
        "none",
        "auto",
        {
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_weather"}],
        },
        {"type": "web_search_preview"},
        {"type": "mcp", "server_label": "docs"},
    ],
    ids=["none", "auto", "allowed_tools", "hosted", "mcp"],
)
def test_tool_choice_forms_are_accepted(base_url: str, choice: Any) -> None:
    tools = [WEATHER, {"type": "web_search_preview"}, {"type": "mcp", "server_label": "docs"}]
    response = httpx.post(f"{base_url}{RESPONSES}", json=body(tools=tools, tool_choice=choice))
    assert response.status_code == 200, response.text


# --- The official SDK sees OpenAI's errors ---------------------------------------------


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)


def test_sdk_unknown_parameter(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4.1-mini", input="hi", extra_body={"top_k": 5})
    assert caught.value.param == "top_k"
    assert caught.value.code == "unknown_parameter"


def test_sdk_unknown_call_id(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="gpt-4.1-mini",
            input=[{"type": "function_call_output", "call_id": "call_x", "output": "1"}],
        )
    assert caught.value.param == "input"
    assert caught.value.message.endswith(
        "No tool call found for function call output with call_id call_x."
    )


def test_lenient_header_lets_unknown_parameters_by(base_url: str) -> None:
    request = body(top_k=5, repetition_penalty=1.1)
    lenient = httpx.post(
        f"{base_url}{RESPONSES}", json=request, headers={"X-Understudy-Lenient": "1"}
    )
    assert lenient.status_code == 200
    assert httpx.post(f"{base_url}{RESPONSES}", json=request).status_code == 400


def test_lenient_setting(serve) -> None:
    url = serve("name: d\ndefault: true\nreply: {content: hi}\n", lenient=True)
    assert httpx.post(f"{url}{RESPONSES}", json=body(top_k=5)).status_code == 200


def test_no_mutation_of_a_full_request_is_a_server_error(base_url: str) -> None:
    full = body(
        instructions="Be brief.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            CALL,
            OUTPUT,
        ],
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        text={"format": {"type": "json_schema", "name": "a", "schema": {}}},
        reasoning={"effort": "low"},
        max_output_tokens=100,
        metadata={"a": "b"},
    )
    statuses = set()
    with httpx.Client(base_url=base_url, timeout=10) as http:
        for mutated in mutations(full):
            response = http.post(RESPONSES, json=mutated)
            statuses.add(response.status_code)
            assert response.status_code in (200, 400), (mutated, response.text)
    assert statuses == {200, 400}
