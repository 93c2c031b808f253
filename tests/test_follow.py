"""Replies that follow the request, through the official SDKs and raw HTTP.

The SDK tests run against the bundled catalog only (the ``base_url`` fixture): no
scenario here names a tool or a schema, yet tool arguments and structured output come
back valid for what each request sent.
"""

import json
from typing import Literal

import anthropic
import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from understudy.scenarios import ScenarioError, load_text
from understudy.scenarios.schema import file_schema

MODEL = "gpt-4.1-mini"
CLAUDE = "claude-sonnet-4-5"


class Address(BaseModel):
    street: str
    city: str
    postcode: str


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    email: str
    role: Literal["admin", "user", "guest"]
    addresses: list[Address]
    nickname: str | None


LOOKUP = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]{6}$"},
        "include": {"type": "array", "items": {"enum": ["items", "payments"]}, "minItems": 1},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
    },
    "required": ["order_id", "include", "limit"],
    "additionalProperties": False,
}
SEARCH = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "date": {"type": "string", "format": "date"}},
    "required": ["query", "date"],
    "additionalProperties": False,
}


def chat_tools() -> list[dict]:
    return [
        {"type": "function", "function": {"name": "search", "parameters": SEARCH}},
        {"type": "function", "function": {"name": "lookup_order", "parameters": LOOKUP}},
    ]


