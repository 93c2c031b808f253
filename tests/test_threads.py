"""Anthropic message threads on ``POST /v1/messages``.

anthropic-python's ``beta.messages.tool_runner`` uses threads by default: the first turn
sends ``thread: {"type": "create"}``, each later one ``{"type": "continue",
"previous_message_id": ...}`` with only the new messages and no ``system`` or ``tools``.
These tests drive that runner (and the ``beta.messages.thread`` helper) with default
settings against live servers, and read back what the SDK sent from the journal. The
shapes checked (request fields, typed errors keyed on ``error.details.error_code``, the
replay after ``thread_not_found``) are the installed SDK's.
"""

import json
import threading
import time
import uuid
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import beta_tool

from understudy.scenarios import load_paths
from understudy.settings import Settings, bundled_scenarios

MODEL = "claude-opus-4-7"
BETA = "message-threads-2026-08-12"
SCENARIOS = {scenario.name: scenario for scenario in load_paths([bundled_scenarios()])}
WEATHER_ANSWER = SCENARIOS["weather-answer"].reply.content
TOOLS_CALLED: list[tuple[str, dict[str, Any]]] = []


@beta_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    TOOLS_CALLED.append(("get_weather", {"city": city}))
    return json.dumps({"city": city, "sky": "sunny", "celsius": 18})


@beta_tool
def get_time(tz: str) -> str:
    """Current time in a time zone."""
    TOOLS_CALLED.append(("get_time", {"tz": tz}))
    return json.dumps({"tz": tz, "time": "14:05"})


@beta_tool
def lookup_order(order: int) -> str:
    """Look an order up."""
    TOOLS_CALLED.append(("lookup_order", {"order": order}))
    return json.dumps({"order": order, "paid": True})


@beta_tool
def issue_refund(order: int) -> str:
    """Refund an order."""
    TOOLS_CALLED.append(("issue_refund", {"order": order}))
    return json.dumps({"order": order, "refunded": True})


REFUND_LOOP = """
name: refund-lookup
match: {tools: [lookup_order, issue_refund], turn: 0}
reply:
  tool_calls: [{name: lookup_order, arguments: {order: 42}}]
---
name: refund-issue
match: {tools: [lookup_order, issue_refund], tool_result: true, turn: 1, contains: refund}
reply:
  tool_calls: [{name: issue_refund, arguments: {order: 42}}]
---
name: refund-done
match: {tools: issue_refund, tool_result: true, turn: 2}
reply:
  content: Order 42 is refunded.
"""
DEFAULT = "name: fallback\ndefault: true\nreply:\n  content: Fine.\n"
SLOW = """
name: slow
default: true
delivery: {itl_ms: 40}
reply:
  content: "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
"""


@pytest.fixture(autouse=True)
def _forget_tool_calls() -> None:
    TOOLS_CALLED.clear()


def namespace() -> str:
    return f"threads-{uuid.uuid4().hex[:12]}"


def client_for(url: str, space: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=url,
        api_key="sk-ant-test",
        max_retries=0,
        default_headers={"X-Understudy-Namespace": space},
    )


def journal(url: str, space: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/_understudy/journal", params={"namespace": space})
    return response.json()["entries"]


def run_loop(client: anthropic.Anthropic, stream: bool, tools: list[Any], text: str) -> Any:
    runner = client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=1024,
        tools=tools,
        messages=[{"role": "user", "content": text}],
        stream=stream,
    )
    return runner.until_done()


