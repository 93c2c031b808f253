"""The pytest plugin, used the way a project's own tests would use it.

The ``understudy`` fixture comes from ``understudy.pytest_plugin`` (the package's pytest11
entry point, or ``tests/conftest.py`` in a source checkout); nothing here starts a server.
"""

from importlib.metadata import entry_points

import anthropic
import openai
import pytest

from understudy.pytest_plugin import Understudy, UnderstudyError, UnderstudyServer

pytest_plugins = ["pytester"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}

_seen_namespaces: list[str] = []


@pytest.fixture
def client(understudy: Understudy) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=understudy.openai_base_url,
        api_key="sk-test",
        default_headers=understudy.headers,
        max_retries=0,
    )


def test_scenario_from_a_dict_answers_and_is_journaled(
    understudy: Understudy, client: openai.OpenAI
) -> None:
    understudy.add_scenario(
        {
            "name": "forecast",
            "match": {"tools": "get_weather"},
            "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        }
    )
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER_TOOL],
    )
    call = completion.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Oslo"}')

    [entry] = understudy.journal()
    assert entry["scenario"] == "forecast"
    assert entry["namespace"] == understudy.namespace
    assert entry["body"]["tools"] == [WEATHER_TOOL]
    _seen_namespaces.append(understudy.namespace)


def test_yaml_sequence_streams_and_counts_per_test(
    understudy: Understudy, client: openai.OpenAI
) -> None:
    understudy.add_scenario(
        """
        name: steps
        default: true
        replies:
          - content: "step one"
          - content: "step two"
        """
    )
    texts = []
    for _ in range(2):
        with client.chat.completions.stream(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "next"}]
        ) as stream:
            texts.append(stream.get_final_completion().choices[0].message.content)
    assert texts == ["step one", "step two"]
    entries = understudy.wait_for_journal(2)
    assert [(e["reply_index"], e["stream"], e["completed"]) for e in entries] == [
        (0, True, True),
        (1, True, True),
    ]
    # This test sees only its own scenario on top of the server's files.
    runtime = [s["name"] for s in understudy.scenarios() if s["source"] == "runtime"]
    assert runtime == ["steps"]


def test_each_test_has_a_fresh_namespace(understudy: Understudy) -> None:
    assert understudy.namespace not in _seen_namespaces
    assert understudy.journal() == []
    if _seen_namespaces:
        # The earlier test's namespace was reset when it ended.
        leftover = understudy.server.admin("GET", "journal", namespace=_seen_namespaces[0])
        assert leftover["entries"] == []


def test_anthropic_client_through_the_plugin(understudy: Understudy) -> None:
    understudy.add_scenario({"name": "claude", "default": True, "reply": {"content": "Bonjour"}})
    client = anthropic.Anthropic(
        base_url=understudy.anthropic_base_url,
        api_key="sk-ant-test",
        default_headers=understudy.headers,
        max_retries=0,
    )
    message = client.messages.create(
        model="claude-opus-4-7", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.content[0].text == "Bonjour"
    assert [e["api"] for e in understudy.journal(api="messages")] == ["messages"]


def test_invalid_scenario_raises_with_details(understudy: Understudy) -> None:
    with pytest.raises(UnderstudyError) as caught:
        understudy.add_scenario({"name": "bad", "reply": {"content": 5}})
    assert caught.value.status == 400
    assert caught.value.details == [
        "<request>:1: reply.content: must be a string, a list of strings or {json: auto}"
    ]


def test_remove_and_reset(understudy: Understudy, client: openai.OpenAI) -> None:
    understudy.add_scenario({"name": "temp", "default": True, "reply": {"content": "temp"}})

    def ask() -> str | None:
        completion = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        return completion.choices[0].message.content

    assert ask() == "temp"
    understudy.remove_scenario("temp")
    assert ask() != "temp"
    understudy.reset()
    assert understudy.journal() == []


INNER_TEST = """
import httpx

def test_uses_the_given_server(understudy):
    assert understudy.base_url == "{url}"
    understudy.add_scenario({{"name": "inner", "default": True, "reply": {{"content": "inner"}}}})
    response = httpx.post(
        understudy.openai_base_url + "/chat/completions",
        headers=understudy.headers,
        json={{"model": "m", "messages": [{{"role": "user", "content": "x"}}]}},
    )
    assert response.json()["choices"][0]["message"]["content"] == "inner"
    assert len(understudy.journal()) == 1
"""


def test_plugin_connects_to_a_running_server(pytester: pytest.Pytester, base_url: str) -> None:
    """``--understudy-url`` (or ``UNDERSTUDY_URL``): use a server that is already up,
    as a CI job does with the container; here the session server of this test run."""
    pytester.makepyfile(test_inner=INNER_TEST.format(url=base_url))
    registered = entry_points(group="pytest11", name="understudy")
    plugin = [] if registered else ["-p", "understudy.pytest_plugin"]
    result = pytester.runpytest_inprocess(*plugin, f"--understudy-url={base_url}")
    result.assert_outcomes(passed=1)
    # The inner test's namespace was reset at its end, so nothing of it is left.
    entries = UnderstudyServer(base_url).admin("GET", "journal", query={"scenario": "inner"})
    assert entries == {"entries": []}
