"""Messages refuses what Anthropic refuses, in Anthropic's words, and takes what it takes.

Each malformed request goes to a real server over HTTP and must come back as the exact
400 body (``{"type": "error", "error": {...}, "request_id": ...}``); every parameter,
content block and tool type anthropic-python declares (stable and beta), with a legal
value, must come back 200 (docs/validation.md says which wordings are inferred).
"""

from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import message_create_params
from anthropic.types.beta import message_create_params as beta_create_params
from anthropic.types.beta.beta_content_block_param import BetaContentBlockParam
from anthropic.types.beta.beta_tool_union_param import BetaToolUnionParam
from anthropic.types.content_block_param import ContentBlockParam
from anthropic.types.tool_union_param import ToolUnionParam

from tests.mutations import mutations
from tests.sdk_types import param_keys, type_tags
from understudy.providers.anthropic.request import OTHER_BLOCKS, SERVER_TOOLS

MESSAGES = "/v1/messages"
MODEL = "claude-sonnet-4-5"
USER = [{"role": "user", "content": "hi"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}
# Header parameters of the SDK's create(): they never reach the body.
HEADER_PARAMS = {"betas", "user_profile_id", "workspace_id"}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": USER, **fields}


BLOCK_TAGS = (
    "'advisor_tool_result', 'bash_code_execution_tool_result', 'code_execution_tool_result', "
    "'compaction', 'container_upload', 'document', 'fallback', 'image', 'mcp_tool_listing', "
    "'mcp_tool_result', 'mcp_tool_use', 'redacted_thinking', 'search_result', "
    "'server_tool_use', 'text', 'text_editor_code_execution_tool_result', 'thinking', "
    "'tool_addition', 'tool_removal', 'tool_result', 'tool_search_tool_result', 'tool_use', "
    "'web_fetch_tool_result', 'web_search_tool_result'"
)

MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("max_tokens-string", body(max_tokens="1024"), "max_tokens: Input should be a valid integer"),
    ("max_tokens-bool", body(max_tokens=True), "max_tokens: Input should be a valid integer"),
    (
        "max_tokens-negative",
        body(max_tokens=-1),
        "max_tokens: Input should be greater than or equal to 0",
    ),
    (
        "max_tokens-huge",
        body(max_tokens=1_000_000),
        f"max_tokens: 1000000 > 128000, which is the maximum allowed number of output tokens "
        f"for {MODEL}",
    ),
    ("top_k-string", body(top_k="5"), "top_k: Input should be a valid integer"),
    ("top_k-bool", body(top_k=False), "top_k: Input should be a valid integer"),
    ("top_k-zero", body(top_k=0), "top_k: Input should be greater than or equal to 1"),
    ("stream-true-string", body(stream="true"), "stream: Input should be a valid boolean"),
    ("stream-yes", body(stream="yes"), "stream: Input should be a valid boolean"),
    ("stream-one", body(stream=1), "stream: Input should be a valid boolean"),
    ("stream-zero", body(stream=0), "stream: Input should be a valid boolean"),
    ("temperature-range", body(temperature=1.5), "temperature: range: 0..1"),
    ("top_p-range", body(top_p=-0.1), "top_p: range: 0..1"),
    ("model-empty", body(model=""), "model: String should have at least 1 character"),
    ("model-missing", {"max_tokens": 10, "messages": USER}, "model: Field required"),
    (
        "service_tier",
        body(service_tier="priority"),
        "service_tier: Input should be 'auto' or 'standard_only'",
    ),
    (
        "role-unexpected",
        body(messages=[{"role": "tool", "content": "18C"}]),
        'messages: Unexpected role "tool". The Messages API accepts "user", "assistant" and '
        '"system" as an input message role.',
    ),
    (
        "block-unknown",
        body(messages=[{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]),
        "messages.0.content.0: Input tag 'input_text' found using 'type' does not match any of "
        f"the expected tags: {BLOCK_TAGS}",
    ),
    (
        "block-without-type",
        body(messages=[{"role": "user", "content": [{"text": "hi"}]}]),
        "messages.0.content.0: Unable to extract tag using discriminator 'type'",
    ),
    (
        "block-text-type",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]),
        "messages.0.content.0.text.text: Input should be a valid string",
    ),
    (
        "tool-result-block-unknown",
        body(
            messages=[
                *USER,
                {"role": "assistant", "content": [USE]},
                {"role": "user", "content": [{**RESULT, "content": [{"type": "video"}]}]},
            ]
        ),
        "messages.2.content.0.tool_result.content.0: Input tag 'video' found using 'type' does "
        "not match any of the expected tags: 'browser_state', 'document', 'image', "
        "'search_result', 'text', 'tool_reference'",
    ),
    (
        "tool-without-input_schema",
        body(tools=[{"name": "get_weather"}]),
        "tools.0.custom.input_schema: Field required",
    ),
    (
        "tool-name-pattern",
        body(tools=[{**WEATHER, "name": "get weather"}]),
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (
        "tool-unknown-type",
        body(tools=[{"type": "browser_2024", "name": "browser"}]),
        "tools.0: Input tag 'browser_2024' found using 'type' does not match any of the "
        "expected tags: " + ", ".join(f"'{tag}'" for tag in sorted([*SERVER_TOOLS, "custom"])),
    ),
    (
        "tool_choice-without-tools",
        body(tool_choice={"type": "any"}),
        "tool_choice.any may only be specified while providing tools",
    ),
    (
        "tool_choice-unknown-tool",
        body(tools=[WEATHER], tool_choice={"type": "tool", "name": "get_time"}),
        "Tool 'get_time' not found in provided tools",
    ),
    (
        "tool_choice-kind",
        body(tools=[WEATHER], tool_choice={"type": "required"}),
        "tool_choice: Input tag 'required' found using 'type' does not match any of the "
        "expected tags: 'auto', 'any', 'tool', 'none'",
    ),
    (
        "thinking-budget",
        body(thinking={"type": "enabled", "budget_tokens": 512}),
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        "tool_use-without-result",
        body(messages=[*USER, {"role": "assistant", "content": [USE]}, *USER]),
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the "
        "next message.",
    ),
    (
        "tool_use-partly-answered",
        body(
            messages=[
                *USER,
                {"role": "assistant", "content": [USE, {**USE, "id": "toolu_2"}]},
                {"role": "user", "content": [{**RESULT, "tool_use_id": "toolu_2"}]},
            ]
        ),
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the "
        "next message.",
    ),
    (
        "tool_result-unknown-id",
        body(
            messages=[
                *USER,
                {"role": "assistant", "content": [USE]},
                {"role": "user", "content": [RESULT, {**RESULT, "tool_use_id": "toolu_9"}]},
            ]
        ),
        "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
        "message.",
    ),
    (
        "tool_result-first-message",
        body(messages=[{"role": "user", "content": [RESULT]}]),
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
        "message.",
    ),
    (
        "unknown-parameter",
        body(frequency_penalty=0.5),
        "frequency_penalty: Extra inputs are not permitted",
    ),
]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_request_gets_anthropics_exact_error(
    base_url: str, request_body: dict[str, Any], message: str
) -> None:
    response = httpx.post(f"{base_url}{MESSAGES}", json=request_body)
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": response.headers["request-id"],
    }


