"""Fault injection on all three APIs, seen through the official SDKs and raw httpx.

Errors before the stream, error events mid-stream
, abrupt disconnects, clean truncation, stalls with and without
keep-alives, the catalogue of deliberate wire-format violations, chaos mode.
Every scenario here is written for the test; the replies' texts are read back from it.
"""

import json
import time
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from understudy.providers import PRESETS

CHAT, MESSAGES, RESPONSES = "chat", "messages", "responses"
APIS = (CHAT, MESSAGES, RESPONSES)
PATHS = {CHAT: "/v1/chat/completions", MESSAGES: "/v1/messages", RESPONSES: "/v1/responses"}
TEXT = "one two three four five six"


def body(api: str, stream: bool = True, text: str = "hi", **extra: Any) -> dict[str, Any]:
    if api == CHAT:
        base = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    elif api == MESSAGES:
        base = {
            "model": "claude-test",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": text}],
        }
    else:
        base = {"model": "gpt-4.1-mini", "input": text}
    return {**base, "stream": stream, **extra}


def helper_body(api: str) -> dict[str, Any]:
    """Arguments for the SDKs' ``.stream()`` helpers, which set ``stream`` themselves."""
    arguments = body(api)
    del arguments["stream"]
    return arguments


def post(base_url: str, api: str, stream: bool = True, **kwargs: Any) -> httpx.Response:
    response = httpx.post(
        base_url + PATHS[api], json=body(api, stream), timeout=10, headers=kwargs.get("headers")
    )
    response.read()
    return response


