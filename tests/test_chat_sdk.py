"""OpenAI Chat Completions through the official ``openai`` SDK.

Each test drives the live server with the SDK's strictest helpers:
``client.chat.completions.stream()`` and its accumulated ``get_final_completion()``.
"""

import json

import openai
import pytest

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"tz": {"type": "string"}},
                "required": ["tz"],
            },
        },
    },
]


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_create_stream_iterates_role_then_content_then_finish(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"), stream=True)
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.id == chunks[0].id for chunk in chunks)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text.startswith("Hello! I am Understudy")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)


def test_stream_helper_accumulates_text_and_usage(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=user("hello there"),
        stream_options={"include_usage": True},
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta" and event.delta]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "".join(deltas)
    assert message.content.startswith("Hello! I am Understudy")
    assert message.role == "assistant"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
    assert final.usage.completion_tokens == len(deltas)
    assert final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens


def test_stream_helper_parses_tool_call_arguments(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=user("What's the weather in Paris?"), tools=WEATHER_TOOLS[:1]
    ) as stream:
        done = [event for event in stream if event.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.content is None
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert calls[0].id.startswith("call_") and len(calls[0].id) == 29
    assert [event.name for event in done] == ["get_weather"]


def test_stream_helper_two_parallel_tool_calls(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=user("What's the weather and the time in Paris?"),
        tools=WEATHER_TOOLS,
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [call.function.name for call in calls] == ["get_weather", "get_time"]
    assert [json.loads(call.function.arguments) for call in calls] == [
        {"city": "Paris"},
        {"tz": "Europe/Paris"},
    ]
    assert len({call.id for call in calls}) == 2


def test_strict_tools_parse_arguments_into_objects(client: openai.OpenAI) -> None:
    strict = [
        {"type": "function", "function": {**tool["function"], "strict": True}}
        for tool in WEATHER_TOOLS
    ]
    for tool in strict:
        tool["function"]["parameters"]["additionalProperties"] = False
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=user("weather and time please"), tools=strict
    ) as stream:
        final = stream.get_final_completion()
    parsed = [call.function.parsed_arguments for call in final.choices[0].message.tool_calls]
    assert parsed == [{"city": "Paris"}, {"tz": "Europe/Paris"}]


def test_agent_loop_ends_when_tool_result_comes_back(client: openai.OpenAI) -> None:
    messages: list[dict] = user("What's the weather in Paris?")
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=WEATHER_TOOLS[:1]
    )
    call = first.choices[0].message.tool_calls[0]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'})
    second = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=WEATHER_TOOLS[:1]
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None
    assert "18°C" in second.choices[0].message.content


def test_reasoning_is_accumulated_as_reasoning_content(client: openai.OpenAI) -> None:
    """openai-python concatenates the unknown string field."""
    with client.chat.completions.stream(
        model="deepseek-reasoner", messages=user("Think about it: why 42?")
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.reasoning_content == (
        "The user wants a considered answer. I will reason briefly, then reply."
    )
    assert message.content == "After thinking it over: the answer is 42."


def test_max_tokens_truncates_with_finish_reason_length(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=user("Tell me a long story"), max_tokens=5, stream=True
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Once upon a time,"
    assert chunks[-1].choices[0].finish_reason == "length"


def test_get_final_completion_raises_on_length(client: openai.OpenAI) -> None:
    """the helper raises LengthFinishReasonError for ``length``."""
    with (
        pytest.raises(openai.LengthFinishReasonError),
        client.chat.completions.stream(
            model="gpt-4o-mini", messages=user("a long story"), max_completion_tokens=3
        ) as stream,
    ):
        stream.get_final_completion()


def test_non_streaming_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-") and len(completion.id) == 38
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint.startswith("fp_")
    assert completion.choices[0].message.content.startswith("Hello! I am Understudy")
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_request_id_is_exposed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert completion._request_id.startswith("req_")
    assert len(completion._request_id) == 36


@pytest.mark.anyio
async def test_async_client_streams(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    async with client.chat.completions.stream(
        model="gpt-4o-mini", messages=user("weather and time in Paris?"), tools=WEATHER_TOOLS
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    names = [call.function.name for call in final.choices[0].message.tool_calls]
    assert names == ["get_weather", "get_time"]
    await client.close()


def test_unknown_scenario_header_is_a_not_found_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=user("hi"),
            extra_headers={"X-Understudy-Scenario": "no-such-scenario"},
        )
    assert caught.value.code == "scenario_not_found"
    assert "no-such-scenario" in caught.value.message


def test_scenario_header_wins_over_matching(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("hi"),
        extra_headers={"X-Understudy-Scenario": "long-story"},
    )
    assert completion.choices[0].message.content.startswith("Once upon a time")


def test_models_lists_catalog_models(client: openai.OpenAI) -> None:
    names = [model.id for model in client.models.list()]
    assert "understudy-mock" in names
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
