"""Paced streams are sent from the shared millisecond timer (``PacedFrames``), not from a
task woken per token: many streams due together, a reader too slow for the server's
writes (flow control), a reader that never reads and leaves, a client that leaves
mid-stream. Every case over a real socket, against a real server.
"""

import asyncio
import re
import signal
import socket
import time
from itertools import pairwise
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerFactory, server_process, wait_for

WORDS = 40


def paced(itl_ms: int, words: int = WORDS, word: str = "w") -> str:
    content = " ".join(f"{word}{n}" for n in range(words))
    return (
        "name: paced\ndefault: true\n"
        f"reply: {{content: '{content}', delivery: {{ttft_ms: 20, itl_ms: {itl_ms}}}}}\n"
    )


def in_flight(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "understudy_streams_in_flight"
    )


def test_many_streams_due_in_the_same_millisecond_each_get_their_own_tokens(
    serve: ServerFactory,
) -> None:
    base_url = serve(paced(itl_ms=5))

    async def one(client: openai.AsyncOpenAI) -> str:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def main() -> list[str]:
        client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0)
        async with client:
            return await asyncio.gather(*(one(client) for _ in range(60)))

    expected = " ".join(f"w{n}" for n in range(WORDS))
    assert asyncio.run(main()) == [expected] * 60
    assert wait_for(lambda: in_flight(base_url) == 0, timeout=10)


def request_head(base_url: str, model: str = "m") -> tuple[socket.socket, bytes]:
    port = int(base_url.rsplit(":", 1)[1])
    body = b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"stream":true}' % (
        model.encode()
    )
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock, head + body


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(20)
    chunks = []
    while not b"".join(chunks[-2:]).endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_reader_slower_than_the_stream_gets_every_byte_in_order(serve: ServerFactory) -> None:
    """8 MB of tokens, 4 KB each, into a small receive window that is not read for a
    second: the kernel's buffers and the server's write buffer fill, the stream waits for
    them to drain, then goes on where it was."""
    words = 2000
    base_url = serve(paced(itl_ms=0.1, words=words, word="x" * 4000))
    sock, request = request_head(base_url)
    with sock:
        sock.sendall(request)
        time.sleep(1.0)
        assert in_flight(base_url) == 1  # still sending: it waits, it did not give up
        raw = read_all(sock)
    tokens = re.findall(rb"\"content\":\" ?(x+)(\d+)\"", raw)
    assert [int(n) for _, n in tokens] == list(range(words))
    assert raw.count(b"data: [DONE]") == 1
    assert wait_for(lambda: in_flight(base_url) == 0, timeout=10)


def test_a_reader_that_never_reads_and_leaves_frees_its_stream(serve: ServerFactory) -> None:
    base_url = serve(paced(itl_ms=1, words=2000, word="y" * 2000))
    sock, request = request_head(base_url)
    sock.sendall(request)
    time.sleep(0.5)  # long enough for the server's writes to back up
    assert in_flight(base_url) == 1
    sock.close()
    assert wait_for(lambda: in_flight(base_url) == 0, timeout=10)
    # The server goes on serving paced streams.
    reply = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status_code == 200


def test_a_client_that_leaves_mid_stream_stops_its_stream_only(serve: ServerFactory) -> None:
    base_url = serve(paced(itl_ms=20))
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0)
    staying = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    leaving = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    opened = [next(leaving) for _ in range(5)]
    leaving.close()
    assert opened[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in staying if c.choices)
    assert text == " ".join(f"w{n}" for n in range(WORDS))
    assert wait_for(lambda: in_flight(base_url) == 0, timeout=10)
    entries = httpx.get(f"{base_url}/_understudy/journal").json()["entries"]
    left, stayed = sorted(entries, key=lambda entry: entry["completed"])
    assert (left["completed"], left["disconnected"]) == (False, True)
    assert (stayed["completed"], stayed["disconnected"]) == (True, False)
    assert left["events_sent"] < stayed["events_sent"]