@pytest.fixture
def oai(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def valid(value: object, schema: dict) -> None:
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


# -- structured output through the SDKs' parse helpers ---------------------------------


def test_chat_parse_returns_a_valid_pydantic_object(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.parse(
        model=MODEL, messages=user("Tell me a story about why people think"), response_format=Person
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person) and person.addresses
    assert completion.choices[0].finish_reason == "stop"


def test_chat_parse_stream_builds_the_object_from_partial_json(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(
        model=MODEL, messages=user("Who is it?"), response_format=Person
    ) as stream:
        partials = [e.parsed for e in stream if e.type == "content.delta" and e.parsed]
        final = stream.get_final_completion()
    assert len(partials) > 3  # the JSON arrived in many pieces, each parsed as it grew
    assert isinstance(final.choices[0].message.parsed, Person)


def test_chat_json_object_mode_answers_a_json_object(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=MODEL, messages=user("JSON please"), response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_responses_parse_returns_a_valid_pydantic_object(oai: openai.OpenAI) -> None:
    response = oai.responses.parse(model=MODEL, input="Who is it?", text_format=Person)
    assert isinstance(response.output_parsed, Person)


def test_responses_parse_stream(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model=MODEL, input="Who is it?", text_format=Person) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Person)


def test_anthropic_parse_returns_a_valid_pydantic_object(claude: anthropic.Anthropic) -> None:
    if not hasattr(claude.messages, "parse"):
        pytest.skip("this anthropic SDK has no messages.parse")
    message = claude.messages.parse(
        model=CLAUDE, max_tokens=1024, messages=user("Who is it?"), output_format=Person
    )
    assert isinstance(message.parsed_output, Person)


def test_anthropic_output_config_stream_is_valid_json(claude: anthropic.Anthropic) -> None:
    schema = Person.model_json_schema()
    with claude.messages.stream(
        model=CLAUDE,
        max_tokens=1024,
        messages=user("Who is it?"),
        output_config={"format": {"type": "json_schema", "schema": schema}},
    ) as stream:
        text = stream.get_final_text()
    Person.model_validate_json(text)


# -- tool calls ------------------------------------------------------------------------


def test_chat_forced_tool_choice_gets_that_tool_with_valid_arguments(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=MODEL,
        messages=user("Tell me a story"),  # long-story leaves forced tools to the agent rules
        tools=chat_tools(),
        tool_choice={"type": "function", "function": {"name": "lookup_order"}},
    )
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "lookup_order"
    valid(json.loads(call.function.arguments), LOOKUP)
    assert completion.choices[0].finish_reason == "tool_calls"


def test_chat_stream_helper_gets_valid_arguments_in_fragments(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(
        model=MODEL, messages=user("find it"), tools=chat_tools(), tool_choice="required"
    ) as stream:
        fragments = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    assert len(fragments) > 3
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "search"
    valid(json.loads(call.function.arguments), SEARCH)


def test_chat_agent_loop_calls_then_answers_with_the_tool_result(oai: openai.OpenAI) -> None:
    messages = user("What happened to my order?")
    first = oai.chat.completions.create(model=MODEL, messages=messages, tools=chat_tools())
    (call,) = first.choices[0].message.tool_calls
    assert call.function.name == "search"
    valid(json.loads(call.function.arguments), SEARCH)
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "shipped on Monday"},
    ]
    second = oai.chat.completions.create(model=MODEL, messages=messages, tools=chat_tools())
    assert second.choices[0].message.content == "Done. The tool returned: shipped on Monday"
    assert second.choices[0].finish_reason == "stop"


def test_required_tool_choice_moves_on_to_a_tool_not_yet_called(oai: openai.OpenAI) -> None:
    """A required tool_choice loop (pydantic-ai's output tool) reaches its last tool."""
    messages = user("look it up")
    names = []
    for _ in range(2):
        reply = oai.chat.completions.create(
            model=MODEL, messages=messages, tools=chat_tools(), tool_choice="required"
        ).choices[0]
        call = reply.message.tool_calls[0]
        names.append(call.function.name)
        messages += [
            reply.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "ok"},
        ]
    assert names == ["search", "lookup_order"]


def test_the_same_conversation_gets_the_same_arguments_in_every_api(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    chat = oai.chat.completions.create(
        model=MODEL, messages=user("find"), tools=chat_tools(), tool_choice="required"
    )
    again = oai.chat.completions.create(
        model=MODEL, messages=user("find"), tools=chat_tools(), tool_choice="required"
    )
    messages = claude.messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=user("find"),
        tools=[
            {"name": "search", "input_schema": SEARCH},
            {"name": "lookup_order", "input_schema": LOOKUP},
        ],
        tool_choice={"type": "any"},
    )
    arguments = json.loads(chat.choices[0].message.tool_calls[0].function.arguments)
    assert json.loads(again.choices[0].message.tool_calls[0].function.arguments) == arguments
    assert messages.content[0].input == arguments


def test_anthropic_forced_tool_gets_valid_input(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=CLAUDE,
        max_tokens=1024,
        messages=user("why? think about it"),  # reasoning leaves forced tools alone too
        tools=[
            {"name": "search", "input_schema": SEARCH},
            {"name": "lookup_order", "input_schema": LOOKUP},
        ],
        tool_choice={"type": "tool", "name": "lookup_order"},
    )
    (block,) = message.content
    assert block.type == "tool_use" and block.name == "lookup_order"
    valid(block.input, LOOKUP)
    assert message.stop_reason == "tool_use"


def test_responses_forced_tool_gets_valid_arguments(oai: openai.OpenAI) -> None:
    response = oai.responses.create(
        model=MODEL,
        input="order?",
        tools=[
            {"type": "function", "name": "search", "parameters": SEARCH, "strict": True},
            {"type": "function", "name": "lookup_order", "parameters": LOOKUP, "strict": True},
        ],
        tool_choice={"type": "function", "name": "lookup_order"},
    )
    (call,) = response.output
    assert call.type == "function_call" and call.name == "lookup_order"
    valid(json.loads(call.arguments), LOOKUP)


def test_server_tools_alone_are_not_called(base_url: str) -> None:
    """A built-in tool (web search) is the provider's to run; the default answers."""
    body = {
        "model": CLAUDE,
        "max_tokens": 100,
        "messages": user("hi"),
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
    }
    reply = httpx.post(f"{base_url}/v1/messages", json=body).json()
    assert reply["content"][0]["type"] == "text"


# -- scenario-level forms --------------------------------------------------------------


def test_name_auto_without_tools_is_a_provider_shaped_400(serve) -> None:
    url = serve("name: s\nreply:\n  tool_calls: [{name: auto, arguments: auto}]\n")
    chat = httpx.post(f"{url}/v1/chat/completions", json={"model": MODEL, "messages": user("x")})
    assert chat.status_code == 400
    assert chat.json()["error"]["code"] == "understudy_no_tools"
    msgs = httpx.post(
        f"{url}/v1/messages", json={"model": CLAUDE, "max_tokens": 9, "messages": user("x")}
    )
    assert msgs.status_code == 400 and msgs.json()["type"] == "error"
    assert "offers no function tools" in msgs.json()["error"]["message"]


def test_a_schema_asking_for_a_huge_value_is_refused_quickly(serve) -> None:
    url = serve("name: s\nreply:\n  content: {json: auto}\n", auto_max_size=1000)
    schema = {"type": "object", "properties": {"x": {"type": "string", "minLength": 10**12}}}
    body = {
        "model": MODEL,
        "messages": user("x"),
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "big", "schema": {**schema, "required": ["x"]}},
        },
    }
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "understudy_schema_too_large"


