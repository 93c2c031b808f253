"""OpenAI Responses, ``/v1/responses``.

The official ``openai`` SDK drives the live server through its strictest helpers
(``client.responses.stream()`` / ``get_final_response()``); raw ``httpx`` checks the
bytes: ``event:`` names, ``sequence_number``, item indexes and ids, field order.
Replies come from the bundled scenarios, the same files the Chat tests use.
"""

import json
import re
from typing import Any

import httpx
import openai
import pytest

from understudy.core.errors import ApiError
from understudy.plan import build_plan
from understudy.providers.openai import RESPONSES
from understudy.providers.openai.responses_stream import ResponseEventStream
from understudy.scenarios import Catalog, load_paths
from understudy.scenarios.catalog import Counters
from understudy.settings import Settings, bundled_scenarios

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
TIME = {
    "type": "function",
    "name": "get_time",
    "parameters": {
        "type": "object",
        "properties": {"tz": {"type": "string"}},
        "required": ["tz"],
        "additionalProperties": False,
    },
    "strict": True,
}
DEFAULT_TEXT = "Hello! I am Understudy, a scripted stand-in for a language model. How can I help?"
REASONING_TEXT = "The user wants a considered answer. I will reason briefly, then reply."
ANSWER_TEXT = "After thinking it over: the answer is 42."
WEATHER_ANSWER = "It is 18°C and sunny in Paris."

# The Response object's fields, in the real service's order.
RESPONSE_FIELDS = [
    "id",
    "object",
    "created_at",
    "status",
    "background",
    "error",
    "incomplete_details",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "model",
    "output",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt_cache_key",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "usage",
    "user",
    "metadata",
]
_SCOPE = ["type", "sequence_number", "item_id", "output_index"]
# Transcripts of the live API: each event's fields, in order (obfuscation on).
EVENT_FIELDS = {
    "response.created": ["type", "sequence_number", "response"],
    "response.in_progress": ["type", "sequence_number", "response"],
    "response.completed": ["type", "sequence_number", "response"],
    "response.incomplete": ["type", "sequence_number", "response"],
    "response.failed": ["type", "sequence_number", "response"],
    "response.output_item.added": ["type", "sequence_number", "output_index", "item"],
    "response.output_item.done": ["type", "sequence_number", "output_index", "item"],
    "response.content_part.added": [*_SCOPE, "content_index", "part"],
    "response.content_part.done": [*_SCOPE, "content_index", "part"],
    "response.output_text.delta": [*_SCOPE, "content_index", "delta", "logprobs", "obfuscation"],
    "response.output_text.done": [*_SCOPE, "content_index", "text", "logprobs"],
    "response.refusal.delta": [*_SCOPE, "content_index", "delta"],
    "response.refusal.done": [*_SCOPE, "content_index", "refusal"],
    "response.function_call_arguments.delta": [*_SCOPE, "delta", "obfuscation"],
    "response.function_call_arguments.done": [*_SCOPE, "name", "arguments"],
    "response.reasoning_summary_part.added": [*_SCOPE, "summary_index", "part"],
    "response.reasoning_summary_part.done": [*_SCOPE, "summary_index", "part"],
    "response.reasoning_summary_text.delta": [*_SCOPE, "summary_index", "delta", "obfuscation"],
    "response.reasoning_summary_text.done": [*_SCOPE, "summary_index", "text"],
    "error": ["type", "sequence_number", "code", "message", "param", "error"],
}
ITEM_EVENTS = {
    "message": ("response.content_part.", "response.output_text.", "response.refusal."),
    "function_call": ("response.function_call_arguments.",),
    "reasoning": ("response.reasoning_summary_",),
}


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)


