"""What the server says in one place agrees with what it says in another: a 429's message
and its rate-limit headers, ``/v1/models`` and the catalog, the journal's ``api`` filter
and the API names."""

import re
from collections.abc import Callable

import anthropic
import httpx
import openai
import pytest

ServerFactory = Callable[..., str]
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def openai_client(base_url: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0, default_headers=headers
    )


@pytest.mark.parametrize(
    ("rate_limits", "limit", "used"),
    [("", 60, 60), ("\n    rate_limits: {requests_limit: 500, requests_remaining: 20}", 500, 480)],
    ids=["preset", "given"],
)
def test_rate_limit_message_quotes_the_headers_numbers(
    serve: ServerFactory, rate_limits: str, limit: int, used: int
) -> None:
    base_url = serve(f"name: s\nreply:\n  error:\n    preset: rate_limit{rate_limits}\n")
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(base_url).chat.completions.create(**CHAT)
    headers = caught.value.response.headers
    assert headers["x-ratelimit-limit-requests"] == str(limit)
    header_used = limit - int(headers["x-ratelimit-remaining-requests"])
    numbers = re.search(r"Limit (\d+), Used (\d+), Requested 1\.", caught.value.message)
    assert numbers, caught.value.message
    assert (int(numbers[1]), int(numbers[2])) == (limit, header_used) == (limit, used)

    client = anthropic.Anthropic(base_url=base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(max_tokens=10, **CHAT)
    headers = refused.value.response.headers
    assert headers["anthropic-ratelimit-requests-limit"] == str(limit)
    message = refused.value.body["error"]["message"]
    assert f"rate limit for your organization of {limit} requests per minute" in message


CATALOG = """
name: exact
match: {model: gpt-4o-mini}
reply: {content: a}
---
name: glob
match: {model: "claude-*"}
reply: {content: b, model: served-by-reply}
---
name: sequence
replies:
  - {content: c, model: first-of-sequence}
  - {content: d}
"""


def model_ids(base_url: str, namespace: str | None = None) -> list[str]:
    headers = {} if namespace is None else {"X-Understudy-Namespace": namespace}
    return [model.id for model in openai_client(base_url, **headers).models.list()]


def test_models_lists_what_the_catalog_names_and_no_globs(serve: ServerFactory) -> None:
    base_url = serve(CATALOG)
    assert model_ids(base_url) == [
        "gpt-4o-mini",
        "served-by-reply",
        "first-of-sequence",
        "understudy-mock",
    ]
    anthropic_client = anthropic.Anthropic(base_url=base_url, api_key="sk-test")
    assert [model.id for model in anthropic_client.models.list()] == model_ids(base_url)


def test_models_of_runtime_scenarios_appear_in_their_namespace(serve: ServerFactory) -> None:
    base_url = serve(CATALOG)
    for namespace, model in (("team-a", "only-in-team-a"), ("", "everywhere")):
        added = httpx.post(
            f"{base_url}/_understudy/scenarios",
            json={"name": model, "match": {"model": model}, "reply": {"content": "x"}},
            headers={"X-Understudy-Namespace": namespace},
        )
        assert added.status_code == 201, added.text
    assert model_ids(base_url, "team-a")[:2] == ["only-in-team-a", "everywhere"]
    assert "only-in-team-a" not in model_ids(base_url)
    assert "only-in-team-a" not in model_ids(base_url, "team-b")
    assert "everywhere" in model_ids(base_url, "team-b")
    assert "gpt-4o-mini" in model_ids(base_url, "team-b")


def test_journal_refuses_an_unknown_api_naming_the_known_ones(serve: ServerFactory) -> None:
    base_url = serve("name: s\ndefault: true\nreply: {content: hi}\n")
    openai_client(base_url).chat.completions.create(**CHAT)
    journal = f"{base_url}/_understudy/journal"
    for path in ("", "/stream"):
        refused = httpx.get(f"{journal}{path}", params={"api": "foo"})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == (
            "'api' must be one of chat, messages, responses, not 'foo'"
        )
    assert len(httpx.get(journal, params={"api": "chat"}).json()["entries"]) == 1
    assert httpx.get(journal, params={"api": "messages"}).json()["entries"] == []
    assert len(httpx.get(journal, params={"api": ""}).json()["entries"]) == 1
