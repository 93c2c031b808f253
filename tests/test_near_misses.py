"""Near misses: when no scenario matches, the 404 and the journal say which came closest.

The end-to-end tests drive a real server (a catalog without a default) with raw httpx and
the official SDKs; the unit tests call ``mismatches()`` directly for every condition kind.
"""

import gc
from typing import Any

import anthropic
import httpx
import openai
import pytest

from understudy.core.request import Message, NeutralRequest
from understudy.scenarios import matching
from understudy.scenarios.catalog import Catalog, NoMatch
from understudy.scenarios.matching import conditions, matches, mismatches
from understudy.scenarios.schema import Match

CATALOG = """
name: weather
match: {last_user_message: "(?i)weather", tools: [get_weather]}
reply: {content: sunny}
---
name: greeting
match: {model: "claude-*", last_user_message: "^hi"}
reply: {content: hello}
---
name: qa-team
match: {api: messages, headers: {X-Team: "^qa$"}, turn: {min: 1}}
reply: {content: qa}
---
name: pirate
match: {model: "gpt-*", system: "(?i)pirate", contains: treasure, tool_result: true}
reply: {content: arr}
"""

PREFIX = "No scenario matches this request (api {api}, model '{model}') and the catalog has no default scenario."


def journal(base_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/_understudy/journal")
    assert response.status_code == 200
    return response.json()["entries"]


def chat(base_url: str, text: str, model: str = "gpt-4o", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{base_url}/v1/chat/completions", json=body)


# End to end: the 404 message and the journal entry.


def test_chat_404_names_the_closest_scenarios_and_what_they_failed(serve) -> None:
    base_url = serve(CATALOG)
    response = chat(base_url, "What's the weather?")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "scenario_not_found"
    assert error["message"] == (
        PREFIX.format(api="chat", model="gpt-4o") + " Closest: 'weather' (tools: get_weather "
        "not offered); 'greeting' (model: 'gpt-4o' does not match 'claude-*', "
        "last_user_message: no match for '^hi'); 'qa-team' (api: chat is not one of "
        "[messages], headers.x-team: missing, turn: 0 is below min 1)"
    )
    # 'pirate' also fails three conditions, but 'qa-team' comes first in the catalog.
    assert "pirate" not in error["message"]


def test_journal_entry_lists_the_near_misses(serve) -> None:
    base_url = serve(CATALOG)
    chat(base_url, "What's the weather?")

    [entry] = journal(base_url)
    assert entry["status"] == 404
    assert entry["scenario"] is None
    assert entry["error"].startswith(PREFIX.format(api="chat", model="gpt-4o"))
    assert entry["near_misses"] == [
        {"scenario": "weather", "failed": ["tools: get_weather not offered"]},
        {
            "scenario": "greeting",
            "failed": [
                "model: 'gpt-4o' does not match 'claude-*'",
                "last_user_message: no match for '^hi'",
            ],
        },
        {
            "scenario": "qa-team",
            "failed": [
                "api: chat is not one of [messages]",
                "headers.x-team: missing",
                "turn: 0 is below min 1",
            ],
        },
    ]


def test_near_misses_are_null_when_they_do_not_apply(serve) -> None:
    base_url = serve(CATALOG)
    assert chat(base_url, "hi there", model="claude-haiku-4-5").status_code == 200
    unknown = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers={"X-Understudy-Scenario": "no-such-scenario"},
    )
    assert unknown.status_code == 404

    matched, named = journal(base_url)
    assert (matched["scenario"], matched["near_misses"]) == ("greeting", None)
    assert named["error"].startswith("Scenario 'no-such-scenario'")
    assert named["near_misses"] is None


def test_fewest_failures_first_ties_in_catalog_order_at_most_three(serve) -> None:
    base_url = serve(
        """
name: three
match: {api: messages, model: "claude-*", system: x}
reply: {content: x}
---
name: one-a
match: {tools: [lookup]}
reply: {content: x}
---
name: two
match: {model: "claude-*", contains: zzz}
reply: {content: x}
---
name: one-b
match: {tool_result: true}
reply: {content: x}
---
name: two-later
match: {turn: 2, last_user_message: "^bye"}
reply: {content: x}
"""
    )
    message = chat(base_url, "hello").json()["error"]["message"]

    [entry] = journal(base_url)
    names = [miss["scenario"] for miss in entry["near_misses"]]
    assert names == ["one-a", "one-b", "two"]
    assert [len(miss["failed"]) for miss in entry["near_misses"]] == [1, 1, 2]
    assert message.index("'one-a'") < message.index("'one-b'") < message.index("'two'")
    assert "'three'" not in message and "'two-later'" not in message


def test_openai_sdk_sees_the_near_misses_in_its_not_found_error(serve) -> None:
    client = openai.OpenAI(base_url=f"{serve(CATALOG)}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": "You are a pirate."},
                {"role": "user", "content": "Where is the treasure?"},
            ],
        )

    error = caught.value
    assert error.status_code == 404
    assert error.code == "scenario_not_found"
    assert isinstance(error.body, dict)
    assert error.body["message"].startswith(PREFIX.format(api="chat", model="gpt-4o"))
    # 'pirate' now fails only tool_result, so it is the closest.
    assert "Closest: 'pirate' (tool_result: expected true); 'weather' (" in error.body["message"]
    assert "tool_result: expected true" in error.message