def wait_for_entries(url: str, space: str, count: int) -> list[dict[str, Any]]:
    """The journal once it holds ``count`` entries: a stream is recorded as it closes."""
    deadline = time.monotonic() + 5
    while len(entries := journal(url, space)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return entries


def post(url: str, space: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"X-Understudy-Namespace": space, "anthropic-beta": BETA}
    return httpx.post(f"{url}/v1/messages", json=body, headers=headers)


def create(url: str, space: str, **fields: Any) -> httpx.Response:
    body = {"model": MODEL, "max_tokens": 256, "thread": {"type": "create"}}
    body["messages"] = [{"role": "user", "content": "Hello"}]
    return post(url, space, {**body, **fields})


def continue_(url: str, space: str, previous: str, **fields: Any) -> httpx.Response:
    body = {"model": MODEL, "max_tokens": 256}
    body["thread"] = {"type": "continue", "previous_message_id": previous}
    body["messages"] = [{"role": "user", "content": "And then?"}]
    return post(url, space, {**body, **fields})


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["type"] == "error" and body["request_id"] == response.headers["request-id"]
    return body["error"]


# --- tool_runner with default settings ---------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("parallel", [False, True], ids=["one-call", "two-calls"])
def test_tool_runner_completes_the_bundled_weather_loop(
    base_url: str, stream: bool, parallel: bool
) -> None:
    space = namespace()
    client = client_for(base_url, space)
    if parallel:
        tools, text = [get_weather, get_time], "What are the weather and the time in Paris?"
    else:
        tools, text = [get_weather], "What's the weather in Paris?"

    final = run_loop(client, stream, tools, text)

    assert final.content[0].text == WEATHER_ANSWER
    calls = [call.name for call in SCENARIOS["weather-and-time"].reply.tool_calls]
    assert [name for name, _ in TOOLS_CALLED] == (calls if parallel else ["get_weather"])
    first, second = journal(base_url, space)
    # What the SDK sent: a create with the whole request, then only the tool results.
    assert BETA in first["headers"]["anthropic-beta"]
    assert first["body"]["thread"] == {"type": "create"}
    assert [tool["name"] for tool in first["body"]["tools"]] == [tool.name for tool in tools]
    assert second["body"]["thread"]["type"] == "continue"
    assert "tools" not in second["body"] and "system" not in second["body"]
    [results] = second["body"]["messages"]
    assert results["role"] == "user"
    assert {block["type"] for block in results["content"]} == {"tool_result"}
    assert len(results["content"]) == len(tools)
    # The continue named the first reply, and both turns are one thread under its id.
    first_reply_id = second["body"]["thread"]["previous_message_id"]
    assert first["thread_id"] == second["thread_id"] == first_reply_id
    assert first_reply_id.startswith("msg_01")
    first_scenario = "weather-and-time" if parallel else "weather-call"
    assert [first["scenario"], second["scenario"]] == [first_scenario, "weather-answer"]
    assert [first["status"], second["status"]] == [200, 200]
    assert first["stream"] is second["stream"] is stream


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_tool_runner_completes_a_two_step_loop_matched_on_the_whole_thread(
    serve, stream: bool
) -> None:
    """``turn``, ``tools``, ``tool_result`` and ``contains`` see the turns the server
    holds, though each continue sends one tool result and no tools."""
    url = serve(REFUND_LOOP, time_scale=0)
    space = namespace()
    client = client_for(url, space)

    final = run_loop(client, stream, [lookup_order, issue_refund], "Please refund order 42")

    assert final.content[0].text == "Order 42 is refunded."
    assert TOOLS_CALLED == [("lookup_order", {"order": 42}), ("issue_refund", {"order": 42})]
    entries = journal(url, space)
    assert [entry["scenario"] for entry in entries] == [
        "refund-lookup",
        "refund-issue",
        "refund-done",
    ]
    threads = [entry["body"]["thread"] for entry in entries]
    assert threads[0] == {"type": "create"}
    assert [thread["type"] for thread in threads[1:]] == ["continue", "continue"]
    assert threads[2]["previous_message_id"] != threads[1]["previous_message_id"]
    assert all(len(entry["body"]["messages"]) == 1 for entry in entries)
    assert len({entry["thread_id"] for entry in entries}) == 1


def test_the_readme_example_scenario_works_with_tool_runner(understudy) -> None:
    """The README's pytest example (``replies:`` in sequence on one ``tools`` match),
    driven by the Anthropic tool runner with its defaults."""
    understudy.add_scenario(
        """
        name: weather
        match:
          tools: get_weather
        replies:
          - tool_calls:
              - name: get_weather
                arguments: {city: Paris}
          - content: "It is sunny in Paris."
        """
    )
    client = anthropic.Anthropic(
        base_url=understudy.base_url,
        api_key="sk-ant-test",
        default_headers=understudy.headers,
        max_retries=0,
    )
    final = run_loop(client, False, [get_weather], "Weather in Paris?")

    assert final.content[0].text == "It is sunny in Paris."
    first, second = understudy.journal()
    assert [first["reply_index"], second["reply_index"]] == [0, 1]
    assert second["body"]["thread"]["type"] == "continue"


def test_tool_runner_with_thinking_falls_back_to_a_full_history(base_url: str) -> None:
    """Threads refuse ``thinking`` with ``thread_unsupported_request``; the runner then
    stops threading and sends the whole conversation, which still completes the loop."""
    space = namespace()
    client = client_for(base_url, space)
    runner = client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[get_weather],
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
    )
    assert runner.until_done().content[-1].text == WEATHER_ANSWER
    refused, *answered = journal(base_url, space)
    assert refused["status"] == 400 and refused["body"]["thread"] == {"type": "create"}
    assert [entry["status"] for entry in answered] == [200, 200]
    assert all("thread" not in entry["body"] for entry in answered)
    assert len(answered[1]["body"]["messages"]) == 3


