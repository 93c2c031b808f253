"""Anthropic Messages, ``POST /v1/messages``.

The official ``anthropic`` SDK (sync and async, ``messages.create`` and the
``messages.stream`` accumulator) and raw httpx drive the live server with the bundled
scenarios, the same files the Chat tests use. Expected texts and tool arguments are read
from those scenario files, not written out here.
"""

import asyncio
import base64
import json
import re
from typing import Any

import anthropic
import httpx
import httpx2
import jiter
import pytest

from understudy.core.errors import ApiError
from understudy.plan import build_plan
from understudy.providers.anthropic.messages import MESSAGES, PING
from understudy.scenarios import Catalog, load_paths, load_text
from understudy.scenarios.catalog import Counters
from understudy.settings import Settings, bundled_scenarios

MODEL = "claude-opus-4-7"
REFERENCE_MODEL = "claude-sonnet-4-5-20250929"  # the transcripts' model
SCENARIOS = {scenario.name: scenario for scenario in load_paths([bundled_scenarios()])}
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Current time in a time zone.",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}},
}
MESSAGE_ID = re.compile(r"msg_01[A-Za-z0-9]{22}")
TOOL_USE_ID = re.compile(r"toolu_01[A-Za-z0-9]{22}")
REQUEST_ID = re.compile(r"req_011[A-Za-z0-9]{21}")
SCENARIOS_TEXT_DEFAULT = "name: default\ndefault: true\nreply:\n  content: Hi\n"


def reply_of(name: str) -> Any:
    return SCENARIOS[name].reply


def arguments_of(name: str) -> list[dict[str, Any]]:
    return [json.loads(call.arguments_text()) for call in reply_of(name).tool_calls]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def client(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)


@pytest.fixture
def async_client(base_url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)


# --- The SDK: messages.create(stream=True) and the messages.stream accumulator ---------


def test_create_stream_yields_events_in_order(client: anthropic.Anthropic) -> None:
    """message_start, one block's start/deltas/stop, message_delta, stop."""
    events = list(
        client.messages.create(model=MODEL, max_tokens=1024, messages=user("hi"), stream=True)
    )
    kinds = [event.type for event in events]
    deltas = [event for event in events if event.type == "content_block_delta"]
    assert deltas
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * len(deltas),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0].message
    assert MESSAGE_ID.fullmatch(start.id)
    assert (start.role, start.model, start.content, start.stop_reason) == (
        "assistant",
        MODEL,
        [],
        None,
    )
    assert start.usage.output_tokens == 1
    assert "".join(d.delta.text for d in deltas) == reply_of("default").content
    final = events[-2]
    assert final.delta.stop_reason == "end_turn"
    assert final.delta.stop_sequence is None
    assert final.usage.output_tokens == len(deltas)
    assert final.usage.input_tokens == start.usage.input_tokens


def test_stream_helper_accumulates_text(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=user("hello")) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    expected = reply_of("default").content
    assert streamed == expected
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == expected
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0
    assert final.usage.service_tier == "standard"
    counted = client.messages.count_tokens(model=MODEL, messages=user("hello"))
    assert counted.input_tokens == final.usage.input_tokens


def test_stream_helper_thinking_block_with_signature(client: anthropic.Anthropic) -> None:
    """Thinking deltas, then one signature_delta before the block stops."""
    with client.messages.stream(
        model=MODEL, max_tokens=4096, messages=user("Why is the sky blue? Think.")
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    reply = reply_of("reasoning")
    assert [block.type for block in final.content] == ["thinking", "text"]
    thinking, text = final.content
    assert thinking.thinking == reply.reasoning
    assert len(base64.b64decode(thinking.signature, validate=True)) > 100
    assert text.text == reply.content
    assert kinds.count("signature") == 1
    assert kinds.index("signature") < kinds.index("text")
    assert final.stop_reason == "end_turn"


def test_stream_helper_tool_use_input_equals_scenario_arguments(
    client: anthropic.Anthropic,
) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=1024, tools=[WEATHER], messages=user("Weather in Paris?")
    ) as stream:
        snapshots = [event.snapshot for event in stream if event.type == "input_json"]
        final = stream.get_final_message()
    (call,) = final.content
    assert call.type == "tool_use"
    assert call.name == "get_weather"
    assert call.input == arguments_of("weather-call")[0]
    assert TOOL_USE_ID.fullmatch(call.id)
    assert final.stop_reason == "tool_use"
    assert snapshots and snapshots[-1] == call.input


