"""Chat Completions at the byte level, with raw httpx."""

import json
import re

import httpx
import pytest

CANNED = """
name: canned
reply:
  content: ["Hello", " there!"]
  usage: {input_tokens: 19, output_tokens: 3}
"""

# A live API's plain text transcript with include_usage, verbatim except for
# the id, created time and fingerprint, which every server run draws anew.
TRANSCRIPT_2_5_A = (
    'data: {"id":"@ID","object":"chat.completion.chunk","created":@CREATED,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"@FP","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}\n'
    "\n"
    'data: {"id":"@ID","object":"chat.completion.chunk","created":@CREATED,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"@FP","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}\n'
    "\n"
    'data: {"id":"@ID","object":"chat.completion.chunk","created":@CREATED,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"@FP","choices":[{"index":0,"delta":{"content":" there!"},"logprobs":null,"finish_reason":null}],"usage":null}\n'
    "\n"
    'data: {"id":"@ID","object":"chat.completion.chunk","created":@CREATED,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"@FP","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n'
    "\n"
    'data: {"id":"@ID","object":"chat.completion.chunk","created":@CREATED,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"@FP","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":3,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n'
    "\n"
    "data: [DONE]\n"
    "\n"
)


def stream_bytes(base_url: str, body: dict, headers: dict | None = None) -> httpx.Response:
    with httpx.Client(timeout=10) as client:
        response = client.post(f"{base_url}/v1/chat/completions", json=body, headers=headers)
        response.read()
        return response


def events(raw: str) -> list[str]:
    """The data payloads, asserting the framing: every event is one line plus a blank line."""
    assert raw.endswith("\n\n")
    blocks = raw[:-2].split("\n\n")
    for block in blocks:
        assert block.startswith("data: "), block
        assert "\n" not in block, "one data line per event"
    return [block.removeprefix("data: ") for block in blocks]


def request(text: str = "hi", **extra: object) -> dict:
    return {
        "model": "gpt-4o-mini-2024-07-18",
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        **extra,
    }


def test_exact_bytes_of_a_short_stream(serve) -> None:
    """The whole body equals the live transcript byte for byte."""
    base_url = serve(CANNED)
    response = stream_bytes(
        base_url,
        request(stream_options={"include_usage": True, "include_obfuscation": False}),
    )
    first = json.loads(response.text.split("\n", 1)[0].removeprefix("data: "))
    expected = (
        TRANSCRIPT_2_5_A.replace("@ID", first["id"])
        .replace("@CREATED", str(first["created"]))
        .replace("@FP", first["system_fingerprint"])
    )
    assert response.text == expected
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", first["id"])
    assert re.fullmatch(r"fp_[0-9a-f]{10}", first["system_fingerprint"])


def test_stream_headers(base_url: str) -> None:
    """content type, no-cache, x-request-id, no content-length."""
    response = stream_bytes(base_url, request())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
    assert "content-length" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"


