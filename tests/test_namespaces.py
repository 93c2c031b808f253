"""Namespaces: the ``X-Understudy-Namespace`` header scopes runtime scenarios, the
``replies:`` counters and the journal, so parallel tests can share one server."""

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import openai

ServerFactory = Callable[..., str]
ADMIN = "/_understudy"
HEADER = "X-Understudy-Namespace"

SEQUENCE_FILE = """
name: counting
match:
  last_user_message: "(?i)count"
replies:
  - content: "first"
  - content: "second"
  - content: "third"
"""

FALLBACK = """
name: fallback
default: true
reply:
  content: "file default"
"""


def sequence(label: str) -> dict[str, Any]:
    """A runtime scenario with the same name and match in every namespace, but
    replies that say which namespace they belong to; slow enough to overlap."""
    return {
        "name": "conflict",
        "match": {"last_user_message": "(?i)which"},
        "delivery": {"itl_ms": 15},
        "replies": [{"content": f"{label} reply {n} of three"} for n in (1, 2, 3)],
    }


def add(base_url: str, namespace: str, scenario: dict[str, Any]) -> None:
    response = httpx.post(
        f"{base_url}{ADMIN}/scenarios", json=scenario, headers={HEADER: namespace}
    )
    assert response.status_code == 201, response.text


def journal(base_url: str, namespace: str | None = None) -> list[dict[str, Any]]:
    params = {} if namespace is None else {"namespace": namespace}
    return httpx.get(f"{base_url}{ADMIN}/journal", params=params).json()["entries"]


def ask(base_url: str, text: str, namespace: str | None = None) -> str:
    headers = {} if namespace is None else {HEADER: namespace}
    client = openai.OpenAI(
        base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0, default_headers=headers
    )
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )
    return completion.choices[0].message.content or ""


def test_conflicting_scenarios_used_concurrently(serve: ServerFactory) -> None:
    base_url = serve(FALLBACK)
    add(base_url, "alpha", sequence("alpha"))
    add(base_url, "beta", sequence("beta"))
    replies: dict[str, list[str]] = {"alpha": [], "beta": []}

    async def converse(namespace: str, turns: int) -> None:
        client = openai.AsyncOpenAI(
            base_url=f"{base_url}/v1",
            api_key="sk-test",
            max_retries=0,
            default_headers={HEADER: namespace},
        )
        async with client:
            for _ in range(turns):
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "which one?"}],
                    stream=True,
                )
                text = "".join([c.choices[0].delta.content or "" async for c in stream])
                replies[namespace].append(text)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(converse, "alpha", 4)
            group.start_soon(converse, "beta", 2)

    anyio.run(main)
    assert replies["alpha"] == [
        "alpha reply 1 of three",
        "alpha reply 2 of three",
        "alpha reply 3 of three",
        "alpha reply 3 of three",  # then: repeat_last
    ]
    assert replies["beta"] == ["beta reply 1 of three", "beta reply 2 of three"]

    # The streams really overlapped: beta's first stream started before alpha's first ended.
    alpha, beta = journal(base_url, "alpha"), journal(base_url, "beta")
    assert [e["reply_index"] for e in alpha] == [0, 1, 2, 2]
    assert [e["reply_index"] for e in beta] == [0, 1]
    first_alpha_end = alpha[0]["timestamp"] + alpha[0]["duration_ms"] / 1000
    assert beta[0]["timestamp"] < first_alpha_end
    # A request without the header sees neither namespace's scenario.
    assert ask(base_url, "which one?") == "file default"


def test_file_scenario_counters_are_per_namespace(serve: ServerFactory) -> None:
    base_url = serve(SEQUENCE_FILE, FALLBACK)
    assert [ask(base_url, "count", "red") for _ in range(2)] == ["first", "second"]
    assert ask(base_url, "count", "blue") == "first"
    assert ask(base_url, "count") == "first"
    assert ask(base_url, "count", "red") == "third"
    assert ask(base_url, "count", "blue") == "second"


def test_reset_of_one_namespace_leaves_the_others(serve: ServerFactory) -> None:
    base_url = serve(SEQUENCE_FILE, FALLBACK)
    for namespace in ("red", "blue"):
        add(
            base_url,
            namespace,
            {"name": "mine", "match": {"contains": "mine"}, "reply": {"content": f"{namespace}'s"}},
        )
        assert ask(base_url, "count", namespace) == "first"
        assert ask(base_url, "mine", namespace) == f"{namespace}'s"

    reset = httpx.post(f"{base_url}{ADMIN}/reset", headers={HEADER: "red"})
    assert reset.json() == {"namespace": "red", "removed_scenarios": 1, "removed_entries": 2}
    assert journal(base_url, "red") == []
    assert len(journal(base_url, "blue")) == 2
    # red starts over; blue carries on.
    assert ask(base_url, "count", "red") == "first"
    assert ask(base_url, "mine", "red") == "file default"
    assert ask(base_url, "count", "blue") == "second"
    assert ask(base_url, "mine", "blue") == "blue's"

    # The query parameter names a namespace too.
    httpx.post(f"{base_url}{ADMIN}/reset", params={"namespace": "blue"})
    assert ask(base_url, "mine", "blue") == "file default"


def test_global_runtime_scenarios_apply_under_namespaced_ones(serve: ServerFactory) -> None:
    base_url = serve(FALLBACK)
    add(
        base_url,
        "",
        {"name": "shared", "match": {"contains": "topic"}, "reply": {"content": "global"}},
    )
    add(
        base_url,
        "own",
        {"name": "shared", "match": {"contains": "topic"}, "reply": {"content": "namespaced"}},
    )
    assert ask(base_url, "topic") == "global"
    assert ask(base_url, "topic", "other") == "global"
    assert ask(base_url, "topic", "own") == "namespaced"
    listing = httpx.get(f"{base_url}{ADMIN}/scenarios", params={"namespace": "own"}).json()
    assert [(s["name"], s["source"], s["namespace"]) for s in listing["scenarios"]] == [
        ("shared", "runtime", "own"),
        ("fallback", "file", None),
    ]