# Every parameter anthropic-python declares (stable and beta), with a legal value.
VALID: dict[str, dict[str, Any]] = {
    "billing_policy": {"billing_policy": {"type": "standard"}},
    "cache_control": {"cache_control": {"type": "ephemeral"}},
    "compaction": {"compaction": {"enabled": True}},
    "container": {"container": "container_1"},
    "context_management": {"context_management": {"edits": []}},
    "diagnostics": {"diagnostics": {"previous_message_id": "msg_1"}},
    "fallback_credit_token": {"fallback_credit_token": "token"},
    "fallbacks": {"fallbacks": [{"model": "claude-haiku-4-5"}]},
    "inference_geo": {"inference_geo": "us"},
    "max_tokens": {"max_tokens": 0},
    "mcp_servers": {"mcp_servers": [{"type": "url", "url": "https://x", "name": "docs"}]},
    "metadata": {"metadata": {"user_id": "u-1"}},
    "output_config": {"output_config": {"effort": "high"}},
    "service_tier": {"service_tier": "standard_only"},
    "speed": {"speed": "fast"},
    "stop_sequences": {"stop_sequences": ["END"]},
    "stream": {"stream": True},
    "system": {
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}]
    },
    "thinking": {
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
    },
    "thread": {"thread": {"type": "create"}},
    "tool_choice": {"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "get_weather"}},
    "tools": {
        "tools": [WEATHER, {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
    },
    # Sampling parameters the SDK dropped from its types and the API still takes.
    "temperature": {"temperature": 1},
    "top_p": {"top_p": 0.5},
    "top_k": {"top_k": 1},
    # The older structured-outputs beta.
    "output_format": {"output_format": {"type": "json_schema", "schema": {"type": "object"}}},
}


def test_valid_variants_cover_every_parameter_the_sdk_declares() -> None:
    declared = param_keys(
        message_create_params.MessageCreateParamsBase,
        beta_create_params.MessageCreateParamsBase,
    ) | {"stream"}
    assert declared - HEADER_PARAMS - {"model", "messages"} <= set(VALID)


@pytest.mark.parametrize("fields", list(VALID.values()), ids=list(VALID))
def test_every_parameter_with_a_legal_value_is_accepted(base_url: str, fields: dict) -> None:
    response = httpx.post(f"{base_url}{MESSAGES}", json=body(**fields))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "choice",
    [{"type": "auto", "disable_parallel_tool_use": True}, {"type": "any"}, {"type": "none"}],
    ids=["auto", "any", "none"],
)
def test_tool_choice_forms_are_accepted(base_url: str, choice: dict) -> None:
    response = httpx.post(f"{base_url}{MESSAGES}", json=body(tools=[WEATHER], tool_choice=choice))
    assert response.status_code == 200, response.text


def test_every_block_type_the_sdk_declares_is_accepted(base_url: str) -> None:
    declared = type_tags(ContentBlockParam) | type_tags(BetaContentBlockParam)
    modelled = {
        "text": {"type": "text", "text": "Look:"},
        "image": {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        "document": {
            "type": "document",
            "source": {"type": "text", "data": "x", "media_type": "text/plain"},
        },
        "thinking": {"type": "thinking", "thinking": "Hm.", "signature": "EqQB"},
        "redacted_thinking": {"type": "redacted_thinking", "data": "abc"},
        "tool_use": USE,
        "tool_result": RESULT,
    }
    assert declared - set(modelled) <= set(OTHER_BLOCKS)
    messages = [
        {"role": "user", "content": [modelled["text"], modelled["image"], modelled["document"]]},
        {
            "role": "assistant",
            "content": [modelled["thinking"], modelled["redacted_thinking"], USE],
        },
        {
            "role": "user",
            "content": [RESULT, *({"type": kind} for kind in sorted(declared - set(modelled)))],
        },
        {"role": "system", "content": "Answer in French."},
    ]
    response = httpx.post(f"{base_url}{MESSAGES}", json=body(messages=messages))
    assert response.status_code == 200, response.text


def test_every_tool_type_the_sdk_declares_is_accepted(base_url: str) -> None:
    declared = type_tags(ToolUnionParam) | type_tags(BetaToolUnionParam)
    tools = [WEATHER, {**WEATHER, "name": "typed", "type": "custom"}]
    tools += [
        {"type": kind, "name": f"tool_{number}"}
        for number, kind in enumerate(sorted(declared - {"custom"}))
    ]
    response = httpx.post(f"{base_url}{MESSAGES}", json=body(tools=tools))
    assert response.status_code == 200, response.text


def test_tool_loop_and_a_continued_thread_are_accepted(base_url: str) -> None:
    loop = [*USER, {"role": "assistant", "content": [{"type": "text", "text": "Let me see."}, USE]}]
    loop.append({"role": "user", "content": [RESULT, {"type": "text", "text": "and?"}]})
    assert (
        httpx.post(f"{base_url}{MESSAGES}", json=body(messages=loop, tools=[WEATHER])).status_code
        == 200
    )
    # The last assistant turn may end in a tool use: nothing follows it yet.
    prefill = body(messages=[*USER, {"role": "assistant", "content": [USE]}], tools=[WEATHER])
    assert httpx.post(f"{base_url}{MESSAGES}", json=prefill).status_code == 200


def test_continue_sends_only_the_new_turn(base_url: str) -> None:
    """With ``thread: continue`` the server holds the turn with the tool use (and the tools
    and tool choice), so a lone tool result is no orphan."""
    continued = body(
        thread={"type": "continue", "previous_message_id": "msg_1"},
        messages=[{"role": "user", "content": [RESULT]}],
    )
    response = httpx.post(f"{base_url}{MESSAGES}", json=continued)
    assert response.status_code != 400 or "tool_use_id" not in response.text


# --- The official SDK sees Anthropic's errors ------------------------------------------


@pytest.fixture
def client(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)


def test_sdk_unknown_parameter(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=USER, extra_body={"frequency_penalty": 0.5}
        )
    assert caught.value.type == "invalid_request_error"
    assert caught.value.body["error"]["message"] == (
        "frequency_penalty: Extra inputs are not permitted"
    )


def test_sdk_orphan_tool_use(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[*USER, {"role": "assistant", "content": [USE]}, *USER],  # type: ignore[list-item]
            tools=[WEATHER],  # type: ignore[list-item]
        )
    assert caught.value.body["error"]["message"].startswith("messages.1: `tool_use` ids")


def test_sdk_beta_create_with_betas_and_thread(client: anthropic.Anthropic) -> None:
    """What the beta client sends (betas as a header, thread in the body) is accepted;
    ``context_management`` is a known parameter too (threads refuse it alongside them)."""
    message = client.beta.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=USER,  # type: ignore[arg-type]
        betas=["message-threads-2026-08-12"],
        thread={"type": "create"},
    )
    assert message.content
    managed = client.beta.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=USER,  # type: ignore[arg-type]
        context_management={"edits": []},
    )
    assert managed.content