# --- refusals, in Anthropic's shape, as the SDK's typed errors -------------------------


def test_continue_of_an_unknown_id_is_thread_not_found(base_url: str) -> None:
    client = client_for(base_url, namespace())
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.beta.messages.create(
            model=MODEL,
            max_tokens=256,
            messages=[{"role": "user", "content": "hi"}],
            thread={"type": "continue", "previous_message_id": "msg_01unknown"},
            betas=[BETA],
        )
    error = caught.value
    assert type(error).__name__ == "ThreadNotFoundError"
    assert (error.status_code, error.error_code) == (404, "thread_not_found")
    assert error.body == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": error.body["error"]["message"],
            "details": {"error_code": "thread_not_found"},
        },
        "request_id": error.request_id,
    }
    assert "msg_01unknown" in error.body["error"]["message"]


def test_the_thread_helper_replays_the_history_when_the_thread_is_gone(base_url: str) -> None:
    """After a reset the server holds no thread; the SDK's ``thread_not_found`` recovery
    sends the whole conversation under a new thread, which succeeds."""
    space = namespace()
    client = client_for(base_url, space)
    thread = client.beta.messages.thread(model=MODEL, max_tokens=256)
    first = thread.send({"role": "user", "content": "hi"})
    assert thread.previous_message_id == first.id
    httpx.post(f"{base_url}/_understudy/reset", headers={"X-Understudy-Namespace": space})

    second = thread.send({"role": "user", "content": "hello again"})

    assert second.content[0].text
    refused, replayed = journal(base_url, space)
    assert refused["status"] == 404
    assert refused["body"]["thread"] == {"type": "continue", "previous_message_id": first.id}
    assert replayed["status"] == 200 and replayed["body"]["thread"] == {"type": "create"}
    roles = [message["role"] for message in replayed["body"]["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert replayed["thread_id"] == second.id != first.id


def test_each_reply_can_be_continued_once(serve) -> None:
    url = serve(DEFAULT, time_scale=0)
    space = namespace()
    first = create(url, space).json()["id"]
    assert continue_(url, space, first).status_code == 200

    again = continue_(url, space, first)

    assert again.status_code == 400
    assert error_of(again)["type"] == "invalid_request_error"
    assert error_of(again)["details"] == {"error_code": "thread_already_continued"}


def test_the_sdk_recovers_from_a_reply_continued_elsewhere(base_url: str) -> None:
    space = namespace()
    client = client_for(base_url, space)
    thread = client.beta.messages.thread(model=MODEL, max_tokens=256)
    thread.send({"role": "user", "content": "hi"})
    # Another client continues the same reply first.
    assert continue_(base_url, space, thread.previous_message_id or "").status_code == 200

    reply = thread.send({"role": "user", "content": "and you?"})

    assert reply.content[0].text
    statuses = [
        (entry["status"], entry["body"]["thread"]["type"]) for entry in journal(base_url, space)
    ]
    assert statuses[-2:] == [(400, "continue"), (200, "create")]


def test_a_continue_while_the_first_is_streaming_is_in_flight(serve) -> None:
    url = serve(SLOW)
    space = namespace()
    first = create(url, space).json()["id"]
    body = {
        "model": MODEL,
        "max_tokens": 256,
        "stream": True,
        "thread": {"type": "continue", "previous_message_id": first},
        "messages": [{"role": "user", "content": "go on"}],
    }
    headers = {"X-Understudy-Namespace": space}
    with httpx.stream("POST", f"{url}/v1/messages", json=body, headers=headers) as streaming:
        lines = streaming.iter_lines()
        next(lines)
        meanwhile = continue_(url, space, first)
        assert list(lines)[-2] == 'data: {"type":"message_stop"}'
    wait_for_entries(url, space, 3)

    assert meanwhile.status_code == 400
    assert error_of(meanwhile)["details"] == {"error_code": "thread_continue_in_flight"}
    after = continue_(url, space, first)
    assert error_of(after)["details"] == {"error_code": "thread_already_continued"}


def test_an_abandoned_stream_gives_the_turn_back(serve) -> None:
    """A thread holds a streamed turn only if the client read it to the end: the reply
    it continued can be continued again, and the partial reply cannot."""
    url = serve(SLOW)
    space = namespace()
    first = create(url, space).json()["id"]
    body = {
        "model": MODEL,
        "max_tokens": 256,
        "stream": True,
        "thread": {"type": "continue", "previous_message_id": first},
        "messages": [{"role": "user", "content": "go on"}],
    }
    headers = {"X-Understudy-Namespace": space}
    with httpx.stream("POST", f"{url}/v1/messages", json=body, headers=headers) as streaming:
        lines = streaming.iter_lines()
        next(lines)
        start = json.loads(next(lines).removeprefix("data: "))
    partial_id = start["message"]["id"]

    assert not wait_for_entries(url, space, 2)[1]["completed"]
    assert error_of(continue_(url, space, partial_id))["details"] == {
        "error_code": "thread_not_found"
    }
    assert continue_(url, space, first).status_code == 200


def test_a_continue_that_changes_tools_or_system_does_not_fit(serve) -> None:
    url = serve(DEFAULT, time_scale=0)
    space = namespace()
    tool = {"name": "get_weather", "input_schema": {"type": "object"}}
    first = create(url, space, tools=[tool], system="Be brief.").json()["id"]
    other = {"name": "get_time", "input_schema": {"type": "object"}}

    changed = continue_(url, space, first, tools=[other])

    assert changed.status_code == 400
    assert error_of(changed)["details"] == {"error_code": "thread_fingerprint_mismatch"}
    assert "`tools`" in error_of(changed)["message"]
    # The refused continue left the reply to be continued, repeating the same values.
    same = continue_(url, space, first, tools=[tool], system="Be brief.")
    assert same.status_code == 200


def test_thread_with_thinking_is_unsupported(base_url: str) -> None:
    client = client_for(base_url, namespace())
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.beta.messages.create(
            model=MODEL,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "hi"}],
            thread={"type": "create"},
            betas=[BETA],
        )
    error = caught.value
    assert type(error).__name__ == "ThreadUnsupportedRequestError"
    assert error.body["error"]["details"] == {
        "error_code": "thread_unsupported_request",
        "unsupported": ["thinking"],
    }