def test_openai_sdk_responses_api(serve) -> None:
    client = openai.OpenAI(base_url=f"{serve(CATALOG)}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-4o", input="What's the weather?")

    assert caught.value.code == "scenario_not_found"
    message = caught.value.body["message"]
    assert message.startswith(PREFIX.format(api="responses", model="gpt-4o"))
    assert "'qa-team' (api: responses is not one of [messages]" in message


def test_anthropic_sdk_sees_the_near_misses_in_its_not_found_error(serve) -> None:
    base_url = serve(CATALOG)
    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "hello"}],
            extra_headers={"X-Team": "dev"},
        )

    error = caught.value
    assert error.status_code == 404
    assert isinstance(error.body, dict)
    assert error.body["error"]["type"] == "not_found_error"
    message = error.body["error"]["message"]
    assert message == (
        PREFIX.format(api="messages", model="claude-sonnet-4-5")
        + " Closest: 'greeting' (last_user_message: no match for '^hi'); 'weather' "
        "(last_user_message: no match for '(?i)weather', tools: get_weather not offered); "
        "'qa-team' (headers.x-team: no match for '^qa$', turn: 0 is below min 1)"
    )
    assert message in error.message

    [entry] = journal(base_url)
    assert entry["api"] == "messages"
    assert [miss["scenario"] for miss in entry["near_misses"]] == [
        "greeting",
        "weather",
        "qa-team",
    ]


# The catalog on its own.


def test_a_catalog_with_no_ordinary_scenario_names_none() -> None:
    error = Catalog([]).no_match(request())
    assert isinstance(error, NoMatch)
    assert (error.status, error.code, error.near_misses) == (404, "scenario_not_found", [])
    assert error.message == PREFIX.format(api="chat", model="gpt-4o")


# mismatches() for each condition kind.


def request(
    text: str = "hello",
    *,
    api: str = "chat",
    model: str = "gpt-4o",
    system: str = "",
    tools: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    history: list[Message] | None = None,
) -> NeutralRequest:
    messages = [*(history or []), Message("user", text)]
    return NeutralRequest(
        api,  # type: ignore[arg-type]
        model,
        messages,
        system=system,
        tools=tools,
        headers=headers or {},
    )


TWO_TURNS = [
    Message("user", "a"),
    Message("assistant", "b"),
    Message("user", "c"),
    Message("assistant", "d"),
]
TOOL_RESULT_LAST = NeutralRequest(
    "chat",
    "gpt-4o",
    [Message("user", "a"), Message("assistant", "", ("f",)), Message("tool", "42", (), True)],
)