def test_stream_helper_two_tool_uses(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=1024,
        tools=[WEATHER, TIME],
        messages=user("What's the weather and the time in Paris?"),
    ) as stream:
        final = stream.get_final_message()
    calls = final.content
    assert [call.type for call in calls] == ["tool_use", "tool_use"]
    assert [call.name for call in calls] == ["get_weather", "get_time"]
    assert [call.input for call in calls] == arguments_of("weather-and-time")
    assert len({call.id for call in calls}) == 2
    assert final.stop_reason == "tool_use"


def test_agent_loop_ends_with_text_after_tool_result(client: anthropic.Anthropic) -> None:
    """Matching sees a user turn holding tool_result blocks as a tool result (issue: agent loop)."""
    messages: list[dict[str, Any]] = user("What's the weather in Paris?")
    for _ in range(4):
        with client.messages.stream(
            model=MODEL, max_tokens=1024, tools=[WEATHER], messages=messages
        ) as stream:
            final = stream.get_final_message()
        if final.stop_reason != "tool_use":
            break
        messages.append({"role": "assistant", "content": final.content})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": block.id, "content": "18C, sunny"}
                    for block in final.content
                    if block.type == "tool_use"
                ],
            }
        )
    assert final.stop_reason == "end_turn"
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert final.content[0].text == reply_of("weather-answer").content


def test_tool_result_with_trailing_text_still_counts_as_a_tool_result(
    client: anthropic.Anthropic,
) -> None:
    messages = [
        *user("Weather in Paris?"),
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "18C"}],
                },
                {"type": "text", "text": "Please answer briefly."},
            ],
        },
    ]
    final = client.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER], messages=messages)
    assert final.content[0].text == reply_of("weather-answer").content


def test_max_tokens_truncates_with_stop_reason_max_tokens(client: anthropic.Anthropic) -> None:
    """A reply cut by max_tokens, as the live API ends it."""
    with client.messages.stream(
        model=MODEL, max_tokens=7, messages=user("Tell me a long story")
    ) as stream:
        final = stream.get_final_message()
    story = reply_of("long-story").content
    text = final.content[0].text
    assert final.stop_reason == "max_tokens"
    assert final.stop_sequence is None
    assert final.usage.output_tokens == 7
    assert story.startswith(text) and len(text) < len(story)


def test_request_stop_sequence_cuts_the_reply(serve) -> None:
    base_url = serve("name: ends\nreply:\n  content: 'First part. END and more after it.'\n")
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
    with client.messages.stream(
        model=MODEL, max_tokens=100, stop_sequences=["END"], messages=user("go")
    ) as stream:
        streamed = stream.get_final_message()
    plain = client.messages.create(
        model=MODEL, max_tokens=100, stop_sequences=["END"], messages=user("go")
    )
    for final in (streamed, plain):
        assert final.stop_reason == "stop_sequence"
        assert final.stop_sequence == "END"
        assert final.content[0].text == "First part. "


def test_scenario_stop_sequence_and_cache_reads(serve) -> None:
    """A scenario's stop_sequence and cached tokens; input_tokens excludes cache reads."""
    base_url = serve(
        """
name: stopped
reply:
  content: Done
  stop_sequence: "###"
  usage: {input_tokens: 100, cached_tokens: 40, output_tokens: 3}
"""
    )
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=user("go")) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "###")
    usage = final.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (60, 40, 3)
    assert usage.cache_creation_input_tokens == 0


