"""Ceiling server: the fastest a Python ASGI app on uvicorn can stream chat chunks.

``POST /v1/chat/completions`` answers with ``N`` pre-encoded ``chat.completion.chunk``
SSE events followed by ``data: [DONE]``. Nothing is serialised per request, so the
figure measures uvicorn + httptools + uvloop + one ASGI ``send`` per event: the upper
bound any product built on the same stack can reach.

Request knobs (all optional):

* ``N``: header ``x-bench-events``, else the body's ``max_tokens``, else 1000.
* ``x-bench-ttft-ms`` / ``x-bench-itl-ms``: pacing. Each event waits for its ABSOLUTE
  deadline (``deadline += itl; sleep(deadline - now)``), so timer lateness never
  accumulates as drift. ``[DONE]`` follows the last token immediately.
* ``x-bench-catch-up: 1`` (``raw`` only): a late event is followed by gaps of no less than
  90% of the ITL until the stream is back on its deadlines, as the product paces, instead
  of sending every overdue event at once. For comparing the pacing rule apart from the
  implementation; the capacity figures use the plain absolute deadlines.

Implementations (``--impl``), to show what each layer costs:

* ``raw``: a bare ASGI callable; one ``send`` per event with pre-encoded bytes.
* ``streaming``: Starlette app + ``StreamingResponse`` over an async generator.
* ``sse``: Starlette app + sse-starlette ``EventSourceResponse`` yielding JSON strings
  (the library formats ``data: ...``), the usual way it is used.

Run: ``python -m bench.ceiling --impl raw --port 8801``
"""

from __future__ import annotations

import argparse
import asyncio
import resource
from collections.abc import AsyncIterator

import orjson

DEFAULT_EVENTS = 1000

CHUNK_JSON = orjson.dumps(
    {
        "id": "chatcmpl-bench00000000000000000000000",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "system_fingerprint": "fp_bench",
        "choices": [
            {"index": 0, "delta": {"content": " tok"}, "logprobs": None, "finish_reason": None}
        ],
    }
)
CHUNK_STR = CHUNK_JSON.decode()
CHUNK_EVENT = b"data: " + CHUNK_JSON + b"\n\n"
DONE_EVENT = b"data: [DONE]\n\n"

START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
    ],
}
# One dict reused for every event: uvicorn only reads it.
BODY_CHUNK = {"type": "http.response.body", "body": CHUNK_EVENT, "more_body": True}
BODY_DONE = {"type": "http.response.body", "body": DONE_EVENT, "more_body": True}
BODY_END = {"type": "http.response.body", "body": b"", "more_body": False}


def parse_knobs(headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, float, float, float]:
    """(events, ttft seconds, itl seconds, shortest gap after a late event as a fraction
    of itl) from the request."""
    n = None
    ttft = itl = shortest = 0.0
    for name, value in headers:
        if name.startswith(b"x-bench-"):
            if name == b"x-bench-events":
                n = int(value)
            elif name == b"x-bench-ttft-ms":
                ttft = float(value) / 1000.0
            elif name == b"x-bench-itl-ms":
                itl = float(value) / 1000.0
            elif name == b"x-bench-catch-up" and value == b"1":
                shortest = 0.9
    if n is None:
        n = DEFAULT_EVENTS
        if body:
            try:
                doc = orjson.loads(body)
                if isinstance(doc, dict) and isinstance(doc.get("max_tokens"), int):
                    n = doc["max_tokens"]
            except orjson.JSONDecodeError:
                pass
    return max(n, 0), ttft, itl, shortest


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _simple(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def raw_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/health":
        await _simple(send, 200, b"ok")
        return
    if path != "/v1/chat/completions":
        await _simple(send, 404, b"not found")
        return
    if scope["method"] != "POST":
        await _simple(send, 405, b"method not allowed")
        return
    n, ttft, itl, shortest = parse_knobs(scope["headers"], await _read_body(receive))
    await send(START)
    if ttft == 0.0 and itl == 0.0:
        for _ in range(n):
            await send(BODY_CHUNK)
    else:
        await _paced(receive, send, n, ttft, itl, shortest)
    await send(BODY_DONE)
    await send(BODY_END)


async def _paced(receive, send, n: int, ttft: float, itl: float, shortest: float = 0.0) -> None:
    """Paced body; a watcher cancels it when the client goes away (stalled streams).

    ``shortest``: a gap after a late event is at least this fraction of ``itl``."""
    task = asyncio.current_task()
    finished = False

    async def watch() -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and not finished:
            task.cancel()

    watcher = asyncio.ensure_future(watch())
    loop = asyncio.get_running_loop()
    sleep = asyncio.sleep
    deadline = loop.time() + ttft
    floor = shortest * itl
    try:
        if not floor:  # the reference loop, kept exactly as every earlier figure ran it
            for _ in range(n):
                delay = deadline - loop.time()
                if delay > 0:
                    await sleep(delay)
                await send(BODY_CHUNK)
                deadline += itl
        else:
            wake = deadline
            for _ in range(n):
                delay = wake - loop.time()
                if delay > 0:
                    await sleep(delay)
                await send(BODY_CHUNK)
                deadline += itl
                wake = max(deadline, loop.time() + floor)
    except asyncio.CancelledError:
        return
    finally:
        finished = True
        watcher.cancel()


async def _paced_bytes(n: int, ttft: float, itl: float, item) -> AsyncIterator:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ttft
    paced = ttft > 0 or itl > 0
    for _ in range(n):
        if paced:
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            deadline += itl
        yield item


def starlette_app(kind: str):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def health(request: Request):
        return PlainTextResponse("ok")

    if kind == "streaming":

        async def chat(request: Request):
            n, ttft, itl, _ = parse_knobs(request.scope["headers"], await request.body())

            async def gen():
                async for item in _paced_bytes(n, ttft, itl, CHUNK_EVENT):
                    yield item
                yield DONE_EVENT

            return StreamingResponse(gen(), media_type="text/event-stream")

    elif kind == "sse":
        from sse_starlette.sse import EventSourceResponse

        async def chat(request: Request):
            n, ttft, itl, _ = parse_knobs(request.scope["headers"], await request.body())

            async def gen():
                async for item in _paced_bytes(n, ttft, itl, CHUNK_STR):
                    yield item
                yield "[DONE]"

            return EventSourceResponse(gen(), sep="\n")

    else:
        raise ValueError(kind)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


IMPLS = ("raw", "streaming", "sse")


def build_app(impl: str):
    return raw_app if impl == "raw" else starlette_app(impl)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=IMPLS, default="raw")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    args = parser.parse_args(argv)
    raise_nofile()
    uvicorn.run(
        build_app(args.impl),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