@pytest.mark.parametrize(
    ("thread", "message"),
    [
        ({"type": "continue"}, "thread.continue.previous_message_id: Field required"),
        ({"type": "fork"}, "thread: Input tag 'fork' found using 'type' does not match"),
        ("create", "thread: Input should be a valid dictionary"),
    ],
)
def test_a_malformed_thread_field_is_refused(base_url: str, thread: Any, message: str) -> None:
    response = post(base_url, namespace(), {**create_body(), "thread": thread})
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error" and error["message"].startswith(message)


def create_body() -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}


def test_a_continue_may_send_no_messages(serve) -> None:
    """After a ``pause_turn`` the SDK continues with an empty ``messages``: the server
    resumes from the turns it holds."""
    url = serve(DEFAULT, time_scale=0)
    space = namespace()
    first = create(url, space).json()["id"]
    assert continue_(url, space, first, messages=[]).status_code == 200
    assert create(url, space, messages=[]).status_code == 400


# --- what the server holds: per namespace, per API, forgotten on reset and when idle ---


def test_threads_are_per_namespace_and_forgotten_on_reset(serve) -> None:
    url = serve(DEFAULT, time_scale=0)
    mine, theirs = namespace(), namespace()
    first = create(url, mine).json()["id"]

    assert error_of(continue_(url, theirs, first))["details"]["error_code"] == "thread_not_found"
    second = continue_(url, mine, first)
    assert second.status_code == 200

    httpx.post(f"{url}/_understudy/reset", headers={"X-Understudy-Namespace": mine})
    gone = continue_(url, mine, second.json()["id"])
    assert gone.status_code == 404
    assert error_of(gone)["details"] == {"error_code": "thread_not_found"}