def test_refusal_is_a_text_block_with_stop_reason_refusal(serve) -> None:
    base_url = serve("name: refuses\nreply:\n  refusal: I can't help with that.\n")
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=user("x")) as stream:
        streamed = stream.get_final_message()
    plain = client.messages.create(model=MODEL, max_tokens=100, messages=user("x"))
    for final in (streamed, plain):
        assert final.stop_reason == "refusal"
        assert [block.text for block in final.content] == ["I can't help with that."]


def test_non_streaming_message(client: anthropic.Anthropic, base_url: str) -> None:
    """the message object and its field order."""
    message = client.messages.create(model=MODEL, max_tokens=1024, messages=user("hi"))
    assert MESSAGE_ID.fullmatch(message.id)
    assert (message.type, message.role, message.model) == ("message", "assistant", MODEL)
    assert message.content[0].text == reply_of("default").content
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    raw = httpx.post(
        f"{base_url}/v1/messages",
        json={"model": MODEL, "max_tokens": 1024, "messages": user("hi")},
    )
    body = raw.json()
    assert list(body) == [
        "id",
        "type",
        "role",
        "model",
        "content",
        "stop_reason",
        "stop_sequence",
        "usage",
    ]
    assert list(body["usage"]) == [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "service_tier",
    ]
    assert raw.headers["content-type"] == "application/json"
    assert REQUEST_ID.fullmatch(raw.headers["request-id"])


def test_non_streaming_thinking_and_tool_use(client: anthropic.Anthropic) -> None:
    thought = client.messages.create(model=MODEL, max_tokens=4096, messages=user("why?"))
    assert [block.type for block in thought.content] == ["thinking", "text"]
    assert thought.content[0].thinking == reply_of("reasoning").reasoning
    assert thought.content[0].signature
    tools = client.messages.create(
        model=MODEL, max_tokens=1024, tools=[WEATHER, TIME], messages=user("weather and time?")
    )
    assert [block.input for block in tools.content] == arguments_of("weather-and-time")
    assert all(TOOL_USE_ID.fullmatch(block.id) for block in tools.content)
    assert tools.stop_reason == "tool_use"


async def _async_round_trip(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model=MODEL, max_tokens=1024, tools=[WEATHER], messages=user("weather?")
    ) as stream:
        streamed = await stream.get_final_message()
    assert streamed.content[0].input == arguments_of("weather-call")[0]
    plain = await client.messages.create(model=MODEL, max_tokens=1024, messages=user("hi"))
    assert plain.content[0].text == reply_of("default").content
    events = [
        event.type
        async for event in await client.messages.create(
            model=MODEL, max_tokens=1024, messages=user("why"), stream=True
        )
    ]
    assert events[0] == "message_start" and events[-1] == "message_stop"


def test_async_client(async_client: anthropic.AsyncAnthropic) -> None:
    asyncio.run(_async_round_trip(async_client))


# --- Errors before the stream ----------------------------------------


def test_missing_max_tokens_exact_body(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/v1/messages",
        json={"model": MODEL, "messages": user("hi"), "stream": True},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    request_id = response.headers["request-id"]
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert REQUEST_ID.fullmatch(request_id)
    assert response.content == (
        b'{"type":"error","error":{"type":"invalid_request_error",'
        b'"message":"max_tokens: Field required"},"request_id":"' + request_id.encode() + b'"}'
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": {}}, "messages: Input should be a valid list"),
        ({"messages": []}, "messages: at least one message is required"),
        (
            {"messages": [{"role": "developer", "content": "x"}]},
            'messages: Unexpected role "developer".',
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages.0.content.0.tool_result.tool_use_id: Field required",
        ),
        ({"max_tokens": -1}, "max_tokens: Input should be greater than or equal to 0"),
        ({"system": 5}, "system: Input should be a valid list"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.tool.name: Field required"),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            "`max_tokens` must be greater than `thinking.budget_tokens`.",
        ),
    ],
)
def test_validation_errors_name_the_field(base_url: str, body: dict, message: str) -> None:
    request = {"model": MODEL, "max_tokens": 1024, "messages": user("hi"), **body}
    response = httpx.post(f"{base_url}/v1/messages", json=request)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(message)
    assert error["request_id"] == response.headers["request-id"]