def test_a_renderer_failing_mid_stream_cuts_its_own_stream_only() -> None:
    """A renderer's exception in a paced stream reaches uvicorn (which logs it and drops
    that connection); the other streams due in the same milliseconds carry on."""
    import threading

    import uvicorn

    from understudy.stream.pacing import Timing
    from understudy.stream.writer import StreamResponse

    def frames(fail: bool):
        for n in range(20):
            if fail and n == 3:
                raise RuntimeError("a renderer's bug")
            yield f"data: {n}\n\n".encode(), True

    async def app(scope, receive, send) -> None:
        response = StreamResponse(
            frames(scope["path"] == "/fail"),
            headers=[(b"content-type", b"text/event-stream")],
            timing=Timing(ttft=0.02, itl=0.005),
            started_at=asyncio.get_running_loop().time(),
        )
        await response(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started, timeout=10)

        async def fetch(client: httpx.AsyncClient, path: str) -> list[str]:
            events: list[str] = []
            try:
                async with client.stream("GET", f"http://127.0.0.1:{port}{path}") as response:
                    async for line in response.aiter_lines():
                        if line:
                            events.append(line)
            except httpx.RemoteProtocolError:
                events.append("cut")
            return events

        async def main() -> list[list[str]]:
            async with httpx.AsyncClient(timeout=10) as client:
                paths = ["/fail", "/ok"] * 10
                return await asyncio.gather(*(fetch(client, path) for path in paths))

        results = asyncio.run(main())
        whole = [f"data: {n}" for n in range(20)]
        assert results[1::2] == [whole] * 10
        assert results[0::2] == [["data: 0", "data: 1", "data: 2", "cut"]] * 10
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def chunks(raw: bytes) -> list[bytes]:
    """The chunks of a chunked HTTP/1.1 response body: one per write of the server's."""
    rest = raw.split(b"\r\n\r\n", 1)[1]
    found = []
    while rest:
        size, rest = rest.split(b"\r\n", 1)
        if not int(size, 16):
            break
        found.append(rest[: int(size, 16)])
        rest = rest[int(size, 16) + 2 :]
    return found


@pytest.mark.parametrize("model", ["plain", "scripted"])
def test_a_stream_that_fell_behind_catches_up_without_sending_tokens_together(
    tmp_path: Path, model: str
) -> None:
    """The server process is stopped for 150 ms (SIGSTOP, as a busy machine or a long
    garbage collection stops it) in the middle of a stream paced at 20 ms: the token due
    then goes out late, and the stream catches up by shortening the gaps after it to no
    less than 90% of the ITL. It does not write the seven tokens that fell due meanwhile
    at once, which a client would see as gaps of zero. ``scripted`` takes the fault
    script's writer (a 1 ms scripted wait), ``plain`` the shared timer's."""
    content = " ".join(f"w{n}" for n in range(WORDS))
    delivery = "{ttft_ms: 20, itl_ms: 20, waits: [{after_events: 1, ms: 1}]}"
    (tmp_path / "s.yaml").write_text(
        f"name: plain\nmatch: {{model: plain}}\n"
        f"reply: {{content: '{content}', delivery: {{ttft_ms: 20, itl_ms: 20}}}}\n---\n"
        f"name: scripted\nmatch: {{model: scripted}}\n"
        f"reply: {{content: '{content}', delivery: {delivery}}}\n"
    )
    with server_process("--scenarios", str(tmp_path), "--no-reload") as (url, process):
        sock, request = request_head(url, model)
        with sock:
            sock.sendall(request)
            sock.settimeout(20)
            raw = b""
            while b'w10"' not in raw:
                raw += sock.recv(65536)
            process.send_signal(signal.SIGSTOP)
            time.sleep(0.15)
            process.send_signal(signal.SIGCONT)
            raw += read_all(sock)
        [entry] = httpx.get(f"{url}/_understudy/journal", params={"scenario": model}).json()[
            "entries"
        ]
        timeline = httpx.get(f"{url}/_understudy/journal/{entry['id']}").json()["timeline"]

    per_write = [len(re.findall(rb'"content":" ?w\d+"', chunk)) for chunk in chunks(raw)]
    assert sum(per_write) == WORDS
    assert max(per_write) == 1
    # Events: the role chunk (sent with the first token), the tokens, the finish chunk
    # and [DONE]; the server's own clock says when each went out and was due.
    sent = timeline["sent_ms"][1 : WORDS + 1]
    late = [at - due for at, due in zip(sent, timeline["due_ms"][1 : WORDS + 1], strict=True)]
    assert max(late) >= 100  # the stop did hold the stream up
    gaps = [later - earlier for earlier, later in pairwise(sent)]
    assert min(gaps) >= 20 * 0.9 - 1.5  # the timer's millisecond
    # Back towards the schedule: up to 2 ms a token; the timer firing late (uvloop's clock
    # counts whole milliseconds) takes some of that, about 1.4 ms a token is left.
    assert late[-1] <= max(late) - 15
