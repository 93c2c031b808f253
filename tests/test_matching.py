"""Scenario selection over the wire: match rules, order, default, ``replies:`` sequences."""

import httpx
import pytest

CATALOG = """
name: by-model
match: {model: "claude-*"}
reply: {content: model glob}
---
name: by-header
match: {headers: {X-Team: "^qa$"}}
reply: {content: header}
---
name: by-system
match: {system: "(?i)pirate"}
reply: {content: system}
---
name: by-contains
match: {contains: "BANANA"}
reply: {content: contains}
---
name: second-turn
match: {turn: {min: 1}}
reply: {content: later turn}
---
name: by-api
match: {api: chat, last_user_message: "^api$"}
reply: {content: api}
---
name: sequence
match: {last_user_message: "^count$"}
replies:
  - {content: one}
  - {content: two}
---
name: cycling
then: cycle
match: {last_user_message: "^cycle$"}
replies: [{content: a}, {content: b}]
---
name: fallback
default: true
reply: {content: fallback}
"""


@pytest.fixture
def ask(serve):
    base_url = serve(CATALOG)

    def ask(messages: list[dict] | str, model: str = "gpt-4o", headers: dict | None = None) -> str:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        response = httpx.post(
            f"{base_url}/v1/chat/completions",
            json={"model": model, "messages": messages},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["message"]["content"]

    return ask


def test_model_glob(ask) -> None:
    assert ask("hi", model="claude-sonnet-4-5") == "model glob"


def test_header_regex(ask) -> None:
    assert ask("hi", headers={"x-team": "qa"}) == "header"
    assert ask("hi", headers={"x-team": "qa-lead"}) == "fallback"


def test_system_prompt_regex(ask) -> None:
    messages = [
        {"role": "system", "content": "You are a Pirate."},
        {"role": "user", "content": "hi"},
    ]
    assert ask(messages) == "system"


def test_contains_searches_the_whole_conversation_case_insensitively(ask) -> None:
    messages = [
        {"role": "user", "content": "I like banana bread"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "hi"},
    ]
    # "second-turn" would also match, but by-contains comes first in catalog order.
    assert ask(messages) == "contains"


def test_turn_counts_assistant_messages(ask) -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    assert ask(messages) == "later turn"


def test_api_condition(ask) -> None:
    assert ask("api") == "api"


def test_default_when_nothing_matches(ask) -> None:
    assert ask("nothing special") == "fallback"


def test_replies_sequence_repeats_the_last(ask) -> None:
    assert [ask("count") for _ in range(4)] == ["one", "two", "two", "two"]


def test_replies_sequence_cycles(ask) -> None:
    assert [ask("cycle") for _ in range(5)] == ["a", "b", "a", "b", "a"]


def test_no_match_and_no_default_is_a_provider_shaped_404(serve) -> None:
    base_url = serve("name: only\nmatch: {model: special}\nreply: {content: x}\n")
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "scenario_not_found"
    assert "No scenario matches" in error["message"]
    assert "gpt-4o" in error["message"]