def test_newer_blocks_tools_and_fields_are_accepted(base_url: str) -> None:
    """Block types, server tools and fields this server doesn't model are not refused."""
    body = {
        "model": MODEL,
        "max_tokens": 2048,
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "tools": [
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
            {"type": "mcp_toolset", "mcp_server_name": "docs"},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "u-1"},
        "context_management": {"edits": []},
        "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Hm.", "signature": "EqQB"},
                    {"type": "redacted_thinking", "data": "abc"},
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                ],
            },
            {"role": "user", "content": [{"type": "search_result", "source": "s", "title": "t"}]},
        ],
    }
    response = httpx.post(f"{base_url}/v1/messages", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == reply_of("default").content


def test_sdk_raises_bad_request_with_type_and_request_id(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "robot", "content": "x"}]
        )
    error = caught.value
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert REQUEST_ID.fullmatch(error.request_id)
    assert error.body["request_id"] == error.request_id
    assert 'Unexpected role "robot"' in error.message


def test_invalid_json_body(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/v1/messages",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("The request body is not valid JSON: ")


def test_unknown_scenario_is_not_found_error(client: anthropic.Anthropic) -> None:
    """404 → not_found_error → NotFoundError."""
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=user("hi"),
            extra_headers={"X-Understudy-Scenario": "no-such-scenario"},
        )
    assert caught.value.type == "not_found_error"
    assert caught.value.body["type"] == "error"


def test_oversized_body_is_request_too_large(serve) -> None:
    """413 → request_too_large → RequestTooLargeError."""
    base_url = serve(SCENARIOS_TEXT_DEFAULT, max_body_bytes=2048)
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.RequestTooLargeError) as caught:
        client.messages.create(model=MODEL, max_tokens=10, messages=user("x" * 4096))
    assert caught.value.type == "request_too_large"
    assert client.messages.create(model=MODEL, max_tokens=10, messages=user("x")).content


# --- Headers and auth ------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "sk-ant-1", "anthropic-version": "2023-06-01"},
        {"authorization": "Bearer sk-ant-1", "anthropic-version": "2026-10-21"},
        {},
    ],
)
def test_either_auth_header_and_any_version(base_url: str, headers: dict) -> None:
    body = {"model": MODEL, "max_tokens": 64, "messages": user("hi"), "stream": True}
    response = httpx.post(f"{base_url}/v1/messages", json=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert REQUEST_ID.fullmatch(response.headers["request-id"])
    assert "x-request-id" not in response.headers
    assert "content-length" not in response.headers


def test_count_tokens(client: anthropic.Anthropic, base_url: str) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=user("hi"))
    longer = client.messages.count_tokens(
        model=MODEL, system="You are terse.", tools=[WEATHER], messages=user("hi there, friend")
    )
    assert 0 < short.input_tokens < longer.input_tokens
    missing = httpx.post(f"{base_url}/v1/messages/count_tokens", json={"model": MODEL})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "messages: Field required"


# --- Raw bytes ---------------------------------------------------

# Live transcripts (text, two tool uses, thinking) verbatim, but for the message id (drawn per stream) and the
# thinking signature (random); the scenarios below reproduce the reference replies.
TRANSCRIPT_A = """event: message_start
data: {"type":"message_start","message":{"id":"@ID","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":6}}

event: message_stop
data: {"type":"message_stop"}

"""
SCENARIO_A = """
name: plain
match: {contains: plain}
reply:
  content: ["Hello", " there!"]
  usage: {input_tokens: 21, output_tokens: 6}
"""