def test_a_thread_reply_is_not_a_stored_response_or_the_reverse(serve) -> None:
    url = serve(DEFAULT, time_scale=0)
    space = namespace()
    headers = {"X-Understudy-Namespace": space}
    message_id = create(url, space).json()["id"]
    response = httpx.post(
        f"{url}/v1/responses",
        json={"model": "gpt-4o", "input": "hi", "store": True},
        headers=headers,
    ).json()

    assert httpx.get(f"{url}/v1/responses/{message_id}", headers=headers).status_code == 404
    follow_up = {"model": "gpt-4o", "input": "and?", "previous_response_id": message_id}
    refused = httpx.post(f"{url}/v1/responses", json=follow_up, headers=headers)
    assert refused.status_code == 400
    assert error_of(continue_(url, space, response["id"]))["details"] == {
        "error_code": "thread_not_found"
    }


def test_an_idle_thread_expires(serve) -> None:
    url = serve(DEFAULT, time_scale=0, thread_idle_seconds=0.3)
    space = namespace()
    first = create(url, space).json()["id"]
    second = continue_(url, space, first).json()["id"]
    time.sleep(0.6)

    expired = continue_(url, space, second)

    assert expired.status_code == 404
    assert error_of(expired)["details"] == {"error_code": "thread_not_found"}


def test_the_idle_time_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().thread_idle_seconds == 300
    monkeypatch.setenv("UNDERSTUDY_THREAD_IDLE_SECONDS", "12.5")
    assert Settings.from_env().thread_idle_seconds == 12.5


def test_a_request_without_thread_keeps_nothing(base_url: str) -> None:
    space = namespace()
    reply = post(base_url, space, create_body()).json()
    assert error_of(continue_(base_url, space, reply["id"]))["details"] == {
        "error_code": "thread_not_found"
    }
    assert [entry["thread_id"] for entry in journal(base_url, space)] == [None, None]


def test_concurrent_loops_in_one_namespace_stay_apart(base_url: str) -> None:
    """Several tool loops at once: each thread continues only its own turns."""
    space = namespace()
    client = client_for(base_url, space)
    finals: list[str] = []

    def loop() -> None:
        final = run_loop(client, True, [get_weather], "What's the weather in Paris?")
        finals.append(final.content[0].text)

    workers = [threading.Thread(target=loop) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)

    assert finals == [WEATHER_ANSWER] * 4
    entries = journal(base_url, space)
    assert len({entry["thread_id"] for entry in entries}) == 4
    assert all(entry["status"] == 200 for entry in entries)