def post(base_url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/responses", json=body, headers=headers, timeout=10)


def parse_sse(raw: str) -> list[dict[str, Any]]:
    """Every event as its JSON, after checking the framing: ``event:`` + one ``data:``
    line + a blank line, the name equal to the JSON ``type``."""
    assert raw.endswith("\n\n")
    assert "[DONE]" not in raw
    events = []
    for block in raw[:-2].split("\n\n"):
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ")
        assert data_line.startswith("data: ")
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == name_line[len("event: ") :]
        events.append(data)
    return events


def stream_events(base_url: str, body: dict[str, Any], **headers: str) -> list[dict[str, Any]]:
    response = post(base_url, {**body, "stream": True}, **headers)
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


def check_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Every lifecycle, order, index and id rule of the live event stream; the final Response."""
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    for event in events:
        fields = EVENT_FIELDS[event["type"]]
        if "obfuscation" in fields and "obfuscation" not in event:
            fields = [name for name in fields if name != "obfuscation"]
        assert list(event) == fields, event["type"]

    created, in_progress, *middle, terminal = events
    assert created["type"] == "response.created"
    assert in_progress["type"] == "response.in_progress"
    assert terminal["type"] in ("response.completed", "response.incomplete")
    for opening in (created["response"], in_progress["response"]):
        assert list(opening) == RESPONSE_FIELDS
        assert opening["status"] == "in_progress"
        assert opening["output"] == []
        assert opening["usage"] is None
    final = terminal["response"]
    assert list(final) == RESPONSE_FIELDS
    assert final["id"] == created["response"]["id"] == in_progress["response"]["id"]
    assert final["status"] == terminal["type"].removeprefix("response.")
    assert final["usage"]["total_tokens"] == (
        final["usage"]["input_tokens"] + final["usage"]["output_tokens"]
    )

    done_items: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    parts: list[str] = []
    for event in middle:
        kind = event["type"]
        if kind == "response.output_item.added":
            assert current is None, "items are streamed one at a time"
            assert event["output_index"] == len(done_items)
            current, parts = event["item"], []
            assert current["id"]
            if current["type"] == "reasoning":
                assert current["summary"] == []
            elif current["type"] == "message":
                assert current["status"] == "in_progress" and current["content"] == []
            else:
                assert current["status"] == "in_progress" and current["arguments"] == ""
            continue
        assert current is not None, f"{kind} outside an item"
        assert event["output_index"] == len(done_items)
        if kind == "response.output_item.done":
            item = event["item"]
            assert (item["type"], item["id"]) == (current["type"], current["id"])
            assert item.get("call_id") == current.get("call_id")
            done_items.append(item)
            current = None
            continue
        assert event["item_id"] == current["id"]
        assert kind.startswith(ITEM_EVENTS[current["type"]])
        if kind == "response.content_part.added":
            assert event["content_index"] == len(parts)
            parts.append(event["part"]["type"])
        elif "content_index" in event:
            assert event["content_index"] == len(parts) - 1
        if "summary_index" in event:
            assert event["summary_index"] == 0
    assert current is None
    assert final["output"] == done_items
    return final


def deltas(events: list[dict[str, Any]], kind: str) -> str:
    return "".join(event["delta"] for event in events if event["type"] == kind)


# ------------------------------------------------------------------------ SDK streaming


def test_create_stream_yields_events_in_order_with_sequence_numbers(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4.1-mini", input="hi", stream=True))
    kinds = [event.type for event in events]
    text_deltas = [event for event in events if event.type == "response.output_text.delta"]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * len(text_deltas),
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert len(text_deltas) > 1
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert "".join(event.delta for event in text_deltas) == DEFAULT_TEXT
    final = events[-1].response
    assert final.status == "completed"
    assert final.output_text == DEFAULT_TEXT
    assert final.usage.output_tokens == len(text_deltas)


def test_stream_helper_final_response_text(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4.1-mini", input="hello there") as stream:
        snapshots = [
            event.snapshot for event in stream if event.type == "response.output_text.delta"
        ]
        final = stream.get_final_response()
    assert final.output_text == DEFAULT_TEXT == snapshots[-1]
    assert final.id.startswith("resp_")
    message = final.output[0]
    assert message.type == "message" and message.role == "assistant"
    assert message.status == "completed"
    assert message.content[0].annotations == []
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
    assert final.usage.output_tokens_details.reasoning_tokens == 0


def test_stream_helper_function_call_arguments_parse(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="gpt-4.1-mini", input="What's the weather in Paris?", tools=[WEATHER]
    ) as stream:
        done = [e for e in stream if e.type == "response.function_call_arguments.done"]
        final = stream.get_final_response()
    (call,) = final.output
    assert call.type == "function_call" and call.status == "completed"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.parsed_arguments == {"city": "Paris"}
    assert re.fullmatch(r"fc_[0-9a-f]{50}", call.id)
    assert re.fullmatch(r"call_[A-Za-z0-9]{24}", call.call_id)
    assert [(event.name, event.arguments) for event in done] == [("get_weather", call.arguments)]
    assert final.output_text == ""


def test_stream_helper_two_parallel_function_calls(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="gpt-4.1-mini",
        input="What's the weather and the time in Paris?",
        tools=[WEATHER, TIME],
    ) as stream:
        added = [e.output_index for e in stream if e.type == "response.output_item.added"]
        final = stream.get_final_response()
    assert added == [0, 1]
    assert [item.name for item in final.output] == ["get_weather", "get_time"]
    assert [item.parsed_arguments for item in final.output] == [
        {"city": "Paris"},
        {"tz": "Europe/Paris"},
    ]
    assert len({item.call_id for item in final.output}) == 2
    assert len({item.id for item in final.output}) == 2


def test_stream_helper_reasoning_summary_then_text(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="o4-mini",
        input="Think about it: why 42?",
        reasoning={"effort": "low", "summary": "auto"},
    ) as stream:
        summary = "".join(
            e.delta for e in stream if e.type == "response.reasoning_summary_text.delta"
        )
        final = stream.get_final_response()
    reasoning, _message = final.output
    assert reasoning.type == "reasoning"
    assert re.fullmatch(r"rs_[0-9a-f]{50}", reasoning.id)
    assert [part.text for part in reasoning.summary] == [REASONING_TEXT] == [summary]
    assert final.output_text == ANSWER_TEXT
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    assert final.reasoning.effort == "low" and final.reasoning.summary == "auto"


def test_truncation_ends_incomplete_and_final_response_raises(client: openai.OpenAI) -> None:
    """``response.incomplete``, and openai-python's helper raises."""
    with client.responses.stream(
        model="gpt-4.1-mini", input="Tell me a long story", max_output_tokens=16
    ) as stream:
        events = list(stream)
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
    terminal = events[-1]
    assert terminal.type == "response.incomplete"
    assert terminal.response.status == "incomplete"
    assert terminal.response.incomplete_details.reason == "max_output_tokens"
    assert terminal.response.max_output_tokens == 16
    assert terminal.response.usage.output_tokens == 16
    message = terminal.response.output[0]
    assert message.status == "incomplete"
    assert message.content[0].text.startswith("Once upon a time")
    assert len([e for e in events if e.type == "response.output_text.delta"]) == 16


@pytest.mark.anyio
async def test_async_stream_helper(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    async with client.responses.stream(
        model="gpt-4.1-mini", input="weather and time in Paris?", tools=[WEATHER, TIME]
    ) as stream:
        final = await stream.get_final_response()
    assert [item.name for item in final.output] == ["get_weather", "get_time"]


# ------------------------------------------------------------------------ non-streaming


def test_non_streaming_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4.1-mini", input="hi")
    assert response.object == "response"
    assert re.fullmatch(r"resp_[0-9a-f]{50}", response.id)
    assert response.status == "completed"
    assert response.output_text == DEFAULT_TEXT
    assert re.fullmatch(r"msg_[0-9a-f]{50}", response.output[0].id)
    assert response.completed_at is not None and response.completed_at >= response.created_at
    assert response.error is None and response.incomplete_details is None
    assert response._request_id is not None and response._request_id.startswith("req_")


def test_non_streaming_body_field_order_and_defaults(base_url: str) -> None:
    """The live API's Response object, field order included; ``completed_at`` comes last."""
    response = post(base_url, {"model": "gpt-4.1-mini", "input": "hi"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [*RESPONSE_FIELDS, "completed_at"]
    assert body["output"] == [
        {
            "id": body["output"][0]["id"],
            "type": "message",
            "status": "completed",
            "content": [
                {"type": "output_text", "annotations": [], "logprobs": [], "text": DEFAULT_TEXT}
            ],
            "role": "assistant",
        }
    ]
    assert {
        key: body[key]
        for key in RESPONSE_FIELDS
        if key not in ("id", "created_at", "output", "usage")
    } == {
        "object": "response",
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": "gpt-4.1-mini",
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": True,
        "temperature": 1,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1,
        "truncation": "disabled",
        "user": None,
        "metadata": {},
    }
    assert list(body["usage"]) == [
        "input_tokens",
        "input_tokens_details",
        "output_tokens",
        "output_tokens_details",
        "total_tokens",
    ]


def test_request_fields_are_echoed(base_url: str) -> None:
    body = {
        "model": "gpt-4.1-mini",
        "input": "hi",
        "instructions": "Be brief.",
        "temperature": 0.2,
        "top_p": 0.5,
        "max_output_tokens": 500,
        "metadata": {"run": "42"},
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "high"},
        "text": {"verbosity": "low"},
        "user": "u-1",
        "service_tier": "flex",
        "truncation": "auto",
        "tools": [{"type": "function", "name": "get_weather"}, {"type": "web_search"}],
    }
    echoed = post(base_url, body).json()
    assert echoed["instructions"] == "Be brief."
    assert (echoed["temperature"], echoed["top_p"]) == (0.2, 0.5)
    assert echoed["max_output_tokens"] == 500
    assert echoed["metadata"] == {"run": "42"}
    assert echoed["tool_choice"] == "required"
    assert echoed["parallel_tool_calls"] is False
    assert echoed["reasoning"] == {"effort": "high", "summary": None}
    assert echoed["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    assert echoed["user"] == "u-1"
    assert echoed["service_tier"] == "flex"
    assert echoed["truncation"] == "auto"
    assert echoed["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": None,
            "parameters": None,
            "strict": True,
        },
        {"type": "web_search"},
    ]


def test_non_streaming_truncation_is_incomplete(base_url: str) -> None:
    body = post(base_url, {"model": "m", "input": "a long story", "max_output_tokens": 16}).json()
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["output"][0]["status"] == "incomplete"
    assert body["completed_at"] is None
    assert body["usage"]["output_tokens"] == 16


# ------------------------------------------------------------------------ raw framing


@pytest.mark.parametrize(
    ("body", "kinds"),
    [
        ({"input": "hi"}, ["message"]),
        ({"input": "Tell me a story"}, ["message"]),
        ({"input": "Why? Think.", "reasoning": {"summary": "auto"}}, ["reasoning", "message"]),
        ({"input": "weather in Paris?", "tools": [WEATHER]}, ["function_call"]),
        ({"input": "weather and time?", "tools": [WEATHER, TIME]}, ["function_call"] * 2),
        (
            {
                "input": [
                    {"role": "user", "content": "weather in Paris?"},
                    {
                        "type": "function_call",
                        "call_id": "call_1",
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                    {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                ],
                "tools": [WEATHER],
            },
            ["message"],
        ),
    ],
    ids=[
        "default",
        "long-story",
        "reasoning",
        "weather-call",
        "weather-and-time",
        "weather-answer",
    ],
)
def test_every_bundled_scenario_streams_by_the_rules(
    base_url: str, body: dict[str, Any], kinds: list[str]
) -> None:
    events = stream_events(base_url, {"model": "gpt-4.1-mini", **body})
    final = check_stream(events)
    assert [item["type"] for item in final["output"]] == kinds
    assert final["status"] == "completed"
    # The non-streaming body for the same request has the same items.
    plain = post(base_url, {"model": "gpt-4.1-mini", **body}).json()
    assert [item["type"] for item in plain["output"]] == kinds
    assert [item.get("name") for item in plain["output"]] == [
        item.get("name") for item in final["output"]
    ]


def test_stream_headers_and_request_id(base_url: str) -> None:
    response = post(base_url, {"model": "m", "input": "hi", "stream": True})
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.text.startswith(
        'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
    )


def test_deltas_rebuild_every_done_value(base_url: str) -> None:
    events = stream_events(base_url, {"model": "m", "input": "why? think", "tools": [WEATHER]})
    final = check_stream(events)
    _reasoning, message = final["output"]
    assert deltas(events, "response.reasoning_summary_text.delta") == REASONING_TEXT
    assert deltas(events, "response.output_text.delta") == ANSWER_TEXT
    assert message["content"][0]["text"] == ANSWER_TEXT
    summary_done = [e for e in events if e["type"] == "response.reasoning_summary_part.done"]
    assert summary_done[0]["part"] == {"type": "summary_text", "text": REASONING_TEXT}
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] > 0


def test_function_call_events(base_url: str) -> None:
    """the call opens with name, call_id and empty arguments."""
    events = stream_events(base_url, {"model": "m", "input": "weather?", "tools": [WEATHER]})
    check_stream(events)
    added = events[2]["item"]
    assert list(added) == ["id", "type", "status", "arguments", "call_id", "name"]
    assert (added["arguments"], added["name"]) == ("", "get_weather")
    arguments = deltas(events, "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"city": "Paris"}
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done[0]["arguments"] == arguments and done[0]["name"] == "get_weather"


def test_obfuscation_on_by_default_and_off_by_request(base_url: str) -> None:
    body = {"model": "m", "input": "why? think", "tools": [WEATHER]}
    on = [e for e in stream_events(base_url, body) if e["type"].endswith(".delta")]
    assert on and all(e["obfuscation"] for e in on)
    off = stream_events(base_url, {**body, "stream_options": {"include_obfuscation": False}})
    check_stream(off)
    assert not any("obfuscation" in e for e in off)


def test_obfuscation_off_by_setting(serve) -> None:
    url = serve("name: hi\ndefault: true\nreply: {content: Hello there}\n", obfuscation=False)
    events = stream_events(url, {"model": "m", "input": "hi"})
    check_stream(events)
    assert not any("obfuscation" in e for e in events)


def test_exact_bytes_of_a_text_item(serve) -> None:
    """A text reply as the live API streams it, every byte of the item events (ids aside)."""
    url = serve(
        "name: hi\ndefault: true\nreply: {content: Hello there!}\n"
        'delivery: {chunking: ["Hello", " there!"]}\n',
        obfuscation=False,
    )
    raw = post(url, {"model": "m", "input": "hi", "stream": True}).text
    item_id = re.search(r'"id":"(msg_[0-9a-f]{50})"', raw).group(1)
    blocks = raw.split("\n\n")
    expected = [
        '{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"ID","type":"message","status":"in_progress","content":[],"role":"assistant"}}',
        '{"type":"response.content_part.added","sequence_number":3,"item_id":"ID","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}',
        '{"type":"response.output_text.delta","sequence_number":4,"item_id":"ID","output_index":0,"content_index":0,"delta":"Hello","logprobs":[]}',
        '{"type":"response.output_text.delta","sequence_number":5,"item_id":"ID","output_index":0,"content_index":0,"delta":" there!","logprobs":[]}',
        '{"type":"response.output_text.done","sequence_number":6,"item_id":"ID","output_index":0,"content_index":0,"text":"Hello there!","logprobs":[]}',
        '{"type":"response.content_part.done","sequence_number":7,"item_id":"ID","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":"Hello there!"}}',
        '{"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":{"id":"ID","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hello there!"}],"role":"assistant"}}',
    ]
    for block, data in zip(blocks[2:9], expected, strict=True):
        kind = json.loads(data)["type"]
        assert block == f"event: {kind}\ndata: {data.replace('ID', item_id)}"
    assert blocks[9].startswith(
        'event: response.completed\ndata: {"type":"response.completed","sequence_number":9,"response":{'
    )
    assert blocks[10:] == [""]


def test_refusal_is_a_refusal_part(serve) -> None:
    url = serve("name: refuse\ndefault: true\nreply: {refusal: I can't help with that.}\n")
    events = stream_events(url, {"model": "m", "input": "hi"})
    final = check_stream(events)
    assert final["status"] == "completed"
    assert final["output"][0]["content"] == [
        {"type": "refusal", "refusal": "I can't help with that."}
    ]
    assert deltas(events, "response.refusal.delta") == "I can't help with that."
    added = [e["part"] for e in events if e["type"] == "response.content_part.added"]
    assert added == [{"type": "refusal", "refusal": ""}]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    with client.responses.stream(model="m", input="hi") as stream:
        final_sdk = stream.get_final_response()
    assert final_sdk.output[0].content[0].refusal == "I can't help with that."


def test_content_filter_ends_incomplete(serve) -> None:
    url = serve(
        "name: cf\ndefault: true\nreply: {content: Some text, finish_reason: content_filter}\n"
    )
    events = stream_events(url, {"model": "m", "input": "hi"})
    final = check_stream(events)
    assert events[-1]["type"] == "response.incomplete"
    assert final["incomplete_details"] == {"reason": "content_filter"}


def test_encrypted_reasoning_when_included(base_url: str) -> None:
    events = stream_events(
        base_url, {"model": "m", "input": "think", "include": ["reasoning.encrypted_content"]}
    )
    final = check_stream(events)
    reasoning = final["output"][0]
    assert list(reasoning) == ["id", "type", "encrypted_content", "summary"]
    assert events[2]["item"]["encrypted_content"] == reasoning["encrypted_content"]


# ------------------------------------------------------------------------ conversation state


def test_previous_response_id_continues_a_tool_loop(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="gpt-4.1-mini", input="Weather in Paris?", tools=[WEATHER]
    )
    (call,) = first.output
    assert call.type == "function_call"
    with client.responses.stream(
        model="gpt-4.1-mini",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"c": 18}'}],
        tools=[WEATHER],
    ) as stream:
        second = stream.get_final_response()
    assert second.output_text == WEATHER_ANSWER
    assert second.previous_response_id == first.id


def test_previous_response_id_brings_the_earlier_turns(serve) -> None:
    """Only the stored conversation holds "pineapple" and the earlier assistant turn."""
    url = serve(
        "name: recall\nmatch: {contains: pineapple, turn: 1}\nreply: {content: You said pineapple.}\n"
        "---\nname: fallback\ndefault: true\nreply: {content: Noted.}\n"
    )
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    # A streamed response is stored as well as a plain one.
    with client.responses.stream(
        model="m", input="Remember: pineapple.", instructions="Be kind."
    ) as stream:
        first = stream.get_final_response()
    assert first.output_text == "Noted."
    second = client.responses.create(
        model="m", input="What did I say?", previous_response_id=first.id
    )
    assert second.output_text == "You said pineapple."
    assert client.responses.create(model="m", input="What did I say?").output_text == "Noted."
    # The chain grows: two assistant turns now, so ``turn: 1`` no longer holds.
    third = client.responses.create(model="m", input="And?", previous_response_id=second.id)
    assert third.output_text == "Noted."


def test_unknown_previous_response_id_is_a_400(client: openai.OpenAI, base_url: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="m", input="hi", previous_response_id="resp_missing")
    assert info.value.code == "previous_response_not_found"
    assert info.value.param == "previous_response_id"
    raw = post(
        base_url,
        {"model": "m", "input": "hi", "previous_response_id": "resp_missing", "stream": True},
    )
    assert raw.status_code == 400
    assert raw.headers["content-type"] == "application/json"
    assert raw.json() == {
        "error": {
            "message": "Previous response with id 'resp_missing' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    }


def test_get_returns_the_stored_response(client: openai.OpenAI, base_url: str) -> None:
    created = client.responses.create(model="gpt-4.1-mini", input="hi")
    fetched = httpx.get(f"{base_url}/v1/responses/{created.id}")
    assert fetched.status_code == 200
    assert re.fullmatch(r"req_[0-9a-f]{32}", fetched.headers["x-request-id"])
    assert fetched.json() == created.model_dump(mode="json", exclude_unset=True)
    with client.responses.stream(model="gpt-4.1-mini", input="weather?", tools=[WEATHER]) as stream:
        streamed = stream.get_final_response()
    retrieved = client.responses.retrieve(streamed.id)
    assert retrieved.status == "completed"
    assert retrieved.output[0].call_id == streamed.output[0].call_id


def test_delete_removes_the_stored_response(client: openai.OpenAI, base_url: str) -> None:
    created = client.responses.create(model="gpt-4.1-mini", input="hi")
    deleted = httpx.delete(f"{base_url}/v1/responses/{created.id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": created.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve(created.id)
    assert info.value.body["message"] == f"Response with id '{created.id}' not found."
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="m", input="hi", previous_response_id=created.id)


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    created = client.responses.create(model="gpt-4.1-mini", input="hi", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_is_bounded(serve) -> None:
    url = serve("name: hi\ndefault: true\nreply: {content: Hi}\n", response_store_size=2)
    ids = [post(url, {"model": "m", "input": "hi"}).json()["id"] for _ in range(3)]
    statuses = [httpx.get(f"{url}/v1/responses/{i}").status_code for i in ids]
    assert statuses == [404, 200, 200]


# ------------------------------------------------------------------------ request parsing


def test_input_items_of_every_kind(base_url: str) -> None:
    """parts, function calls and their outputs, reasoning, references."""
    body = {
        "model": "m",
        "tools": [WEATHER, {"type": "web_search_preview"}],
        "input": [
            {"type": "message", "role": "developer", "content": "Be terse."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "x"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [{"type": "input_text", "text": "18"}],
            },
            {"type": "item_reference", "id": "msg_123"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        ],
    }
    # The last neutral turn is the tool result, so weather-answer replies.
    assert post(base_url, body).json()["output"][0]["content"][0]["text"] == WEATHER_ANSWER


def test_instructions_and_system_messages_reach_matching(serve) -> None:
    url = serve(
        "name: pirate\nmatch: {system: pirate}\nreply: {content: Arr.}\n"
        "---\nname: plain\ndefault: true\nreply: {content: Hello.}\n"
    )
    said = [
        post(url, {"model": "m", "input": "hi", **extra}).json()["output"][0]["content"][0]["text"]
        for extra in (
            {"instructions": "Talk like a pirate."},
            {
                "input": [
                    {"role": "system", "content": "You are a pirate."},
                    {"role": "user", "content": "hi"},
                ]
            },
            {},
        )
    ]
    assert said == ["Arr.", "Arr.", "Hello."]


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        (
            {"input": "hi"},
            "Missing required parameter: 'model'.",
            "model",
            "missing_required_parameter",
        ),
        (
            {"model": "m", "input": 5},
            "Invalid type for 'input': expected one of a string or an array, but got an integer instead.",
            "input",
            "invalid_type",
        ),
        (
            {"model": "m", "input": "hi", "max_output_tokens": 15},
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
            "but got 15 instead.",
            "max_output_tokens",
            "integer_below_min_value",
        ),
        (
            {"model": "m", "input": [{"role": "robot", "content": "hi"}]},
            "Invalid value: 'robot'. Supported values are: 'user', 'assistant', 'system', and "
            "'developer'.",
            "input[0].role",
            "invalid_value",
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "output": "x"}]},
            "Missing required parameter: 'input[0].call_id'.",
            "input[0].call_id",
            "missing_required_parameter",
        ),
        (
            {
                "model": "m",
                "input": "hi",
                "tools": [{"type": "function", "function": {"name": "f"}}],
            },
            "Missing required parameter: 'tools[0].name'.",
            "tools[0].name",
            "missing_required_parameter",
        ),
        (
            {"model": "m", "input": "hi", "tool_choice": "sometimes"},
            "Invalid value: 'sometimes'. Supported values are: 'none', 'auto', and 'required'.",
            "tool_choice",
            "invalid_value",
        ),
        (
            {"model": "m", "input": "hi", "store": "yes"},
            "Invalid type for 'store': expected a boolean, but got a string instead.",
            "store",
            "invalid_type",
        ),
    ],
    ids=[
        "no-model",
        "input-type",
        "max-output-tokens",
        "role",
        "call-id",
        "flat-tool",
        "tool-choice",
        "store",
    ],
)
def test_bad_requests_get_openai_error_bodies(
    base_url: str, body: dict[str, Any], message: str, param: str, code: str
) -> None:
    response = post(base_url, body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])


def test_max_output_tokens_minimum_through_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="m", input="hi", max_output_tokens=8)
    assert info.value.param == "max_output_tokens"


# ------------------------------------------------------------------------ EventStream contract


def _stream_for(text: str) -> ResponseEventStream:
    """A Responses event stream built by the real parse → select → plan path."""
    api = RESPONSES
    settings = Settings(scenarios=[str(bundled_scenarios())])
    request = api.parse({"model": "m", "input": text, "stream": True}, {})
    selection = Catalog(load_paths(settings.scenarios)).select(request, Counters())
    return api.render_stream(build_plan(request, selection, settings, "req_test"))


def test_only_deltas_are_token_frames() -> None:
    """Deltas are paced as tokens; every structural event goes out at once."""
    flags = {}
    for data, is_token in _stream_for("think").frames():
        kind = data.split(b"\n", 1)[0].decode().removeprefix("event: ")
        flags.setdefault(kind, set()).add(is_token)
    assert flags["response.output_text.delta"] == {True}
    assert flags["response.reasoning_summary_text.delta"] == {True}
    assert all(seen == {False} for kind, seen in flags.items() if not kind.endswith(".delta"))


def test_error_frames_continue_the_sequence_and_fail_the_response() -> None:
    """nested ``error`` with the flat spec fields, then ``response.failed``."""
    stream = _stream_for("weather and time")
    frames = stream.frames()
    head = [next(frames)[0] for _ in range(3)]  # created, in_progress, output_item.added
    assert stream.keepalive() == b": keep-alive\n\n"
    error = ApiError(500, "The model produced invalid content.", code="server_error")
    tail = stream.error_frames(error)
    events = parse_sse(b"".join([*head, *tail]).decode())
    assert [e["sequence_number"] for e in events] == [0, 1, 2, 3, 4]
    failure, failed = events[3], events[4]
    assert failure == {
        "type": "error",
        "sequence_number": 3,
        "code": "server_error",
        "message": "The model produced invalid content.",
        "param": None,
        "error": {
            "type": "server_error",
            "code": "server_error",
            "message": "The model produced invalid content.",
            "param": None,
        },
    }
    response = failed["response"]
    assert failed["type"] == "response.failed"
    assert list(response) == RESPONSE_FIELDS
    assert response["status"] == "failed"
    assert response["error"] == {
        "code": "server_error",
        "message": "The model produced invalid content.",
    }
    assert response["output"] == [] and response["usage"] is None
    # What the server keeps for GET /v1/responses/{id} becomes the failed response too.
    assert stream.stored.response["status"] == "failed"


def test_error_frames_after_an_item_report_it_and_the_sdk_raises() -> None:
    stream = _stream_for("hi")
    frames = []
    for data, _ in stream.frames():  # up to the message's output_item.done
        frames.append(data)
        if data.startswith(b"event: response.output_item.done"):
            break
    tail = stream.error_frames(ApiError(429, "Rate limit reached.", code="rate_limit_exceeded"))
    body = b"".join([*frames, *tail])
    events = parse_sse(body.decode())
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [item["type"] for item in events[-1]["response"]["output"]] == ["message"]
    assert events[-2]["error"]["type"] == "requests"

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = openai.OpenAI(
        base_url="http://understudy.test/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(reply)),
    )
    with pytest.raises(openai.APIError, match=r"Rate limit reached\."):
        list(client.responses.create(model="m", input="hi", stream=True))