TRANSCRIPT_B2 = """event: message_start
data: {"type":"message_start","message":{"id":"@ID","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":380,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking both."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01Ab5Cd7Ef9Gh1Jk3Lm5Np7Q","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\": \\"Pa"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01Rs2Tu4Vw6Xy8Za0Bc2De4F","name":"get_time","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"tz\\": "}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\\"Europe/Paris\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":380,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":92}}

event: message_stop
data: {"type":"message_stop"}

"""
SCENARIO_B2 = """
name: parallel
match: {contains: parallel}
reply:
  content: ["Checking both."]
  tool_calls:
    - name: get_weather
      id: toolu_01Ab5Cd7Ef9Gh1Jk3Lm5Np7Q
      fragments: ['{"city": "Pa', 'ris"}']
    - name: get_time
      id: toolu_01Rs2Tu4Vw6Xy8Za0Bc2De4F
      fragments: ['{"tz": ', '"Europe/Paris"}']
  usage: {input_tokens: 380, output_tokens: 92}
"""

TRANSCRIPT_C = """event: message_start
data: {"type":"message_start","message":{"id":"@ID","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":45,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user greets me."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" Reply briefly."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"@SIG"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":45,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":31}}

event: message_stop
data: {"type":"message_stop"}

"""
SCENARIO_C = """
name: thinking
match: {contains: thinking}
reply:
  reasoning: ["The user greets me.", " Reply briefly."]
  content: ["Hi!"]
  usage: {input_tokens: 45, output_tokens: 31}
"""