CASES = [
    ({"model": "claude-*"}, request(), "model: 'gpt-4o' does not match 'claude-*'"),
    (
        {"model": "gpt-4o"},
        request(model="gpt-4o-mini"),
        "model: 'gpt-4o-mini' does not match 'gpt-4o'",
    ),
    ({"model": "gpt-[35]o"}, request(), "model: 'gpt-4o' does not match 'gpt-[35]o'"),
    ({"api": "messages"}, request(), "api: chat is not one of [messages]"),
    (
        {"api": ["messages", "responses"]},
        request(),
        "api: chat is not one of [messages, responses]",
    ),
    (
        {"last_user_message": "(?i)weather"},
        request(),
        "last_user_message: no match for '(?i)weather'",
    ),
    (
        {"last_user_message": "x"},
        request(""),
        "last_user_message: no match for 'x' (it is empty)",
    ),
    ({"contains": "Banana"}, request(), "contains: 'Banana' is not in the conversation"),
    (
        {"system": "(?i)pirate"},
        request(system="You are a bot."),
        "system: no match for '(?i)pirate'",
    ),
    ({"system": "(?i)pirate"}, request(), "system: no match for '(?i)pirate' (it is empty)"),
    ({"headers": {"X-Team": "^qa$"}}, request(), "headers.x-team: missing"),
    (
        {"headers": {"X-Team": "^qa$"}},
        request(headers={"x-team": "qa-lead"}),
        "headers.x-team: no match for '^qa$'",
    ),
    ({"tools": "get_weather"}, request(), "tools: get_weather not offered"),
    (
        {"tools": ["get_weather", "get_time", "search"]},
        request(tools=("get_time",)),
        "tools: get_weather, search not offered",
    ),
    ({"tool_result": True}, request(), "tool_result: expected true"),
    ({"tool_result": False}, TOOL_RESULT_LAST, "tool_result: expected false"),
    ({"turn": {"min": 1}}, request(), "turn: 0 is below min 1"),
    ({"turn": 1}, request(history=TWO_TURNS), "turn: 2 is above max 1"),
    ({"turn": {"max": 0}}, TOOL_RESULT_LAST, "turn: 1 is above max 0"),
]


@pytest.mark.parametrize(("spec", "req", "expected"), CASES)
def test_mismatch_explains_each_condition_kind(
    spec: dict[str, Any], req: NeutralRequest, expected: str
) -> None:
    match = Match(**spec)
    assert mismatches(match, req) == [expected]
    assert matches(match, req) is False


HOLDING = [
    ({"model": "gpt-*"}, request()),
    ({"model": "gpt-[34]o"}, request()),
    ({"model": "gpt-4o"}, request()),
    ({"api": ["chat", "messages"]}, request()),
    ({"last_user_message": "(?i)WEATHER"}, request("the weather")),
    ({"contains": "BANANA"}, request(history=[Message("user", "banana bread")])),
    ({"system": "pirate"}, request(system="a pirate")),
    ({"headers": {"X-Team": "^qa$"}}, request(headers={"x-team": "qa"})),
    ({"tools": ["a", "b"]}, request(tools=("b", "c", "a"))),
    ({"tool_result": True}, TOOL_RESULT_LAST),
    ({"tool_result": False}, request()),
    ({"turn": {"min": 1, "max": 2}}, request(history=TWO_TURNS)),
    ({"tools": [], "headers": {}, "turn": {}}, request()),
    ({}, request()),
]


@pytest.mark.parametrize(("spec", "req"), HOLDING)
def test_conditions_that_hold_are_not_listed(spec: dict[str, Any], req: NeutralRequest) -> None:
    match = Match(**spec)
    assert mismatches(match, req) == []
    assert matches(match, req) is True


def test_every_failed_condition_is_listed_in_field_order() -> None:
    match = Match(
        turn=3,
        tools=["t"],
        headers={"X-A": "1", "X-B": "2"},
        system="s",
        contains="c",
        last_user_message="l",
        model="m",
        api="messages",
        tool_result=True,
    )
    failed = mismatches(match, request("zzz", headers={"x-b": "9"}))
    assert [line.split(":")[0] for line in failed] == [
        "api",
        "model",
        "last_user_message",
        "contains",
        "system",
        "headers.x-a",
        "headers.x-b",
        "tools",
        "tool_result",
        "turn",
    ]


def test_only_the_conditions_a_match_sets_are_compiled() -> None:
    assert [c.name for c in conditions(Match(model="gpt-4o", turn={"min": 1}))] == [
        "model",
        "turn",
    ]
    # Conditions that cannot fail are left out.
    assert conditions(Match(tools=[], headers={}, turn={})) == ()


def test_compiled_tables_follow_the_match_object_not_its_id() -> None:
    match = Match(model="gpt-4o")
    copy = match.model_copy(update={"model": "claude-*"})
    assert matches(match, request()) is True
    assert matches(copy, request()) is False

    key = (id(match), matching.TEXT_LIMIT)
    assert key in matching._TABLES
    del match
    gc.collect()
    assert key not in matching._TABLES
