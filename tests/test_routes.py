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


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("origin", [None, "http://localhost:5173"])
def test_model_responses_vary_on_origin_with_or_without_one(
    base_url: str, stream: bool, origin: str | None
) -> None:
    """A request without ``Origin`` takes a shorter path than Starlette's CORS middleware;
    its response still says ``Vary: Origin``, so a cache never serves it to a page."""
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
        headers={} if origin is None else {"origin": origin},
    )
    assert response.status_code == 200
    assert response.headers.get_list("vary") == ["Origin"]
    assert ("access-control-allow-origin" in response.headers) == (origin is not None)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"vary", b"Accept-Encoding")],
        [(b"x-a", b"1"), (b"vary", b"Accept"), (b"x-b", b"2"), (b"vary", b"Cookie")],
    ],
)
async def test_the_no_origin_path_adds_vary_as_starlette_does(headers: list) -> None:
    """The same response start, byte for byte, from Starlette's ``CORSMiddleware`` and from
    ``CORSExceptControlPlane`` for a request with no ``Origin``."""
    from starlette.middleware.cors import CORSMiddleware

    from understudy.app import CORSExceptControlPlane

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"ok"})

    async def start_message(middleware) -> dict:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
                 "headers": [(b"host", b"localhost")]}  # fmt: skip
        await middleware(app, allow_origins=["*"])(scope, None, send)
        return sent[0]

    assert await start_message(CORSExceptControlPlane) == await start_message(CORSMiddleware)