def post_stream(base_url: str, body: dict, headers: dict | None = None) -> httpx.Response:
    request = {"model": REFERENCE_MODEL, "max_tokens": 1024, "stream": True, **body}
    response = httpx.post(f"{base_url}/v1/messages", json=request, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response


def parse_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, payload) per event, asserting the framing: ``event:`` line, ``data:`` line, blank."""
    assert raw.endswith("\n\n")
    events = []
    for block in raw[:-2].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 2, block
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        name, payload = lines[0][7:], json.loads(lines[1][6:])
        assert payload["type"] == name
        events.append((name, payload))
    return events


@pytest.mark.parametrize(
    ("scenario", "text", "transcript"),
    [
        (SCENARIO_A, "plain", TRANSCRIPT_A),
        (SCENARIO_B2, "parallel", TRANSCRIPT_B2),
        (SCENARIO_C, "thinking", TRANSCRIPT_C),
    ],
    ids=["3.5a-text", "3.5b2-tools", "3.5c-thinking"],
)
def test_reference_transcripts_byte_for_byte(
    serve, scenario: str, text: str, transcript: str
) -> None:
    base_url = serve(scenario)
    raw = post_stream(base_url, {"messages": user(text)}).text
    events = parse_events(raw)
    message_id = events[0][1]["message"]["id"]
    assert MESSAGE_ID.fullmatch(message_id)
    expected = transcript.replace("@ID", message_id)
    signatures = [p["delta"]["signature"] for _, p in events if "signature" in p.get("delta", {})]
    if signatures:
        expected = expected.replace("@SIG", signatures[0])
    assert raw == expected


def check_stream(raw: str) -> list[tuple[str, dict[str, Any]]]:
    """The Messages stream rules over one stream: framing, order, block index discipline, one ping."""
    assert "[DONE]" not in raw
    events = parse_events(raw)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("message_delta") == 1 and names.count("ping") == 1
    first_start = names.index("content_block_start") if "content_block_start" in names else 0
    assert names[first_start + 1] == "ping"
    expected_index, open_index = 0, None
    for name, payload in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None and payload["index"] == expected_index
            open_index = expected_index
        elif name == "content_block_delta":
            assert payload["index"] == open_index
        elif name == "content_block_stop":
            assert payload["index"] == open_index
            open_index, expected_index = None, expected_index + 1
        else:
            assert name == "ping"
    assert open_index is None
    return events


def scenario_request(name: str) -> dict[str, Any]:
    tools = [WEATHER, TIME] if name.startswith(("weather", "agent-")) else []
    return {"messages": user("hello"), "tools": tools, "max_tokens": 4096}


REPLY_FIELDS = {"content", "reasoning", "tool_calls", "refusal", "finish_reason", "stop_sequence"}
PLAIN = sorted(
    name
    for name, scenario in SCENARIOS.items()
    if scenario.delivery is None
    and all(
        reply.model_fields_set <= REPLY_FIELDS | {"usage", "model"} for reply in scenario.reply_list
    )
)
"""Bundled scenarios that reply normally and at once (no injected faults, no pacing)."""


@pytest.mark.parametrize("name", PLAIN)
def test_every_bundled_scenario_streams_and_matches_its_json_reply(
    base_url: str, client: anthropic.Anthropic, name: str
) -> None:
    """Stream and non-stream render the same reply for every plain bundled scenario."""
    headers = {"X-Understudy-Scenario": name}
    events = check_stream(post_stream(base_url, scenario_request(name), headers).text)
    blocks: list[dict[str, Any]] = []
    for kind, payload in events:
        if kind == "content_block_start":
            blocks.append(dict(payload["content_block"]))
            partial = ""
        elif kind == "content_block_delta":
            delta, block = payload["delta"], blocks[-1]
            if delta["type"] == "input_json_delta":
                partial += delta["partial_json"]
                if partial:  # every concatenation is a valid JSON prefix
                    jiter.from_json(partial.encode(), partial_mode=True)
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                field = {"text_delta": "text", "thinking_delta": "thinking"}[delta["type"]]
                block[field] += delta[field]
        elif kind == "content_block_stop" and blocks[-1]["type"] == "tool_use":
            blocks[-1]["input"] = json.loads(partial or "{}")
    message = client.messages.create(
        model=MODEL, extra_headers=headers, **scenario_request(name)
    ).model_dump(exclude_none=True)
    for streamed, whole in zip(blocks, message["content"], strict=True):
        for volatile in ("id", "signature"):
            assert bool(streamed.pop(volatile, None)) == bool(whole.pop(volatile, None))
        assert streamed == whole
    assert events[-2][1]["delta"]["stop_reason"] == message["stop_reason"]
    assert events[-2][1]["usage"]["output_tokens"] == message["usage"]["output_tokens"]


def test_tool_without_arguments_sends_only_the_empty_fragment(serve) -> None:
    """A tool with no arguments streams one empty input_json_delta; input stays {}."""
    base_url = serve("name: ping-tool\nreply:\n  tool_calls: [{name: ping}]\n")
    events = check_stream(post_stream(base_url, {"messages": user("x")}).text)
    deltas = [p["delta"] for name, p in events if name == "content_block_delta"]
    assert deltas == [{"type": "input_json_delta", "partial_json": ""}]
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
    with client.messages.stream(model=MODEL, max_tokens=9, messages=user("x")) as stream:
        assert stream.get_final_message().content[0].input == {}


# --- Mid-stream events for the shared fault machinery ----------


def stream_for(scenario_yaml: str, text: str = "hi") -> Any:
    """The real EventStream the server would send for ``text`` with this scenario."""
    body = {"model": MODEL, "max_tokens": 1024, "stream": True, "messages": user(text)}
    neutral = MESSAGES.parse(body, {})
    selection = Catalog(load_text(scenario_yaml)).select(neutral, Counters())
    plan = build_plan(neutral, selection, Settings(), MESSAGES.new_request_id())
    return MESSAGES.render_stream(plan), plan


def sdk_over(body: bytes) -> anthropic.Anthropic:
    """An SDK client whose HTTP transport answers with ``body`` as a 200 event stream."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, content=body, headers={"content-type": "text/event-stream; charset=utf-8"}
        )

    transport = httpx2.MockTransport(answer)
    return anthropic.Anthropic(
        base_url="http://understudy.test",
        api_key="k",
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(transport=transport),
    )