def test_without_include_usage_no_usage_member_and_no_usage_chunk(base_url: str) -> None:
    payloads = events(stream_bytes(base_url, request()).text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    assert all(chunk["choices"] for chunk in chunks)


def test_include_usage_puts_null_everywhere_and_one_usage_chunk_last(base_url: str) -> None:
    payloads = events(stream_bytes(base_url, request(stream_options={"include_usage": True})).text)
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["total_tokens"] == (
        last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["choices"][0]["delta"] == {}


def test_one_id_created_and_model_on_every_chunk(base_url: str) -> None:
    chunks = [json.loads(p) for p in events(stream_bytes(base_url, request()).text)[:-1]]
    assert len({(c["id"], c["created"], c["model"], c["system_fingerprint"]) for c in chunks}) == 1
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


def test_obfuscation_is_on_by_default_and_can_be_turned_off(base_url: str) -> None:
    """``obfuscation`` padding is present unless turned off."""
    on = [json.loads(p) for p in events(stream_bytes(base_url, request()).text)[:-1]]
    assert all(isinstance(chunk["obfuscation"], str) and chunk["obfuscation"] for chunk in on)
    off_body = request(stream_options={"include_obfuscation": False})
    off = [json.loads(p) for p in events(stream_bytes(base_url, off_body).text)[:-1]]
    assert all("obfuscation" not in chunk for chunk in off)


def test_role_only_in_first_delta(base_url: str) -> None:
    """a repeated role would be concatenated by openai-python."""
    chunks = [json.loads(p) for p in events(stream_bytes(base_url, request()).text)[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    assert all("role" not in delta for delta in deltas[1:])


def test_tool_call_fragments(base_url: str) -> None:
    """index and function on every fragment, id/type/name only first."""
    body = request(
        "weather in Paris?",
        tools=[{"type": "function", "function": {"name": "get_weather"}}],
    )
    chunks = [json.loads(p) for p in events(stream_bytes(base_url, body).text)[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "content": None,
        "refusal": None,
    }
    fragments = [
        fragment
        for chunk in chunks
        for fragment in chunk["choices"][0]["delta"].get("tool_calls", [])
    ]
    first, rest = fragments[0], fragments[1:]
    assert first["index"] == 0 and first["type"] == "function"
    assert first["id"].startswith("call_")
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert rest and all(set(f) == {"index", "function"} for f in rest)
    assert all(set(f["function"]) == {"arguments"} for f in rest)
    arguments = "".join(f["function"]["arguments"] for f in rest)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }


def test_explicit_argument_fragments_are_sent_as_written(serve) -> None:
    base_url = serve(
        """
name: fragments
reply:
  tool_calls:
    - name: get_weather
      id: call_fixed
      fragments: ['{"ci', 'ty": "Pa', 'ris"}']
"""
    )
    chunks = [json.loads(p) for p in events(stream_bytes(base_url, request()).text)[:-1]]
    fragments = [f for c in chunks for f in c["choices"][0]["delta"].get("tool_calls", [])]
    assert fragments[0]["id"] == "call_fixed"
    assert [f["function"]["arguments"] for f in fragments[1:]] == ['{"ci', 'ty": "Pa', 'ris"}']


def test_chars_chunking_and_request_stop_sequence(serve) -> None:
    base_url = serve(
        """
name: chars
reply:
  content: "abcdefghij STOP never sent"
  delivery: {chunking: {chars: 4}}
"""
    )
    chunks = [
        json.loads(p) for p in events(stream_bytes(base_url, request(stop=["STOP"])).text)[:-1]
    ]
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert pieces == ["abcd", "efgh", "ij "]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            b"{not json",
            400,
            {
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        ),
        (
            {"messages": [{"role": "user", "content": "hi"}]},
            400,
            {
                "message": "you must provide a model parameter",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        ),
        (
            {"model": "m"},
            400,
            {
                "message": "Missing required parameter: 'messages'.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "missing_required_parameter",
            },
        ),
        (
            {"model": "m", "messages": []},
            400,
            {
                "message": "Invalid 'messages': empty array. Expected an array with minimum "
                "length 1, but got an empty array instead.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "empty_array",
            },
        ),
        (
            {"model": "m", "messages": "hi"},
            400,
            {
                "message": "Invalid type for 'messages': expected an array, but got a string "
                "instead.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "invalid_type",
            },
        ),
        (
            {"model": 5, "messages": [{"role": "user", "content": "hi"}]},
            400,
            {
                "message": "Invalid type for 'model': expected a string, but got an integer "
                "instead.",
                "type": "invalid_request_error",
                "param": "model",
                "code": "invalid_type",
            },
        ),
        (
            {"model": "m", "messages": [{"role": "robot", "content": "hi"}]},
            400,
            {
                "message": "Invalid value: 'robot'. Supported values are: 'system', "
                "'assistant', 'user', 'function', 'tool', and 'developer'.",
                "type": "invalid_request_error",
                "param": "messages[0].role",
                "code": "invalid_value",
            },
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            400,
            {
                "message": "Invalid 'max_tokens': integer below minimum value. Expected a value "
                ">= 1, but got 0 instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "integer_below_min_value",
            },
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"},
            400,
            {
                "message": "Invalid type for 'stream': expected a boolean, but got a string "
                "instead.",
                "type": "invalid_request_error",
                "param": "stream",
                "code": "invalid_type",
            },
        ),
    ],
)
def test_bad_requests_get_openai_error_bodies(
    base_url: str, body: object, status: int, error: dict
) -> None:
    """the error envelope with message, type, param and code."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    got = response.json()["error"]
    assert set(got) == {"message", "type", "param", "code"}
    assert {key: got[key] for key in error} == error


def test_unknown_fields_are_refused_unless_lenient(base_url: str) -> None:
    """The real API refuses parameters it does not know; the lenient header lets them by."""
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "some_future_parameter": {"x": 1},
    }
    refused = httpx.post(f"{base_url}/v1/chat/completions", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "Unrecognized request argument supplied: some_future_parameter"
    )
    lenient = httpx.post(
        f"{base_url}/v1/chat/completions", json=body, headers={"X-Understudy-Lenient": "1"}
    )
    assert lenient.status_code == 200


def test_huge_body_is_refused_with_413(serve) -> None:
    base_url = serve("name: d\ndefault: true\nreply: {content: hi}\n", max_body_bytes=1000)
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]},
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_route_is_an_openai_shaped_404(base_url: str) -> None:
    response = httpx.post(f"{base_url}/v1/nothing-here", json={})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (POST /v1/nothing-here)"


def test_cors_preflight_and_stream_header(base_url: str) -> None:
    preflight = httpx.options(
        f"{base_url}/v1/chat/completions",
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "http://localhost:3000")
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json=request(),
        headers={"origin": "http://localhost:3000"},
    )
    assert response.headers["access-control-allow-origin"] == "*"
