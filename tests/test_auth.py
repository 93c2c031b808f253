"""Opt-in API key checks: each provider's own 401.

Off by default; with ``api_keys`` set, a model request must carry one of the keys as
``Authorization: Bearer``, ``x-api-key`` or ``api-key``.
"""

from collections.abc import Callable

import anthropic
import httpx
import openai
import pytest

ServerFactory = Callable[..., str]

HELLO = """
name: hello
default: true
reply:
  content: "Hello, authenticated."
"""

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-opus-4-7", "max_tokens": 50, "messages": CHAT["messages"]}
OPENAI_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
    "field (with blank username) if you're accessing the API from your browser and are "
    "prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


@pytest.fixture
def secured(serve: ServerFactory) -> str:
    return serve(HELLO, api_keys=["sk-good", "sk-other-good"])


def openai_client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)


def test_off_by_default_any_key_works(serve: ServerFactory) -> None:
    base_url = serve(HELLO)
    completion = openai_client(base_url, "anything").chat.completions.create(**CHAT)
    assert completion.choices[0].message.content == "Hello, authenticated."
    assert httpx.post(f"{base_url}/v1/chat/completions", json=CHAT).status_code == 200


def test_openai_wrong_key_is_the_real_401(secured: str) -> None:
    """``invalid_request_error`` / ``invalid_api_key``, the key echoed back."""
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client(secured, "sk-abc").chat.completions.create(**CHAT)
    assert caught.value.status_code == 401
    assert caught.value.body == {
        "message": "Incorrect API key provided: sk-abc. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    assert caught.value.response.json() == {"error": caught.value.body}


def test_openai_long_key_is_masked(secured: str) -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    response = httpx.post(
        f"{secured}/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
    )
    message = response.json()["error"]["message"]
    assert message.startswith("Incorrect API key provided: sk-proj-****")
    assert "6789." in message and key not in message


def test_openai_missing_key(secured: str) -> None:
    response = httpx.post(f"{secured}/v1/chat/completions", json=CHAT)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {
            "message": OPENAI_MISSING,
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_responses_uses_the_openai_shape(secured: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client(secured, "sk-abc").responses.create(model="gpt-4o-mini", input="hi")
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"


def test_right_key_in_any_header_is_accepted(secured: str) -> None:
    completion = openai_client(secured, "sk-other-good").chat.completions.create(**CHAT)
    assert completion.choices[0].message.content == "Hello, authenticated."
    for header in ({"x-api-key": "sk-good"}, {"api-key": "sk-good"}):
        response = httpx.post(f"{secured}/v1/chat/completions", json=CHAT, headers=header)
        assert response.status_code == 200, header
    stream = openai_client(secured, "sk-good").chat.completions.create(**CHAT, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello, authenticated."


def test_anthropic_wrong_key_is_the_real_401(secured: str) -> None:
    """``{"type":"error","error":{"type":"authentication_error",...},"request_id":...}``."""
    client = anthropic.Anthropic(base_url=secured, api_key="sk-ant-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(**MESSAGES)
    body = caught.value.response.json()
    request_id = caught.value.response.headers["request-id"]
    assert body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": request_id,
    }
    assert caught.value.request_id == request_id


def test_anthropic_missing_and_right_key(secured: str) -> None:
    missing = httpx.post(
        f"{secured}/v1/messages", json=MESSAGES, headers={"anthropic-version": "2023-06-01"}
    )
    assert missing.status_code == 401
    assert missing.json()["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    right = httpx.post(
        f"{secured}/v1/messages",
        json=MESSAGES,
        headers={"anthropic-version": "2023-06-01", "x-api-key": "sk-good"},
    )
    assert right.status_code == 200
    client = anthropic.Anthropic(base_url=secured, api_key="sk-good", max_retries=0)
    message = client.messages.create(**MESSAGES)
    assert message.content[0].text == "Hello, authenticated."


def test_auth_failures_are_journaled_without_the_key(secured: str) -> None:
    key = "sk-nope-0123456789abcdef"
    httpx.post(
        f"{secured}/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
    )
    httpx.post(f"{secured}/v1/messages", json=MESSAGES, headers={"x-api-key": key})
    entries = httpx.get(f"{secured}/_understudy/journal").json()["entries"]
    assert [(e["api"], e["status"], e["scenario"]) for e in entries] == [
        ("chat", 401, None),
        ("messages", 401, None),
    ]
    assert entries[0]["headers"]["authorization"] == "Bearer [redacted]"
    assert entries[1]["headers"]["x-api-key"] == "[redacted]"
    assert entries[1]["error"] == "invalid x-api-key"
    assert key not in str(entries)


def test_other_v1_routes_need_the_key_too(secured: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client(secured, "sk-abc").models.list()
    assert caught.value.code == "invalid_api_key"
    assert [m.id for m in openai_client(secured, "sk-good").models.list()]

    client = anthropic.Anthropic(base_url=secured, api_key="sk-ant-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        client.messages.count_tokens(model=MESSAGES["model"], messages=MESSAGES["messages"])
    assert refused.value.response.json()["error"]["message"] == "invalid x-api-key"
    with pytest.raises(anthropic.AuthenticationError):
        client.models.list()
    good = anthropic.Anthropic(base_url=secured, api_key="sk-good", max_retries=0)
    counted = good.messages.count_tokens(model=MESSAGES["model"], messages=MESSAGES["messages"])
    assert counted.input_tokens > 0

    missing = httpx.get(f"{secured}/v1/responses/resp_123")
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == OPENAI_MISSING
    # Health and metrics stay open.
    assert httpx.get(f"{secured}/health").status_code == 200
    assert httpx.get(f"{secured}/metrics").status_code == 200