def test_error_frames_end_the_stream_as_the_sdk_expects() -> None:
    stream, plan = stream_for(SCENARIO_A, "plain")
    frames = [data for data, _ in stream.frames()]
    error = ApiError(529, "Overloaded")
    (error_event,) = stream.error_frames(error)
    assert error_event == (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"},"request_id":"' + plan.request_id.encode() + b'"}\n\n'
    )
    cut = b"".join(frames[:4]) + error_event  # after the first text delta, as the live API does
    client = sdk_over(cut)
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MODEL, max_tokens=9, messages=user("hi")) as stream,
    ):
        stream.get_final_message()
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"


def test_keepalive_is_a_ping_the_sdk_ignores() -> None:
    stream, _ = stream_for(SCENARIO_C, "thinking")
    assert stream.keepalive() == PING == b'event: ping\ndata: {"type": "ping"}\n\n'
    frames = [data for data, _ in stream.frames()]
    padded = b"".join(frame + stream.keepalive() for frame in frames)
    client = sdk_over(padded)
    with client.messages.stream(model=MODEL, max_tokens=9, messages=user("x")) as s:
        final = s.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[1].text == "Hi!"


def test_token_flags_mark_only_deltas() -> None:
    """Structural events are sent at once; text, thinking and tool-input deltas are paced."""
    stream, plan = stream_for(SCENARIO_B2, "parallel")
    flagged = [
        (json.loads(data.split(b"\ndata: ", 1)[1]), paced) for data, paced in stream.frames()
    ]
    for payload, paced in flagged:
        delta_type = payload.get("delta", {}).get("type")
        assert paced == (delta_type in ("text_delta", "thinking_delta", "input_json_delta"))
    reply = plan.reply
    paced_count = sum(paced for _, paced in flagged)
    assert paced_count == len(reply.content) + sum(len(c.fragments) + 1 for c in reply.tool_calls)


# --- Scenario errors and stream faults rendered in Anthropic's vocabulary --------------

FAULTS = """
name: busy
match: {contains: busy}
reply: {error: overloaded}
---
name: limited
match: {contains: limited}
reply: {error: rate_limit}
---
name: breaks
match: {contains: breaks}
reply:
  content: ["Hel", "lo", " there"]
  fault: {kind: error_event, after_events: 4, error: overloaded}
"""


@pytest.mark.parametrize(
    ("word", "status", "kind", "error_class"),
    [
        ("busy", 529, "overloaded_error", anthropic.OverloadedError),
        ("limited", 429, "rate_limit_error", anthropic.RateLimitError),
    ],
)
def test_scenario_http_errors_pick_the_sdk_class(
    serve, word: str, status: int, kind: str, error_class: type
) -> None:
    """529 OverloadedError, 429 RateLimitError with Anthropic headers."""
    client = anthropic.Anthropic(base_url=serve(FAULTS), api_key="k", max_retries=0)
    with pytest.raises(error_class) as caught:
        client.messages.create(model=MODEL, max_tokens=10, messages=user(word))
    error = caught.value
    assert (error.status_code, error.type) == (status, kind)
    assert error.body["request_id"] == error.request_id
    headers = error.response.headers
    assert not any(name.startswith("x-ratelimit") for name in headers)
    if status == 429:
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert "retry-after" in headers


def test_mid_stream_error_event(serve) -> None:
    """``event: error`` after a delta; the SDK raises with status 200."""
    base_url = serve(FAULTS)
    response = httpx.post(
        f"{base_url}/v1/messages",
        json={"model": MODEL, "max_tokens": 10, "stream": True, "messages": user("breaks")},
    )
    events = parse_events(response.text)
    assert [name for name, _ in events][-2:] == ["content_block_delta", "error"]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": response.headers["request-id"],
    }
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MODEL, max_tokens=10, messages=user("breaks")) as stream,
    ):
        stream.get_final_message()
    assert (caught.value.status_code, caught.value.type) == (200, "overloaded_error")