def openai_client(base_url: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", **options)


def anthropic_client(base_url: str, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", **options)


def sdk_stream(base_url: str, api: str, **options: Any) -> list[Any]:
    """Consume a stream with the official SDK's plain ``stream=True`` call."""
    if api == MESSAGES:
        client = anthropic_client(base_url, **options)
        with client.messages.create(**body(api)) as stream:
            return list(stream)
    client = openai_client(base_url, **options)
    if api == CHAT:
        with client.chat.completions.create(**body(api)) as stream:
            return list(stream)
    with client.responses.create(**body(api)) as stream:
        return list(stream)


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """Every ``data:`` payload that is JSON, in order."""
    found = []
    for block in raw.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: {"):
                found.append(json.loads(line[6:]))
    return found


# ----------------------------------------------------------------------------- HTTP errors


def test_rate_limit_on_chat_is_a_rate_limit_error_with_openai_headers(serve) -> None:
    """429 → RateLimitError; OpenAI's type/code; the x-ratelimit-* family; no retry
    because injected errors say ``x-should-retry: false``: the SDK asked once."""
    base_url = serve(f"name: s\nreplies:\n  - error: rate_limit\n  - content: {TEXT}\n")
    client = openai_client(base_url, max_retries=2)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**body(CHAT))
    error = caught.value
    assert error.status_code == 429
    assert (error.type, error.code) == ("requests", "rate_limit_exceeded")
    assert "gpt-4o-mini" in error.message
    headers = error.response.headers
    assert headers["x-should-retry"] == "false"
    assert headers["retry-after"] == "1"
    assert headers["retry-after-ms"] == "1000"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "1s"
    assert {"x-ratelimit-limit-tokens", "x-ratelimit-reset-tokens"} <= set(headers)
    assert not any(name.startswith("anthropic-") for name in headers)
    # One request only: the next call gets the sequence's second reply.
    reply = client.chat.completions.create(**body(CHAT, stream=False))
    assert reply.choices[0].message.content == TEXT


@pytest.mark.parametrize("api", [CHAT, RESPONSES])
def test_openai_sdk_retries_honour_retry_after_ms(serve, api: str) -> None:
    """with ``should_retry`` the SDK retries, waiting ``retry-after-ms``; two failures then
    success takes three requests. Each wait, from a failure's arrival to the next attempt,
    is far shorter than the SDK's own backoff would be (at least 0.375 s, then 0.75 s), so
    the SDK read our header; a slow machine cannot fail this through a slow request."""
    base_url = serve(
        "name: s\nreplies:\n"
        "  - error: {preset: rate_limit, retry_after_ms: 20, should_retry: true}\n"
        "  - error: {preset: server_error, retry_after_ms: 20, should_retry: true}\n"
        "  - content: third\n  - content: fourth\n"
    )
    sent: list[float] = []
    answered: list[float] = []
    hooks = {
        "request": [lambda request: sent.append(time.monotonic())],
        "response": [lambda response: answered.append(time.monotonic())],
    }
    client = openai_client(
        base_url, max_retries=2, http_client=openai.DefaultHttpxClient(event_hooks=hooks)
    )
    if api == CHAT:
        text = client.chat.completions.create(**body(CHAT, stream=False)).choices[0].message.content
    else:
        text = client.responses.create(**body(RESPONSES, stream=False)).output_text
    assert text == "third"
    assert len(sent) == len(answered) == 3
    waits = [sent[1] - answered[0], sent[2] - answered[1]]
    assert waits[0] < 0.3 and waits[1] < 0.6, waits
    if api == CHAT:
        after = client.chat.completions.create(**body(CHAT, stream=False)).choices[0].message
        assert after.content == "fourth"


def test_retry_after_sets_the_wait_between_attempts(serve) -> None:
    """300 ms ``retry-after-ms`` twice means at least 0.6 s before the success."""
    base_url = serve(
        "name: s\nreplies:\n"
        "  - error: {preset: overloaded, retry_after_ms: 300, should_retry: true}\n"
        "  - error: {preset: overloaded, retry_after_ms: 300, should_retry: true}\n"
        "  - content: done\n"
    )
    client = anthropic_client(base_url, max_retries=2)
    started = time.monotonic()
    message = client.messages.create(**body(MESSAGES, stream=False))
    assert message.content[0].text == "done"
    assert time.monotonic() - started >= 0.6


def test_overloaded_on_messages_is_529_overloaded_error(serve) -> None:
    """Anthropic's 529 ``overloaded_error`` → ``OverloadedError``, not retried."""
    base_url = serve(f"name: s\nreplies:\n  - error: overloaded\n  - content: {TEXT}\n")
    client = anthropic_client(base_url, max_retries=2)
    with pytest.raises(anthropic.OverloadedError) as caught:
        client.messages.create(**body(MESSAGES))
    error = caught.value
    assert error.status_code == 529
    assert error.type == "overloaded_error"
    assert error.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert error.request_id and error.request_id.startswith("req_")
    assert error.response.headers["x-should-retry"] == "false"
    assert client.messages.create(**body(MESSAGES, stream=False)).content[0].text == TEXT


def test_rate_limit_on_messages_uses_anthropic_header_names(serve) -> None:
    """``anthropic-ratelimit-*`` with RFC 3339 resets, and ``retry-after``."""
    base_url = serve("name: s\nreply:\n  error: {preset: rate_limit, retry_after: 3}\n")
    with pytest.raises(anthropic.RateLimitError) as caught:
        anthropic_client(base_url, max_retries=0).messages.create(**body(MESSAGES))
    headers = caught.value.response.headers
    assert caught.value.type == "rate_limit_error"
    assert headers["retry-after"] == "3"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    for family in ("requests", "tokens", "input-tokens", "output-tokens"):
        reset = headers[f"anthropic-ratelimit-{family}-reset"]
        assert reset.endswith("Z") and "T" in reset
    assert not any(name.startswith("x-ratelimit") for name in headers)


SDK_CLASSES = {
    400: (openai.BadRequestError, anthropic.BadRequestError),
    401: (openai.AuthenticationError, anthropic.AuthenticationError),
    404: (openai.NotFoundError, anthropic.NotFoundError),
    429: (openai.RateLimitError, anthropic.RateLimitError),
    500: (openai.InternalServerError, anthropic.InternalServerError),
    503: (openai.InternalServerError, anthropic.InternalServerError),
    529: (openai.InternalServerError, anthropic.OverloadedError),
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_on_every_api(serve, preset: str) -> None:
    """Each shorthand answers with its provider's status, envelope and SDK class."""
    base_url = serve(f"name: s\nreply:\n  error: {preset}\n")
    for api in APIS:
        raw = post(base_url, api)
        provider = "anthropic" if api == MESSAGES else "openai"
        form = PRESETS[preset].get(api) or PRESETS[preset][provider]
        assert raw.status_code == form.status
        assert raw.headers["content-type"] == "application/json"
        payload = raw.json()
        if api == MESSAGES:
            assert payload["type"] == "error"
            assert payload["error"]["type"] == form.type
            assert payload["request_id"] == raw.headers["request-id"]
        else:
            assert set(payload["error"]) == {"message", "type", "param", "code"}
            assert (payload["error"]["type"], payload["error"]["code"]) == (form.type, form.code)
            assert payload["error"]["param"] == form.param
        openai_class, anthropic_class = SDK_CLASSES[form.status]
        with pytest.raises(anthropic_class if api == MESSAGES else openai_class):
            sdk_stream(base_url, api, max_retries=0)


def test_content_filter_renders_as_each_providers_filter_error(serve) -> None:
    """content_filter: Azure OpenAI's 400 ``code: content_filter`` on OpenAI endpoints,
    Anthropic's 400 "Output blocked by content filtering policy" on Messages."""
    base_url = serve("name: s\nreply:\n  error: content_filter\n")
    with pytest.raises(openai.BadRequestError) as chat_error:
        openai_client(base_url, max_retries=0).chat.completions.create(**body(CHAT))
    assert (chat_error.value.code, chat_error.value.param) == ("content_filter", "prompt")
    with pytest.raises(anthropic.BadRequestError) as anthropic_error:
        anthropic_client(base_url, max_retries=0).messages.create(**body(MESSAGES))
    assert anthropic_error.value.body["error"]["message"] == (
        "Output blocked by content filtering policy"
    )


def test_any_status_with_overrides_and_extra_headers(serve) -> None:
    """A bare status gets a plausible message; every field and header can be given."""
    base_url = serve(
        "name: s\nreplies:\n  - error: 418\n"
        "  - error: {status: 409, message: busy, code: conflict, headers: {x-extra: 7}, "
        "should_retry: true, rate_limits: false}\n"
    )
    teapot = post(base_url, CHAT)
    assert teapot.status_code == 418
    assert teapot.json()["error"]["message"] == "I'm a Teapot"
    conflict = post(base_url, CHAT)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == {
        "message": "busy",
        "type": "invalid_request_error",
        "param": None,
        "code": "conflict",
    }
    assert conflict.headers["x-extra"] == "7"
    assert conflict.headers["x-should-retry"] == "true"
    assert "retry-after" not in conflict.headers


def test_errors_apply_to_non_streaming_requests(serve) -> None:
    base_url = serve("name: s\nreply:\n  error: server_error\n")
    with pytest.raises(openai.InternalServerError):
        openai_client(base_url, max_retries=0).chat.completions.create(**body(CHAT, stream=False))
    with pytest.raises(anthropic.InternalServerError) as caught:
        anthropic_client(base_url, max_retries=0).messages.create(**body(MESSAGES, stream=False))
    assert caught.value.type == "api_error"


# ----------------------------------------------------------------------------- error events


ERROR_EVENT = f"""
name: s
reply:
  content: {TEXT}
  fault: {{kind: error_event, after_events: 3, error: overloaded}}
"""


def test_chat_error_event_raises_api_error_after_the_first_chunks(serve) -> None:
    """``data: {"error":...}`` → ``openai.APIError`` (no status), no [DONE]."""
    base_url = serve(ERROR_EVENT)
    received = []
    client = openai_client(base_url)
    with (
        pytest.raises(openai.APIError) as caught,
        client.chat.completions.create(**body(CHAT)) as stream,
    ):
        received.extend(stream)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.message == "The engine is currently overloaded, please try again later"
    assert caught.value.type == "server_error"
    assert len(received) == 3
    raw = post(base_url, CHAT).content
    assert raw.endswith(b'"code":null}}\n\n')
    assert b"[DONE]" not in raw and b'finish_reason":"stop' not in raw


def test_messages_error_event_is_status_error_with_status_200(serve) -> None:
    """``event: error`` → ``APIStatusError`` with the HTTP status (200) and
    ``type == "overloaded_error"``, not ``OverloadedError``."""
    base_url = serve(ERROR_EVENT)
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_stream(base_url, MESSAGES)
    error = caught.value
    assert not isinstance(error, anthropic.OverloadedError)
    assert error.status_code == 200
    assert error.type == "overloaded_error"
    response = post(base_url, MESSAGES)
    raw = response.content.decode()
    assert raw.count("event: ") == 4
    last = raw.split("\n\n")[-2]
    assert last.startswith("event: error\ndata: ")
    assert json.loads(last.split("data: ", 1)[1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": response.headers["request-id"],
    }


def test_responses_error_event_then_failed_with_consistent_numbers(serve) -> None:
    """nested ``error`` (flat fields alongside) then ``response.failed``; the
    sequence numbers keep counting; openai-python raises ``APIError``."""
    base_url = serve(ERROR_EVENT)
    with pytest.raises(openai.APIError) as caught:
        sdk_stream(base_url, RESPONSES)
    assert caught.value.message == "The engine is currently overloaded, please try again later"
    events = sse_events(post(base_url, RESPONSES).content)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert len(events) == 5
    error = events[-2]
    assert error["error"]["type"] == "server_error"
    assert error["message"] == error["error"]["message"]
    assert events[-1]["response"]["status"] == "failed"


# ----------------------------------------------------------------------------- disconnects


DISCONNECT = f"""
name: s
reply:
  content: {TEXT}
  fault: {{kind: disconnect, after_events: 3}}
"""


@pytest.mark.parametrize("api", APIS)
def test_disconnect_is_an_incomplete_read_in_every_sdk(serve, api: str) -> None:
    """The connection drops without the chunked terminator: the SDK raises its connection
    error (openai-python 3.54 wraps the transport's error) caused by httpx2's
    ``RemoteProtocolError``; raw httpx reports the incomplete read itself."""
    base_url = serve(DISCONNECT)
    connection_errors = (
        openai.APIConnectionError,
        anthropic.APIConnectionError,
        httpx2.RemoteProtocolError,
    )
    with pytest.raises(connection_errors) as caught:
        sdk_stream(base_url, api, max_retries=0)
    error: BaseException | None = caught.value
    while error is not None and not isinstance(error, httpx2.RemoteProtocolError):
        error = error.__cause__
    assert error is not None and "incomplete chunked read" in str(error)
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        post(base_url, api)


def test_disconnect_after_bytes_and_mid_event(serve) -> None:
    """``after_bytes`` cuts at an exact byte; ``mid_event`` cuts halfway into an event."""
    base_url = serve(
        f"name: s\nreplies:\n"
        f"  - content: {TEXT}\n    fault: {{kind: disconnect, after_bytes: 100}}\n"
        f"  - content: {TEXT}\n    fault: {{kind: disconnect, after_events: 2, mid_event: true}}\n"
    )
    received = []
    for _ in range(2):
        chunks = bytearray()
        with (
            httpx.stream("POST", base_url + PATHS[CHAT], json=body(CHAT), timeout=10) as r,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            for chunk in r.iter_raw():
                chunks += chunk
        received.append(bytes(chunks))
    assert len(received[0]) == 100
    assert not received[0].endswith(b"\n\n")
    events, _, rest = received[1].rpartition(b"\n\n")
    assert events.count(b"\n\n") == 1  # two whole events, then half of the third
    assert rest.startswith(b"data: {") and len(rest) > 10


def test_disconnect_on_a_non_streaming_request(serve) -> None:
    """A JSON reply cut halfway: content-length promised, fewer bytes delivered."""
    base_url = serve(f"name: s\nreply:\n  content: {TEXT}\n  fault: {{kind: disconnect}}\n")
    with pytest.raises(openai.APIConnectionError):
        openai_client(base_url, max_retries=0).chat.completions.create(**body(CHAT, stream=False))


# ----------------------------------------------------------------------------- truncation


TRUNCATE = f"name: s\nreply:\n  content: {TEXT}\n  fault: {{kind: truncate, after_events: 4}}\n"


def test_truncated_chat_stream_ends_cleanly_without_finish_or_done(serve) -> None:
    base_url = serve(TRUNCATE)
    chunks = sdk_stream(base_url, CHAT)
    assert len(chunks) == 4
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks)
    raw = post(base_url, CHAT)
    assert raw.status_code == 200 and raw.content.count(b"\n\n") == 4
    assert b"[DONE]" not in raw.content


def test_truncated_messages_stream_has_no_message_stop(serve) -> None:
    """anthropic-python accepts a stream without ``message_stop``."""
    base_url = serve(TRUNCATE)
    with anthropic_client(base_url).messages.stream(**helper_body(MESSAGES)) as stream:
        events = list(stream)
    assert [event.type for event in events if event.type == "message_stop"] == []
    raw = post(base_url, MESSAGES).content
    assert b"message_stop" not in raw and b"message_delta" not in raw


def test_truncated_responses_stream_has_no_terminal_event(serve) -> None:
    """``get_final_response()`` raises without ``response.completed``."""
    base_url = serve(TRUNCATE)
    client = openai_client(base_url)
    with client.responses.stream(**helper_body(RESPONSES)) as stream:
        events = list(stream)
        with pytest.raises(RuntimeError, match="response\\.completed"):
            stream.get_final_response()
    assert len(events) == 4


# ----------------------------------------------------------------------------- stalls


@pytest.mark.parametrize("api", APIS)
def test_stall_forever_hits_the_clients_read_timeout(serve, api: str) -> None:
    """Silence after two events: the SDK's read timeout fires (openai-python wraps it in
    ``APITimeoutError``; the cause is httpx2's ``ReadTimeout``)."""
    base_url = serve(
        f"name: s\nreply:\n  content: {TEXT}\n  fault: {{kind: stall, after_events: 2}}\n"
    )
    timeouts = (openai.APITimeoutError, anthropic.APITimeoutError, httpx2.ReadTimeout)
    received: list[Any] = []
    started = time.monotonic()
    with pytest.raises(timeouts) as caught:
        options = {"max_retries": 0, "timeout": httpx2.Timeout(5, read=0.3)}
        if api == MESSAGES:
            with anthropic_client(base_url, **options).messages.create(**body(api)) as stream:
                received.extend(stream)
        elif api == CHAT:
            with openai_client(base_url, **options).chat.completions.create(**body(api)) as stream:
                received.extend(stream)
        else:
            with openai_client(base_url, **options).responses.create(**body(api)) as stream:
                received.extend(stream)
    error: BaseException | None = caught.value
    while error is not None and not isinstance(error, httpx2.ReadTimeout):
        error = error.__cause__
    assert error is not None
    assert len(received) == 2
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("api", APIS)
def test_keepalives_during_a_stall_keep_the_read_timeout_away(serve, api: str) -> None:
    """Keep-alives every 0.1 s for 1.2 s with a 0.5 s read timeout: no timeout, the full
    reply arrives; OpenAI endpoints send ``: keep-alive`` comments,
    Messages ``event: ping``."""
    base_url = serve(
        f"name: s\nreply:\n  content: {TEXT}\n"
        "  fault: {kind: stall, after_events: 3, seconds: 1.2, keepalive_every: 0.1}\n"
    )
    with httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as client:
        raw = client.post(base_url + PATHS[api], json=body(api)).content
    keepalive = (
        b'event: ping\ndata: {"type": "ping"}\n\n' if api == MESSAGES else b": keep-alive\n\n"
    )
    assert raw.count(keepalive) >= 3
    text = "".join(
        e.get("delta", {}).get("text", "") if api == MESSAGES else e.get("delta", "")
        for e in sse_events(raw)
        if e.get("type") in ("content_block_delta", "response.output_text.delta")
    )
    if api == CHAT:
        text = "".join(
            e["choices"][0]["delta"].get("content") or "" for e in sse_events(raw) if e["choices"]
        )
    assert text == TEXT
    assert sdk_stream(base_url, api, timeout=httpx2.Timeout(5, read=0.5))


def test_stall_forever_with_keepalives_lasts_until_the_client_leaves(serve) -> None:
    base_url = serve(
        f"name: s\nreply:\n  content: {TEXT}\n"
        "  fault: {kind: stall, after_events: 1, keepalive_every: 0.05}\n"
    )
    chunks = bytearray()
    deadline = time.monotonic() + 0.8
    with httpx.stream("POST", base_url + PATHS[CHAT], json=body(CHAT), timeout=2) as response:
        for chunk in response.iter_raw():
            chunks += chunk
            if time.monotonic() > deadline:
                break
    assert chunks.count(b": keep-alive\n\n") >= 3
    assert chunks.count(b"data: ") == 1


def test_stall_on_a_non_streaming_request_delays_the_body(serve) -> None:
    base_url = serve(
        f"name: s\nreply:\n  content: {TEXT}\n  fault: {{kind: stall, seconds: 5}}\n",
    )
    client = openai_client(base_url, max_retries=0, timeout=httpx2.Timeout(5, read=0.3))
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(**body(CHAT, stream=False))


# ----------------------------------------------------------------------------- malformed


TOOL_REPLY = """
  tool_calls:
    - name: get_weather
      arguments: {city: Paris, unit: celsius}
"""


def malformed(violation: str, reply: str = f"\n  content: {TEXT}", **position: int) -> str:
    where = "".join(f", {key}: {value}" for key, value in position.items())
    return f"name: s\nreply:{reply}\n  fault: {{kind: malformed, violation: {violation}{where}}}\n"


def test_invalid_json_and_event_without_data(serve) -> None:
    """openai-python raises ``json.JSONDecodeError`` for both on Chat and
    Responses; a cut JSON breaks anthropic-python too, but anthropic-python 2.12 skips an
    ``event:`` that has no data (``if not sse.data: continue``), unlike the reference's
    "any API" row, which the OpenAI SDKs bear out."""
    for violation in ("invalid_json", "event_without_data"):
        base_url = serve(malformed(violation))
        for api in (CHAT, RESPONSES):
            with pytest.raises(json.JSONDecodeError):
                sdk_stream(base_url, api)
        client = anthropic_client(base_url)
        if violation == "invalid_json":
            with pytest.raises(ValueError), client.messages.stream(**helper_body(MESSAGES)) as s:
                s.get_final_message()
        else:
            with client.messages.stream(**helper_body(MESSAGES)) as stream:
                assert stream.get_final_message().content[0].text == TEXT
            assert b"event: keepalive\n\n" in post(base_url, MESSAGES).content


def test_chat_tool_call_violations_as_the_reference_says(serve) -> None:
    """A fragment without ``function`` → AssertionError, index gap → IndexError
    (openai-python's stream accumulator). Without ``index`` the reference saw TypeError;
    openai-python 3.54's delta merger raises RuntimeError("Expected list delta entry to
    have an `index` key") before that point, so either is accepted."""
    expected = {
        "tool_call_without_index": (TypeError, RuntimeError),
        "tool_call_without_function": AssertionError,
        "tool_index_gap": IndexError,
    }
    for violation, error in expected.items():
        base_url = serve(malformed(violation, TOOL_REPLY))
        client = openai_client(base_url)
        with pytest.raises(error), client.chat.completions.stream(**helper_body(CHAT)) as s:
            s.get_final_completion()


def test_chat_wrong_object_chunk_is_dropped_by_the_stream_helper(serve) -> None:
    """``.stream()`` silently drops a chunk whose ``object`` differs."""
    base_url = serve(malformed("wrong_object", after_events=2))
    with openai_client(base_url).chat.completions.stream(**helper_body(CHAT)) as stream:
        text = stream.get_final_completion().choices[0].message.content
    words = TEXT.split(" ")
    assert text == " ".join([words[0], *words[2:]])


def test_chat_repeated_role_is_concatenated(serve) -> None:
    """openai-python concatenates a role repeated in every delta."""
    base_url = serve(malformed("repeated_role"))
    with openai_client(base_url).chat.completions.stream(**helper_body(CHAT)) as stream:
        role = stream.get_final_completion().choices[0].message.role
    repeats = post(base_url, CHAT).content.count(b'"role":"assistant"')
    assert repeats == len(TEXT.split(" ")) + 2  # opening, every word, finish
    assert role == "assistant" * repeats


def test_messages_violations_as_the_reference_says(serve) -> None:
    """No ``event:`` lines → AssertionError; delta for an unstarted index →
    IndexError; invalid ``partial_json`` → ValueError (anthropic-python)."""
    cases = [
        ("no_event_lines", f"\n  content: {TEXT}", AssertionError),
        ("delta_for_unstarted_index", f"\n  content: {TEXT}", IndexError),
        ("invalid_partial_json", TOOL_REPLY, ValueError),
    ]
    for violation, reply, error in cases:
        base_url = serve(malformed(violation, reply))
        client = anthropic_client(base_url)
        with pytest.raises(error), client.messages.stream(**helper_body(MESSAGES)) as s:
            s.get_final_message()


def test_responses_violations_as_the_reference_says(serve) -> None:
    """First event not ``response.created`` and a delta before its item →
    RuntimeError; an empty final ``output`` gives empty ``output_text``."""
    for violation in ("first_event_not_created", "delta_before_item"):
        base_url = serve(malformed(violation))
        client = openai_client(base_url)
        with pytest.raises(RuntimeError), client.responses.stream(**helper_body(RESPONSES)) as s:
            s.get_final_response()
    base_url = serve(malformed("empty_final_output"))
    with openai_client(base_url).responses.stream(**helper_body(RESPONSES)) as stream:
        assert stream.get_final_response().output_text == ""


def test_harmless_violations_pass_every_sdk(serve) -> None:
    """Violations every client tolerates: the SDKs read the reply unchanged."""
    cases = {
        CHAT: ["leading_comment", "missing_terminal", "no_finish_reason"],
        MESSAGES: ["trailing_done", "missing_terminal", "unknown_event"],
        RESPONSES: ["trailing_done", "no_sequence_number", "keepalive_event", "unknown_event"],
    }
    for api, names in cases.items():
        for violation in names:
            base_url = serve(malformed(violation))
            assert sdk_stream(base_url, api), (api, violation)


def test_responses_inserted_events_keep_sequence_numbers_counting(serve) -> None:
    base_url = serve(malformed("unknown_event", after_events=3))
    events = sse_events(post(base_url, RESPONSES).content)
    assert events[3]["type"] == "understudy.unknown"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_violation_for_another_api_is_a_clear_400(serve) -> None:
    base_url = serve(malformed("no_event_lines"))
    response = post(base_url, CHAT)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "fault_not_applicable"
    assert "messages only" in error["message"]


def test_one_violation_per_api(serve) -> None:
    """A mapping gives each API its own violation; an API it omits streams normally."""
    base_url = serve(
        f"name: s\nreply:\n  content: {TEXT}\n"
        "  fault: {kind: malformed, violation: {chat: invalid_json, messages: no_event_lines}}\n"
    )
    with pytest.raises(json.JSONDecodeError):
        sdk_stream(base_url, CHAT)
    assert b"event: " not in post(base_url, MESSAGES).content
    assert post(base_url, RESPONSES).content.count(b"event: ") > 5


# ----------------------------------------------------------------------------- chaos


CHAOS = f"""
name: s
reply:
  content: {TEXT}
  chaos:
    probability: 0.5
    seed: 7
    faults:
      - error: server_error
      - {{kind: truncate, after_events: {{min: 1, max: 4}}}}
      - framing: {{write_size: 5}}
"""


def outcomes(base_url: str, calls: int = 24) -> list[tuple[int, int]]:
    """(status, body length) per call: which fault, and where it struck."""
    seen = []
    for _ in range(calls):
        response = post(base_url, CHAT)
        seen.append((response.status_code, len(response.content.split(b"\n\n"))))
    return seen


def test_seeded_chaos_repeats_exactly(serve) -> None:
    """Two servers, same seed: the same fault on the same call, at the same spot."""
    first, second = outcomes(serve(CHAOS)), outcomes(serve(CHAOS))
    assert first == second
    statuses = {status for status, _ in first}
    lengths = {length for status, length in first if status == 200}
    assert statuses == {200, 500}
    assert len(lengths) > 1  # truncations at different points, and whole replies


def test_chaos_probability_zero_never_strikes(serve) -> None:
    base_url = serve(CHAOS.replace("probability: 0.5", "probability: 0"))
    assert {status for status, _ in outcomes(base_url, 8)} == {200}


def test_server_wide_chaos_profile_spares_scripted_replies(serve, tmp_path) -> None:
    """``--chaos FILE``: replies without their own fault get the profile's; a reply
    that scripts a fault keeps it."""
    profile = tmp_path / "chaos.yaml"
    profile.write_text("chaos:\n  probability: 1\n  seed: 1\n  faults: [overloaded]\n")
    base_url = serve(
        f"name: plain\ndefault: true\nreply: {{content: {TEXT}}}\n---\n"
        "name: scripted\nmatch: {headers: {x-which: scripted}}\n"
        f"reply: {{content: {TEXT}, fault: {{kind: truncate, after_events: 2}}}}\n",
        chaos=str(profile),
    )
    assert post(base_url, MESSAGES).status_code == 529
    assert post(base_url, CHAT).status_code == 503
    scripted = post(base_url, CHAT, headers={"x-which": "scripted"})
    assert scripted.status_code == 200 and scripted.content.count(b"\n\n") == 2


def test_bundled_framing_profile_keeps_every_sdk_working(serve) -> None:
    """``--chaos framing``: legal SSE in odd bytes; the SDKs read the same reply."""
    base_url = serve(f"name: plain\ndefault: true\nreply: {{content: {TEXT}}}\n", chaos="framing")
    for _ in range(3):
        for api in APIS:
            assert sdk_stream(base_url, api)


# ----------------------------------------------------------------------------- bundled examples


def test_bundled_fault_scenarios_answer_only_when_asked(base_url: str) -> None:
    """scenarios/faults.yaml never hijacks an ordinary request: each scenario needs the
    ``X-Understudy-Fault`` header; with it, the fault happens on every API."""
    from understudy.scenarios import load_paths
    from understudy.settings import bundled_scenarios

    faults = [s for s in load_paths([bundled_scenarios()]) if s.name.startswith("fault-")]
    assert len(faults) >= 15
    assert all(set(s.match.headers or {}) == {"x-understudy-fault"} for s in faults)
    for api in APIS:
        assert post(base_url, api).status_code == 200
        assert post(base_url, api, headers={"x-understudy-fault": "overloaded"}).status_code == (
            529 if api == MESSAGES else 503
        )


def test_bundled_retry_scenario_with_sdk_retries(base_url: str) -> None:
    client = openai_client(base_url, max_retries=2)
    headers = {"x-understudy-fault": "retry", "x-understudy-namespace": "test-bundled-retry"}
    reply = client.chat.completions.create(**body(CHAT, stream=False), extra_headers=headers)
    assert reply.choices[0].message.content == "Third time lucky."


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (
            "content: x\n  fault: {kind: malformed, violation: tool_index_gap}",
            "f.yaml:2: reply: violation 'tool_index_gap' needs a reply with tool_calls",
        ),
        (
            "content: x\n  fault: {kind: stall, violation: invalid_json}",
            "f.yaml:4: reply.fault[0]: 'violation' applies to kind malformed only",
        ),
        (
            "content: x\n  fault: [{kind: truncate}, {kind: disconnect}]",
            "f.yaml:2: reply: one reply can end only one way, got truncate, disconnect",
        ),
        (
            "content: x\n  fault: {kind: malformed, violation: nope}",
            "f.yaml:4: reply.fault[0]: unknown violation 'nope'",
        ),
        ("error: {message: hi}", "f.yaml:3: reply.error: give a preset name or a status"),
        (
            "error: overloaded\n  fault: {kind: truncate}",
            "f.yaml:2: reply: an error reply has no stream",
        ),
        (
            "content: x\n  chaos: {faults: [{weight: 2}]}",
            "f.yaml:4: reply.chaos.faults[0]: give error, fault or framing",
        ),
        (
            "content: x\n  fault: {kind: disconnect, after_events: {min: 5, max: 2}}",
            "f.yaml:4: reply.fault[0].after_events: min must not exceed max",
        ),
    ],
)
def test_fault_mistakes_are_reported_with_file_line_and_field(reply: str, problem: str) -> None:
    from understudy.scenarios import ScenarioError, load_text

    with pytest.raises(ScenarioError) as caught:
        load_text(f"name: s\nreply:\n  {reply}\n", "f.yaml")
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_the_journal_names_the_fault_of_each_call(serve) -> None:
    """The control plane's journal entry carries what the injector did (``fault``)."""
    base_url = serve(
        "name: s\nreplies:\n  - error: {preset: rate_limit, retry_after_ms: 5}\n"
        f"  - content: {TEXT}\n    fault: {{kind: disconnect, after_events: 2}}\n"
        f"  - content: {TEXT}\n"
    )
    post(base_url, CHAT)
    with pytest.raises(httpx.RemoteProtocolError):
        post(base_url, CHAT)
    post(base_url, CHAT)
    deadline = time.monotonic() + 5
    while True:
        entries = httpx.get(f"{base_url}/_understudy/journal", timeout=5).json()["entries"]
        if len(entries) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    faults = [(entry["status"], entry["fault"], entry["completed"]) for entry in entries]
    assert faults == [
        (429, "http 429 rate_limit", True),
        (200, "disconnect after 2 events", False),
        (200, None, True),
    ]
    assert entries[1]["events_sent"] == 2 and not entries[1]["disconnected"]
