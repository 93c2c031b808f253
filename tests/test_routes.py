"""Routes around the model endpoints: wrong methods and paths get each provider's error
shape, and CORS covers the model endpoints too (they are answered before Starlette)."""

import httpx
import pytest


def test_wrong_method_on_messages_is_an_anthropic_shaped_405(base_url: str) -> None:
    response = httpx.get(f"{base_url}/v1/messages")
    assert response.status_code == 405
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "Invalid URL (GET /v1/messages)"
    assert body["request_id"] == response.headers["request-id"]


def test_unknown_path_under_messages_is_an_anthropic_shaped_404(base_url: str) -> None:
    response = httpx.post(f"{base_url}/v1/messages/batches-nope", json={})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_wrong_method_on_chat_is_an_openai_shaped_405(base_url: str) -> None:
    response = httpx.get(f"{base_url}/v1/chat/completions")
    assert response.status_code == 405
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/chat/completions)"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/messages", {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"input": "hi"}),
    ],
)
def test_model_endpoints_stream_with_cors_headers(base_url: str, path: str, body: dict) -> None:
    response = httpx.post(
        f"{base_url}{path}",
        json={"model": "m", "stream": True, **body},
        headers={"origin": "http://localhost:5173"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "request-id" in response.headers["access-control-expose-headers"]


def test_cors_can_be_turned_off(serve) -> None:
    base_url = serve("name: d\ndefault: true\nreply: {content: hi}\n", cors_origins=[])
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={"origin": "http://localhost:5173"},
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