def test_lenient(serve, base_url: str) -> None:
    extra = body(frequency_penalty=0.5, top_a=1)
    headers = {"X-Understudy-Lenient": "1"}
    assert httpx.post(f"{base_url}{MESSAGES}", json=extra, headers=headers).status_code == 200
    url = serve("name: d\ndefault: true\nreply: {content: hi}\n", lenient=True)
    assert httpx.post(f"{url}{MESSAGES}", json=extra).status_code == 200
    # Types stay checked.
    wrong = httpx.post(f"{url}{MESSAGES}", json={**extra, "stream": "true"})
    assert wrong.json()["error"]["message"] == "stream: Input should be a valid boolean"


def test_count_tokens_is_checked_the_same_way(base_url: str) -> None:
    url = f"{base_url}/v1/messages/count_tokens"
    extra = httpx.post(url, json={"model": MODEL, "messages": USER, "max_tokens": 5})
    assert extra.json()["error"]["message"] == "max_tokens: Extra inputs are not permitted"
    ok = httpx.post(url, json={"model": MODEL, "messages": USER, "tools": [WEATHER]})
    assert ok.status_code == 200


def test_no_mutation_of_a_full_request_is_a_server_error(base_url: str) -> None:
    full = body(
        system="Be terse.",
        messages=[
            *USER,
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "x", "signature": "s"}, USE],
            },
            {"role": "user", "content": [RESULT]},
        ],
        tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}],
        tool_choice={"type": "tool", "name": "get_weather"},
        thinking={"type": "enabled", "budget_tokens": 1024},
        max_tokens=2048,
        metadata={"user_id": "u"},
    )
    statuses = set()
    with httpx.Client(base_url=base_url, timeout=10) as http:
        for mutated in mutations(full):
            response = http.post(MESSAGES, json=mutated)
            statuses.add(response.status_code)
            assert response.status_code in (200, 400), (mutated, response.text)
            if response.status_code == 400:
                assert response.json()["error"]["type"] == "invalid_request_error"
    assert statuses == {200, 400}
