"""Scenario patterns cannot freeze the server: RE2, capped texts, a catalog that never backtracks.

Each attack is sent to a real server while ``/health`` is polled: it used to block the
event loop (and with it every stream) for seconds.
"""

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import BUNDLED
from tests.responsive import HealthProbe
from understudy.scenarios import ScenarioError, load_paths, load_text

FALLBACK = "name: fallback\ndefault: true\nreply: {content: fallback}\n"
EVIL = "^(a+)+$"
"""Nested quantifiers: a backtracking engine tries 2^n ways to fail on n a's and a '!'."""
ATTACK = "a" * 29 + "!"
"""About ten seconds of Python's ``re`` for the pattern above; each more 'a' doubles it."""
QUICK = 1.0
"""Seconds within which an attacking request must be answered (it used to take 7-10 s)."""

TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "get_time")
]


def chat(
    base_url: str,
    text: str,
    *,
    system: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: object,
) -> httpx.Response:
    messages = [{"role": "user", "content": text}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    body = {"model": "m", "messages": messages, **fields}
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def add_scenario(base_url: str, scenario: dict, namespace: str = "") -> httpx.Response:
    return httpx.post(
        f"{base_url}/_understudy/scenarios",
        json=scenario,
        headers={"x-understudy-namespace": namespace},
    )


def content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def timed_while_probed(base_url: str, send: Callable[[], httpx.Response], times: int = 5) -> list:
    """Send the attack ``times`` times while ``/health`` is polled; return the responses."""
    responses = []
    with HealthProbe(base_url) as probe:
        for _ in range(times):
            started = time.perf_counter()
            responses.append(send())
            elapsed = time.perf_counter() - started
            assert elapsed < QUICK, f"the attacking request took {elapsed:.2f} s"
    probe.assert_responsive()
    return responses


def test_a_long_prompt_against_the_bundled_catalog_is_answered_at_once(base_url: str) -> None:
    prompt = "weather " * 10_000  # 80 KB: 7 s on the old "weather.*time|time.*weather"
    responses = timed_while_probed(base_url, lambda: chat(base_url, prompt, tools=TOOLS))
    for response in responses:
        assert response.status_code == 200
        calls = response.json()["choices"][0]["message"]["tool_calls"]
        assert [call["function"]["name"] for call in calls] == ["get_weather"]


def test_the_bundled_weather_and_time_scenario_still_answers_both(base_url: str) -> None:
    response = chat(base_url, "What's the weather and the time in Paris?", tools=TOOLS)
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    assert [call["function"]["name"] for call in calls] == ["get_weather", "get_time"]


ATTACKS = {
    "last_user_message": ({"last_user_message": EVIL}, {}),
    "system": ({"system": EVIL}, {"system": ATTACK}),
    "headers": ({"headers": {"x-evil": EVIL}}, {"headers": {"x-evil": ATTACK}}),
}


@pytest.mark.parametrize("where", list(ATTACKS))
def test_a_runtime_scenario_with_nested_quantifiers_cannot_block_the_loop(
    serve: Callable[..., str], where: str
) -> None:
    base_url = serve(FALLBACK)
    match, request = ATTACKS[where]
    added = add_scenario(base_url, {"name": "evil", "match": match, "reply": {"content": "evil"}})
    assert added.status_code == 201, added.text

    def attack() -> httpx.Response:
        return chat(base_url, ATTACK, **request)

    for response in timed_while_probed(base_url, attack):
        assert content(response) == "fallback"

    # The pattern does run: a text it matches gets the scenario.
    matching = {key: "a" * 29 for key in ("system",) if key in request}
    if "headers" in request:
        matching["headers"] = {"x-evil": "a" * 29}
    assert content(chat(base_url, "a" * 29, **matching)) == "evil"  # type: ignore[arg-type]


def test_a_huge_attack_text_costs_no_more_than_the_text_limit(serve: Callable[..., str]) -> None:
    base_url = serve(FALLBACK)
    added = add_scenario(
        base_url, {"name": "evil", "match": {"last_user_message": EVIL}, "reply": {"content": "x"}}
    )
    assert added.status_code == 201
    huge = "a" * 2_000_000 + "!"
    responses = timed_while_probed(base_url, lambda: chat(base_url, huge), times=2)
    assert [content(response) for response in responses] == ["fallback", "fallback"]


@pytest.mark.parametrize(
    ("match", "field", "reason"),
    [
        (
            {"last_user_message": r"(a)\1"},
            "match.last_user_message",
            r"invalid escape sequence: \1",
        ),
        ({"system": "(?=a)a"}, "match.system", "invalid perl operator: (?="),
        ({"headers": {"x-team": "a*+"}}, "match.headers.x-team", "bad repetition operator: *+"),
        (
            {"last_user_message": "(?<!a)b"},
            "match.last_user_message",
            "invalid perl operator: (?<!",
        ),
        ({"last_user_message": "x{5000}"}, "match.last_user_message", "invalid repetition size"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_at_load(
    serve: Callable[..., str], match: dict, field: str, reason: str
) -> None:
    base_url = serve(FALLBACK)
    response = add_scenario(base_url, {"name": "bad", "match": match, "reply": {"content": "x"}})
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert len(details) == 1
    assert details[0].startswith(f"<request>:1: {field}: not a valid RE2 regular expression: ")
    assert reason in details[0]


def test_a_refused_pattern_in_a_file_names_file_line_and_the_deepest_field() -> None:
    text = """name: t
match:
  headers:
    x-ok: "^fine$"
    X-Team: "^(qa)\\\\1$"
  system: "(?<=a)b"
reply: {content: hi}
"""
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "teams.yaml")
    assert [problem.split(" (RE2 has")[0] for problem in caught.value.problems] == [
        "teams.yaml:6: match.system: not a valid RE2 regular expression: "
        "invalid perl operator: (?<=",
        "teams.yaml:5: match.headers.X-Team: not a valid RE2 regular expression: "
        "invalid escape sequence: \\1",
    ]
    assert "write \\z for \\Z" in caught.value.problems[0]


def test_patterns_keep_search_inline_flags_and_unicode(serve: Callable[..., str]) -> None:
    base_url = serve(FALLBACK)
    scenarios = [
        {"name": "dessert", "match": {"last_user_message": "(?i)crème brûlée"}},
        {"name": "greek", "match": {"last_user_message": r"^\p{Greek}+$"}},
        {"name": "multiline", "match": {"system": "(?m)^rule: pirate$"}},
    ]
    for scenario in scenarios:
        scenario["reply"] = {"content": scenario["name"]}
        assert add_scenario(base_url, scenario).status_code == 201
    assert content(chat(base_url, "Two CRÈME BRÛLÉE, please")) == "dessert"
    assert content(chat(base_url, "καλημέρα")) == "greek"
    assert content(chat(base_url, "hi", system="You help.\nrule: pirate\nBe brief.")) == "multiline"
    assert content(chat(base_url, "creme brulee")) == "fallback"


NEEDLE = """
name: ends
match: {last_user_message: "ends$"}
reply: {content: ends}
---
name: needle
match: {last_user_message: needle}
reply: {content: found}
"""


def test_a_pattern_sees_only_the_first_characters_of_its_text(serve: Callable[..., str]) -> None:
    base_url = serve(NEEDLE)
    capped = serve(NEEDLE, match_text_limit=100)
    early, late = "x" * 50 + " needle", "x" * 150 + " needle"
    assert content(chat(capped, early)) == "found"
    assert content(chat(base_url, late)) == "found"
    response = chat(capped, late)
    assert response.status_code == 404
    assert (
        "last_user_message: no match for 'needle' (in its first 100 characters)"
        in response.json()["error"]["message"]
    )
    # The cut is not the end of the text: "$" does not match there.
    assert content(chat(capped, "x" * 96 + "ends")) == "ends"
    assert chat(capped, "x" * 96 + "ends and more").status_code == 404


def bundled_patterns() -> list[tuple[str, str]]:
    found = []
    for scenario in load_paths([BUNDLED]):
        match = scenario.match
        given = [match.last_user_message, match.system, *(match.headers or {}).values()]
        found += [(scenario.name, pattern) for pattern in given if pattern is not None]
    return found


def hostile_texts(pattern: str, size: int) -> list[str]:
    """Texts that make a backtracking engine work hard on ``pattern``: each word the
    pattern names, repeated, alone and interleaved, and runs that almost match."""
    words = re.findall(r"[a-z_]{2,}", re.sub(r"\\.", " ", pattern.lower()))
    texts = [(word + " ") * (size // (len(word) + 1)) for word in words]
    if words:
        texts.append((" ".join(words) + " ") * (size // (len(" ".join(words)) + 1)))
    texts += ["a" * size + "!", " " * size, "x" * size]
    return texts


def backtracks(pattern: str, size: int, bound: float) -> bool:
    """Does Python's ``re`` take longer than ``bound`` on any hostile text of ``size``?"""
    search = re.compile(pattern).search
    for text in hostile_texts(pattern, size):
        started = time.perf_counter()
        search(text)
        if time.perf_counter() - started > bound:
            return True
    return False


def test_the_backtracking_check_catches_the_old_bundled_pattern() -> None:
    assert backtracks("(?i)weather.*time|time.*weather", 20_000, 0.05)


@pytest.mark.parametrize(("name", "pattern"), bundled_patterns())
def test_no_bundled_pattern_backtracks_even_on_pythons_re(name: str, pattern: str) -> None:
    assert not backtracks(pattern, 80_000, 0.05), f"{name}: {pattern}"


def test_the_documented_examples_do_not_backtrack_either() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r'(?:last_user_message|system): "([^"]+)"', readme)
    examples += re.findall(r'headers: \{[\w-]+: "([^"]+)"\}', readme)
    assert len(examples) >= 3
    for pattern in examples:
        assert not backtracks(pattern, 80_000, 0.05), pattern


@pytest.mark.parametrize(
    "pattern", ["weather", "^qa$", "^qa", "qa$", "a b", "café", "^$", "x.y", "(?i)qa", "^", "$"]
)
def test_plain_text_patterns_answer_exactly_as_re2_does(pattern: str) -> None:
    """Plain-text patterns (optionally ``^…$``) skip RE2; they must agree with it on
    every text, cut at the limit included."""
    import re2

    from understudy.scenarios.patterns import _OPTIONS, compile_search

    texts = ["", "qa", "qa\n", "QA", "the weather", "weather!", "a b", "café au lait"]
    texts += ["x" * 9 + "qa", "weather" + "z" * 10, "qa" * 3, "x-y", "x.y", "cafe"]
    limit = 10
    regex = re2.compile(pattern, _OPTIONS)
    found = compile_search(pattern, limit)
    for text in texts:
        if len(text) <= limit:
            expected = regex.search(text) is not None
        else:
            head = text[:limit]
            expected = regex.search(head + text[limit], 0, len(head)) is not None
        assert found(text) is expected, (pattern, text)
