"""Runtime scenarios through the admin API: add, list, delete, validation, admin token.

A scenario posted at run time is validated by the same loader as a scenario file, so a
bad one is refused with the same ``source:line: field: message`` problems.
"""

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

ServerFactory = Callable[..., str]

ADMIN = "/_understudy"

ECHO = """
name: echo
match:
  last_user_message: "(?i)echo"
reply:
  content: "from the file"
"""

RUNTIME_YAML = """
name: greeting
match:
  last_user_message: "(?i)hello"
reply:
  content: "Hi from a runtime scenario."
"""

BAD_YAML = """\
name: broken
match:
  last_user_message: hi
reply:
  content: hi
  tool_calls:
    - name: lookup
      arguments: 42
  colour: blue
"""


def ask(base_url: str, text: str, **headers: str) -> str:
    client = openai.OpenAI(
        base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0, default_headers=headers
    )
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )
    return completion.choices[0].message.content or ""


def listed(base_url: str, **params: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{base_url}{ADMIN}/scenarios", params=params)
    assert response.status_code == 200
    return [(s["name"], s["source"]) for s in response.json()["scenarios"]]


def test_add_yaml_list_use_and_delete(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    added = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        content=RUNTIME_YAML,
        headers={"content-type": "application/yaml"},
    )
    assert added.status_code == 201
    assert added.json() == {"namespace": "", "added": ["greeting"]}
    assert listed(base_url) == [("greeting", "runtime"), ("echo", "file")]
    assert ask(base_url, "hello there") == "Hi from a runtime scenario."
    assert ask(base_url, "echo this") == "from the file"

    deleted = httpx.delete(f"{base_url}{ADMIN}/scenarios/greeting")
    assert deleted.status_code == 200 and deleted.json()["removed"] == ["greeting"]
    assert listed(base_url) == [("echo", "file")]
    again = httpx.delete(f"{base_url}{ADMIN}/scenarios/greeting")
    assert again.status_code == 404
    assert "greeting" in again.json()["error"]["message"]


def test_without_a_default_an_unmatched_request_is_404(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        json={"name": "fallback", "default": True, "reply": {"content": "runtime default"}},
    )
    assert ask(base_url, "x") == "runtime default"


def test_add_json_list_and_delete_all(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    scenarios = [
        {"name": "one", "match": {"contains": "one"}, "reply": {"content": "1"}},
        {"name": "two", "match": {"contains": "two"}, "reply": {"content": "2"}},
    ]
    added = httpx.post(f"{base_url}{ADMIN}/scenarios", json=scenarios)
    assert added.status_code == 201 and added.json()["added"] == ["one", "two"]
    assert (ask(base_url, "one"), ask(base_url, "two")) == ("1", "2")

    cleared = httpx.delete(f"{base_url}{ADMIN}/scenarios")
    assert cleared.json() == {"namespace": "", "removed": ["one", "two"]}
    assert listed(base_url) == [("echo", "file")]


def test_json_with_tabs_is_accepted(serve: ServerFactory) -> None:
    """YAML rejects tabs between tokens; a JSON body is still read as JSON."""
    base_url = serve(ECHO)
    body = '{\n\t"name":\t"tabbed",\n\t"default": true,\n\t"reply": {"content": "tabs ok"}\n}'
    added = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert added.status_code == 201, added.text
    assert ask(base_url, "anything") == "tabs ok"


def test_bad_scenario_is_refused_with_line_and_field(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    response = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        content=BAD_YAML,
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert sorted(error["details"]) == [
        "<request>:8: reply.tool_calls[0].arguments: must be an object or a JSON string",
        "<request>:9: reply.colour: unknown field",
    ]
    assert error["message"].startswith("Invalid scenario: <request>:")
    # Nothing was added.
    assert listed(base_url) == [("echo", "file")]


def test_bad_json_scenario_names_the_field(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    response = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        json={"name": "x", "reply": {"content": "hi"}, "replies": [{"content": "a"}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        "<request>:1: scenario: give exactly one of 'reply' or 'replies'"
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("name: [unclosed\n", "<request>:2: invalid YAML"),
        ("", "holds no scenario"),
        (
            "- {name: twin, reply: {content: a}}\n- {name: twin, reply: {content: b}}\n",
            "duplicate scenario name 'twin'",
        ),
    ],
)
def test_other_refusals(serve: ServerFactory, body: str, problem: str) -> None:
    base_url = serve(ECHO)
    response = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        content=body,
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 400
    assert problem in response.json()["error"]["message"]


def test_file_scenarios_cannot_be_deleted_but_can_be_shadowed(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    refused = httpx.delete(f"{base_url}{ADMIN}/scenarios/echo")
    assert refused.status_code == 409
    assert "scenario file" in refused.json()["error"]["message"]

    httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        json={"name": "echo", "match": {"contains": "echo"}, "reply": {"content": "override"}},
    )
    assert listed(base_url) == [("echo", "runtime")]
    assert ask(base_url, "echo") == "override"
    httpx.delete(f"{base_url}{ADMIN}/scenarios/echo")
    assert ask(base_url, "echo") == "from the file"


def test_newest_runtime_scenario_wins_and_replacing_restarts_replies(
    serve: ServerFactory,
) -> None:
    base_url = serve(ECHO)

    def post(name: str, *replies: str) -> None:
        body = {
            "name": name,
            "match": {"contains": "pick"},
            "replies": [{"content": r} for r in replies],
        }
        assert httpx.post(f"{base_url}{ADMIN}/scenarios", json=body).status_code == 201

    post("older", "older")
    post("seq", "first", "second")
    assert [ask(base_url, "pick"), ask(base_url, "pick")] == ["first", "second"]
    post("seq", "again", "later")
    assert ask(base_url, "pick") == "again"


def test_reset_forgets_everything(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        json={"name": "hi", "default": True, "reply": {"content": "x"}},
        headers={"X-Understudy-Namespace": "ns1"},
    )
    ask(base_url, "hello", **{"X-Understudy-Namespace": "ns1"})
    answer = httpx.post(f"{base_url}{ADMIN}/reset").json()
    assert answer == {"namespace": None, "removed_scenarios": 1, "removed_entries": 1}
    assert listed(base_url, namespace="ns1") == [("echo", "file")]


def test_admin_token_guards_admin_routes_only(serve: ServerFactory) -> None:
    base_url = serve(ECHO, admin_token="s3cret")
    for method, path in [
        ("GET", "/journal"),
        ("DELETE", "/journal"),
        ("GET", "/scenarios"),
        ("POST", "/scenarios"),
        ("DELETE", "/scenarios"),
        ("POST", "/reset"),
        ("GET", "/openapi.json"),
    ]:
        for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}]:
            response = httpx.request(method, f"{base_url}{ADMIN}{path}", headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "admin token" in response.json()["error"]["message"]
    good = {"Authorization": "Bearer s3cret"}
    assert httpx.get(f"{base_url}{ADMIN}/journal", headers=good).status_code == 200
    # Model endpoints do not need the admin token.
    assert ask(base_url, "echo") == "from the file"


def test_openapi_document_describes_the_admin_routes(serve: ServerFactory) -> None:
    base_url = serve(ECHO)
    document = httpx.get(f"{base_url}{ADMIN}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        f"{ADMIN}/journal",
        f"{ADMIN}/journal/stream",
        f"{ADMIN}/journal/{{id}}",
        f"{ADMIN}/scenarios",
        f"{ADMIN}/scenarios/{{name}}",
        f"{ADMIN}/reset",
        f"{ADMIN}/openapi.json",
    }
    schemas = document["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [ref for value in node.values() for ref in refs(value)]
        if isinstance(node, list):
            return [ref for item in node for ref in refs(item)]
        return []

    all_refs = refs(document)
    assert "#/components/schemas/Scenario" in all_refs
    for ref in all_refs:
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref
    assert "replies" in schemas["Scenario"]["properties"]