def test_a_fixed_delivery_seed_fixes_the_generated_value(serve) -> None:
    text = "name: s\nreply:\n  content: {json: auto}\n  delivery: {seed: 7}\n"
    url = serve(text)
    schema = Person.model_json_schema()
    answers = set()
    for question in ("one", "two"):
        body = {
            "model": MODEL,
            "messages": user(question),
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "p", "schema": schema},
            },
        }
        reply = httpx.post(f"{url}/v1/chat/completions", json=body).json()
        answers.add(reply["choices"][0]["message"]["content"])
    assert len(answers) == 1


TEMPLATE = (
    "name: s\nreply:\n  content: 'api={{ api }} model={{model}} ns={{ namespace }} "
    "turn={{ turn }} t={{ request.temperature }} meta={{ request.metadata.run }} "
    "missing=[{{ request.nope }}] said={{ last_user_message }}'\n"
)


def test_templates_render_in_all_three_apis(serve) -> None:
    url = serve(TEMPLATE)
    headers = {"X-Understudy-Namespace": "ns-1"}
    said = "hello {{ model }}"  # a value holding a template is not rendered again
    chat = httpx.post(
        f"{url}/v1/chat/completions",
        headers=headers,
        json={
            "model": MODEL,
            "messages": user(said),
            "temperature": 0.5,
            "metadata": {"run": "r1"},
            "stream": True,
        },
    )
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in chat.text.splitlines()
        if line.startswith("data: {") and json.loads(line[6:])["choices"]
    )
    assert text == (f"api=chat model={MODEL} ns=ns-1 turn=0 t=0.5 meta=r1 missing=[] said={said}")
    msgs = httpx.post(
        f"{url}/v1/messages",
        headers=headers,
        json={"model": CLAUDE, "max_tokens": 99, "messages": user("hi"), "temperature": 1},
    ).json()
    assert msgs["content"][0]["text"] == (
        f"api=messages model={CLAUDE} ns=ns-1 turn=0 t=1 meta= missing=[] said=hi"
    )
    responses = httpx.post(
        f"{url}/v1/responses",
        headers=headers,
        json={"model": MODEL, "input": "yo", "metadata": {"run": "r2"}},
    ).json()
    assert responses["output"][0]["content"][0]["text"] == (
        f"api=responses model={MODEL} ns=ns-1 turn=0 t= meta=r2 missing=[] said=yo"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "name: s\nreply:\n  content: 'hi {{ secret }}'\n",
            "t.yaml:3: reply.content: template '{{ secret }}': unknown variable 'secret'",
        ),
        (
            "name: s\nreplies:\n  - content: ok\n  - reasoning: ['a', '{{ __import__ }}']\n",
            "t.yaml:4: replies[1].reasoning: template '{{ __import__ }}': unknown variable",
        ),
        (
            "name: s\nreply:\n  refusal: '{{ 1 + 2 }}'\n",
            "t.yaml:3: reply.refusal: template '{{ 1 + 2 }}': only {{ variable }} is allowed",
        ),
        (
            "name: s\nreply:\n  content: {json: yes}\n",
            "t.yaml:3: reply.content: the JSON form is {json: auto}",
        ),
        (
            "name: s\nreply:\n  tool_calls:\n    - name: auto\n      arguments: auto\n"
            "      fragments: ['{}']\n",
            "t.yaml:4: reply.tool_calls[0]: fragments cannot be given with 'arguments: auto'",
        ),
        (
            "name: s\nreply:\n  content: {json: auto}\n  delivery: {chunking: ['{}']}\n",
            "t.yaml:1: scenario: reply: a chunking list cannot split content {json: auto}",
        ),
    ],
)
def test_validate_reports_template_and_auto_errors_at_file_line_field(text, problem) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "t.yaml")
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_the_scenario_json_schema_covers_the_new_forms() -> None:
    schema = file_schema()
    for scenario in (
        {"name": "a", "reply": {"content": {"json": "auto"}}},
        {"name": "b", "reply": {"tool_calls": [{"name": "auto", "arguments": "auto"}]}},
        {"name": "c", "match": {"tools_offered": True, "tool_forced": False}, "reply": {}},
        {"name": "d", "match": {"structured_output": True}, "reply": {"content": "{{ model }}"}},
    ):
        jsonschema.validate(scenario, schema)
        load_text(json.dumps(scenario))
