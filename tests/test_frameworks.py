"""Agent frameworks end their loops against the bundled catalog alone.

Each test points a real framework at the shared server (``base_url``: the bundled
scenarios, nothing written for the test) and asserts its tool got valid arguments and
its output type came back valid. A framework that is not installed is skipped; CI
installs them with the ``frameworks`` extra.
"""

import json
from typing import Literal

import pytest
from pydantic import BaseModel, Field

MODEL = "gpt-4.1-mini"


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    city: str
    role: Literal["admin", "user", "guest"]


class Weather(BaseModel):
    city: str
    celsius: float
    summary: str


def test_langchain_with_structured_output_json_schema(base_url: str) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        model=MODEL, base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0
    )
    person = llm.with_structured_output(Person, method="json_schema").invoke("Who is she?")
    assert isinstance(person, Person)


def test_langchain_with_structured_output_function_calling(base_url: str) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(
        model=MODEL, base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0
    )
    structured = llm.with_structured_output(Person, method="function_calling")
    assert isinstance(structured.invoke("Who is she? Tell me a story."), Person)


def test_langchain_tool_loop_ends(base_url: str) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    messages = pytest.importorskip("langchain_core.messages")
    tools = pytest.importorskip("langchain_core.tools")

    @tools.tool
    def population(city: str) -> int:
        """How many people live in a city."""
        return 2_100_000

    llm = langchain_openai.ChatOpenAI(
        model=MODEL, base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0
    ).bind_tools([population])
    history = [messages.HumanMessage("How many people live in Paris?")]
    for _ in range(4):
        reply = llm.invoke(history)
        history.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            history.append(population.invoke(call))
    assert not history[-1].tool_calls and "2100000" in history[-1].content


def test_pydantic_ai_output_type_and_one_tool(base_url: str) -> None:
    pydantic_ai = pytest.importorskip("pydantic_ai")
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel(
        MODEL, provider=OpenAIProvider(base_url=f"{base_url}/v1", api_key="sk-test")
    )
    agent = pydantic_ai.Agent(model, output_type=Weather)
    calls: list[str] = []

    @agent.tool_plain
    def forecast(city: str, days: int) -> str:
        """The forecast for a city."""
        calls.append(city)
        assert isinstance(days, int)
        return "sunny"

    result = agent.run_sync("What is the weather in Paris?")
    assert isinstance(result.output, Weather)
    assert len(calls) == 1


def test_openai_agents_function_tool_and_output_type(base_url: str) -> None:
    agents = pytest.importorskip("agents")
    import openai

    agents.set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    calls: list[str] = []

    @agents.function_tool
    def forecast(city: str) -> str:
        """The forecast for a city."""
        calls.append(city)
        return "sunny"

    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather.",
        model=agents.OpenAIResponsesModel(model=MODEL, openai_client=client),
        tools=[forecast],
        output_type=Weather,
    )
    result = agents.Runner.run_sync(agent, "Weather in Paris?")
    assert isinstance(result.final_output, Weather)
    assert len(calls) == 1


def test_openai_agents_chat_completions_model(base_url: str) -> None:
    agents = pytest.importorskip("agents")
    import openai

    agents.set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)

    @agents.function_tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        return json.dumps({"order": order_id, "status": "shipped"})

    agent = agents.Agent(
        name="orders",
        model=agents.OpenAIChatCompletionsModel(model=MODEL, openai_client=client),
        tools=[lookup],
    )
    result = agents.Runner.run_sync(agent, "Where is my order?")
    assert "shipped" in result.final_output


def test_instructor_create(base_url: str) -> None:
    instructor = pytest.importorskip("instructor")
    import openai

    client = instructor.from_openai(
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    )
    person = client.chat.completions.create(
        model=MODEL, response_model=Person, messages=[{"role": "user", "content": "Who?"}]
    )
    assert isinstance(person, Person)


def test_instructor_create_partial_streams_growing_objects(base_url: str) -> None:
    instructor = pytest.importorskip("instructor")
    import openai

    client = instructor.from_openai(
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    )
    partials = list(
        client.chat.completions.create_partial(
            model=MODEL, response_model=Person, messages=[{"role": "user", "content": "Who?"}]
        )
    )
    assert len(partials) > 2
    Person.model_validate(partials[-1].model_dump())


def test_instructor_json_schema_mode(base_url: str) -> None:
    instructor = pytest.importorskip("instructor")
    import openai

    client = instructor.from_openai(
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0),
        mode=instructor.Mode.JSON_SCHEMA,
    )
    person = client.chat.completions.create(
        model=MODEL, response_model=Person, messages=[{"role": "user", "content": "Who?"}]
    )
    assert isinstance(person, Person)
