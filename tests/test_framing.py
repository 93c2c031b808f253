"""Framing chaos at the socket level.

These tests speak HTTP/1.1 over a plain socket and parse the chunked transfer encoding
themselves: each chunk is one ASGI send by the server, so the chunk sizes prove how the
server split its writes (what a client's ``read()`` returns depends on the kernel and
is not asserted). The SDK tests then show the same bytes still parse in every official
client, as the reference says legal SSE must.
"""

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest

CHAT, MESSAGES, RESPONSES = "chat", "messages", "responses"
APIS = (CHAT, MESSAGES, RESPONSES)
PATHS = {CHAT: "/v1/chat/completions", MESSAGES: "/v1/messages", RESPONSES: "/v1/responses"}
TEXT = "It is 18°C ☀ in Zürich — très agréable"


def body(api: str) -> dict[str, Any]:
    message = [{"role": "user", "content": "weather?"}]
    if api == CHAT:
        return {"model": "gpt-4o-mini", "messages": message, "stream": True}
    if api == MESSAGES:
        return {"model": "claude-test", "max_tokens": 200, "messages": message, "stream": True}
    return {"model": "gpt-4.1-mini", "input": "weather?", "stream": True}


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    chunks: list[bytes]
    terminated: bool
    """The body ended with the zero-size chunk (a clean end, not a cut connection)."""

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def exchange(base_url: str, api: str, headers: dict[str, str] | None = None) -> Raw:
    """POST over a plain socket; read to EOF; undo the chunked encoding by hand."""
    url = urlsplit(base_url)
    payload = json.dumps(body(api)).encode()
    lines = [
        f"POST {PATHS[api]} HTTP/1.1",
        f"Host: {url.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    received = bytearray()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        while data := sock.recv(65536):
            received += data
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = dict(line.lower().split(": ", 1) for line in header_lines)
    assert parsed.get("transfer-encoding") == "chunked"
    chunks, terminated = [], False
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            terminated = rest == b"\r\n"
            break
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n", "chunk data must end with CRLF"
        rest = rest[size + 2 :]
    return Raw(int(status_line.split()[1]), parsed, chunks, terminated)


def scenario(framing: str, content: str = TEXT) -> str:
    return f'name: s\ndefault: true\nreply:\n  content: "{content}"\n  framing: {framing}\n'


def plain_body(serve, api: str) -> bytes:
    return exchange(serve(scenario("{}")), api).body


def events_of(raw: Raw) -> list[list[bytes]]:
    """Chunks grouped per event: a group ends with the chunk that ends the event."""
    groups: list[list[bytes]] = [[]]
    for chunk in raw.chunks:
        groups[-1].append(chunk)
        if b"".join(groups[-1]).endswith((b"\n\n", b"\r\n\r\n", b"\r\r", b"\n\r\n")):
            groups.append([])
    assert groups[-1] == []
    return groups[:-1]


@pytest.mark.parametrize("api", APIS)
def test_n_byte_writes_are_separate_chunks(serve, api: str) -> None:
    """``write_size: 3``: every event leaves the server as 3-byte sends (the last may
    be shorter); joined, the body has exactly as many events as an unsplit one."""
    raw = exchange(serve(scenario("{write_size: 3}")), api)
    assert raw.status == 200 and raw.terminated
    groups = events_of(raw)
    for group in groups:
        sizes = [len(chunk) for chunk in group]
        assert all(size == 3 for size in sizes[:-1]) and 1 <= sizes[-1] <= 3, sizes
    plain = plain_body(serve, api)
    assert len(groups) == plain.count(b"\n\n")
    assert raw.body.count(b"\n\n") == plain.count(b"\n\n")


def test_without_framing_each_event_is_one_chunk(serve) -> None:
    """The control case: one send per event, so one chunk per event."""
    raw = exchange(serve(scenario("{}")), CHAT)
    assert all(len(group) == 1 for group in events_of(raw))


@pytest.mark.parametrize("api", APIS)
def test_utf8_characters_are_split_between_writes(serve, api: str) -> None:
    """``split_utf8``: a write ends right after the lead byte of every multi-byte
    character, so no write of such an event decodes on its own."""
    raw = exchange(serve(scenario("{split_utf8: true}")), api)
    body = raw.body
    leads = [i for i, byte in enumerate(body) if byte >= 0xC0]
    assert len(leads) >= TEXT.count("°") + TEXT.count("☀") + TEXT.count("é")
    ends, position = set(), 0
    for chunk in raw.chunks:
        position += len(chunk)
        ends.add(position)
    assert all(lead + 1 in ends for lead in leads)
    broken = 0
    for chunk in raw.chunks:
        try:
            chunk.decode()
        except UnicodeDecodeError:
            broken += 1
    assert broken >= len(leads)
    assert body.decode().count("☀") >= 1


@pytest.mark.parametrize("api", APIS)
def test_crlf_line_endings(serve, api: str) -> None:
    raw = exchange(serve(scenario("{line_ending: crlf}")), api)
    body = raw.body
    assert body.count(b"\n") == body.count(b"\r\n") > 0
    assert body.endswith(b"\r\n\r\n")
    assert body.replace(b"\r\n", b"\n").count(b"\n\n") == plain_body(serve, api).count(b"\n\n")


def test_cr_line_endings(serve) -> None:
    raw = exchange(serve(scenario("{line_ending: cr}")), CHAT)
    assert b"\n" not in raw.body
    assert raw.body.endswith(b"data: [DONE]\r\r")


@pytest.mark.parametrize("api", APIS)
def test_mixed_line_endings_end_each_event_with_lf_crlf(serve, api: str) -> None:
    """``mixed``: lines end with LF, the blank line with CRLF (the separator the TS
    SDKs don't recognise as an event boundary)."""
    raw = exchange(serve(scenario("{line_ending: mixed}")), api)
    groups = events_of(raw)
    assert all(group[-1].endswith(b"\n\r\n") for group in groups)
    assert raw.body.count(b"\r") == len(groups)


@pytest.mark.parametrize("api", APIS)
def test_comment_line_before_every_event(serve, api: str) -> None:
    raw = exchange(serve(scenario('{comments: "chaos here"}')), api)
    events = raw.body.split(b"\n\n")[:-1]
    assert events and all(event.startswith(b": chaos here\n") for event in events)
    assert len(events) == plain_body(serve, api).count(b"\n\n")


@pytest.mark.parametrize("api", APIS)
def test_multiline_data_rejoins_to_the_same_json(serve, api: str) -> None:
    """One ``data:`` line per top-level member; joined with LF (as the SSE spec says)
    each payload is the JSON an unsplit stream sends (ids and pads aside)."""
    raw = exchange(serve(scenario("{multiline_data: true}")), api)
    payloads = []
    for event in raw.body.decode().split("\n\n")[:-1]:
        data = [line[6:] for line in event.split("\n") if line.startswith("data: ")]
        if data[0].startswith("{"):
            payload = json.loads("\n".join(data))
            assert len(data) == len(payload)  # one line per member
            payloads.append(payload)
    plain = [
        json.loads(line[6:])
        for line in plain_body(serve, api).decode().split("\n")
        if line.startswith("data: {")
    ]
    assert [sorted(p) for p in payloads] == [sorted(p) for p in plain]
    assert [p.get("type") for p in payloads] == [p.get("type") for p in plain]


def test_write_gap_makes_the_client_read_partial_events(serve) -> None:
    """With 10 ms between writes a socket reader sees pieces of events, not whole ones."""
    base_url = serve(scenario("{write_size: 16, write_gap_ms: 10}", content="short reply here"))
    url = urlsplit(base_url)
    payload = json.dumps(body(CHAT)).encode()
    request = (
        f"POST {PATHS[CHAT]} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload
    reads = []
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        while data := sock.recv(65536):
            reads.append(data)
    partial = [data for data in reads if not data.endswith((b"\n\n\r\n", b"0\r\n\r\n"))]
    assert len(reads) > 10 and len(partial) > 1


def test_disconnect_leaves_out_the_chunked_terminator(serve) -> None:
    """A cut connection ends after exactly ``after_bytes`` body bytes, with no
    zero-size chunk; a truncation ends with one."""
    cut = exchange(
        serve(
            f'name: s\ndefault: true\nreply: {{content: "{TEXT}", '
            "fault: {kind: disconnect, after_bytes: 150}}\n"
        ),
        CHAT,
    )
    assert len(cut.body) == 150 and not cut.terminated
    truncated = exchange(
        serve(
            f'name: s\ndefault: true\nreply: {{content: "{TEXT}", '
            "fault: {kind: truncate, after_events: 2}}\n"
        ),
        CHAT,
    )
    assert truncated.terminated and truncated.body.count(b"\n\n") == 2


FRAMINGS = [
    "{write_size: 1}",
    "{write_size: 4, split_utf8: true}",
    "{line_ending: crlf, comments: true}",
    "{line_ending: cr, multiline_data: true}",
    "{write_size: 5, line_ending: crlf, comments: true, multiline_data: true, split_utf8: true}",
]


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("api", APIS)
def test_official_sdks_read_the_same_reply_through_framing_chaos(
    serve, api: str, framing: str
) -> None:
    """CRLF everywhere and a leading comment: all legal, all fine."""
    base_url = serve(scenario(framing))
    if api == MESSAGES:
        client = anthropic.Anthropic(base_url=base_url, api_key="k")
        arguments = {k: v for k, v in body(api).items() if k != "stream"}
        with client.messages.stream(**arguments) as stream:
            text = stream.get_final_message().content[0].text
    elif api == CHAT:
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k")
        arguments = {k: v for k, v in body(api).items() if k != "stream"}
        with client.chat.completions.stream(**arguments) as stream:
            text = stream.get_final_completion().choices[0].message.content
    else:
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k")
        arguments = {k: v for k, v in body(api).items() if k != "stream"}
        with client.responses.stream(**arguments) as stream:
            text = stream.get_final_response().output_text
    assert text == TEXT


def test_framing_applies_to_injected_error_and_keepalive_events(serve) -> None:
    """Faults go through the same framing: the keep-alive and the error event are CRLF."""
    base_url = serve(
        f'name: s\ndefault: true\nreply:\n  content: "{TEXT}"\n'
        "  framing: {line_ending: crlf}\n"
        "  fault:\n    - {kind: stall, after_events: 1, seconds: 0.3, keepalive_every: 0.1}\n"
        "    - {kind: error_event, after_events: 3}\n"
    )
    started = time.monotonic()
    raw = exchange(base_url, CHAT)
    assert time.monotonic() - started >= 0.3
    assert b": keep-alive\r\n\r\n" in raw.body
    assert raw.body.endswith(b'"code":null}}\r\n\r\n')
    assert b"\n" not in raw.body.replace(b"\r\n", b"")
