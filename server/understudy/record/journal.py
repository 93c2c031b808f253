"""The request journal: what each client sent and how it consumed the reply.

The hot path stays cheap: a request makes one small ``Call`` that keeps references to
what the pipeline already has (raw header list, the body's JSON text, stream outcome);
redaction, formatting and filtering happen only when someone reads the journal. A call is
recorded when it completes (a JSON reply returned, an error answered, or a stream closed,
read to the end or not), so an entry is never lost for a request that completed.

Every entry is bounded (a prefix of its body and of each header value, see
``understudy.record.bounded``) and so is the journal: the oldest entries go once it holds
``size`` of them or their kept bytes pass ``max_bytes``. Live readers (``subscribe``) get
each entry encoded once for all of them, and never hold more than the journal does.
"""

import asyncio
import itertools
import re
import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import orjson

from understudy.record.bounded import bytes_prefix, json_prefix, text_prefix
from understudy.stream.writer import StreamOutcome

REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"key|token|secret|auth|passw(or)?d|cookie|credential|signature|^sig$")
"""What names a credential, in a header or query parameter name (lowercased): so
``authorization``, ``cookie``/``set-cookie``, ``x-api-key``, ``x-goog-api-key``,
``anthropic-api-key``, ``x-auth-token``, ``?api_key=``, ``?key=``, ``?access_token=``,
``?sig=``."""
NOT_SECRET = frozenset({"idempotency-key", "keep-alive"})
"""Names the pattern catches that carry no secret and that tests look at."""
RAW_BODY_LIMIT = 8192
"""Bytes of a body that is not JSON kept for the journal (at most the body limit)."""
ENTRY_OVERHEAD = 512
"""Bytes an entry costs besides its body and headers, for the journal's byte budget."""
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of a request one journal entry keeps."""

    body_bytes: int = 64 * 1024
    header_bytes: int = 8 * 1024


def is_secret(name: str) -> bool:
    """Whether a header or query parameter of this (lowercased) name holds a credential."""
    return name not in NOT_SECRET and SECRET_NAME.search(name) is not None


def redact(name: str, value: str) -> str:
    """Hide a credential, keeping an ``Authorization`` scheme (``Bearer [redacted]``)."""
    if not is_secret(name):
        return value
    scheme, _, rest = value.partition(" ")
    return f"{scheme} {REDACTED}" if rest and name.endswith("authorization") else REDACTED


def redact_query(query: str) -> str:
    """A query string with the values of credential parameters hidden; the rest kept as
    sent."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, equals, _value = part.partition("=")
        if equals and is_secret(unquote_plus(name).lower()):
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "&".join(parts)


@dataclass(frozen=True, slots=True)
class Instance:
    """One running server: a restart (new state, empty journal) gets a new one, so a
    test can tell from ``/health`` or a journal entry that the server restarted."""

    id: str = field(default_factory=lambda: secrets.token_hex(8))
    started_at: float = field(default_factory=time.time)

    @property
    def started_at_iso(self) -> str:
        return iso_time(self.started_at)


def iso_time(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@dataclass(slots=True)
class Call:
    """One model request, from arrival to completion.

    The pipeline fills it as it learns things; ``fault`` is for the fault injector to
    name what it did to this request. ``seal`` bounds what it keeps when it is recorded.
    """

    id: int
    request_id: str
    time: float
    api: str
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    namespace: str
    started_at: float
    limits: Limits = field(default_factory=Limits)
    body: bytes | None = None
    """The JSON body as JSON text, cut to ``limits.body_bytes``."""
    raw_body: bytes | None = None
    body_size: int | None = None
    scenario: str | None = None
    reply_index: int | None = None
    status: int = 0
    error: str | None = None
    near_misses: list[Any] | None = None
    """For a request no scenario answered: the closest scenarios and what they failed."""
    stream: bool = False
    outcome: StreamOutcome | None = None
    fault: str | None = None
    fault_kinds: tuple[str, ...] = ()
    finished_at: float = 0.0
    thread_id: str | None = None
    """The Anthropic message thread of this request: the id of the thread's first reply."""
    instance: Instance | None = None
    size: int = 0
    """What the entry costs the journal's byte budget; set by ``seal``."""

    def keep_body(self, raw: bytes, parsed: Any) -> None:
        """Keep a JSON body as text: ``raw`` itself, or a copy cut to the limit."""
        self.body = json_prefix(raw, parsed, self.limits.body_bytes)

    def keep_raw_body(self, raw: bytes) -> None:
        """Keep the start of a body that is not JSON."""
        self.raw_body = raw[: min(RAW_BODY_LIMIT, self.limits.body_bytes)]
        self.body_size = len(raw)

    def seal(self) -> None:
        """Bound what the entry keeps besides the body (header values, the error, near
        misses: each may echo the client's input) and weigh it for the budget."""
        limit = self.limits.header_bytes
        headers = self.headers
        size = sum(len(name) + len(value) for name, value in headers)
        if size > limit and any(len(value) > limit for _, value in headers):
            headers = self.headers = [(name, bytes_prefix(value, limit)) for name, value in headers]
            size = sum(len(name) + len(value) for name, value in headers)
        size += ENTRY_OVERHEAD + len(self.body or self.raw_body or b"")
        if self.error is not None:
            self.error = text_prefix(self.error, self.limits.body_bytes)
            size += len(self.error)
        if self.near_misses:
            kept = json_prefix(orjson.dumps(self.near_misses), self.near_misses, limit)
            self.near_misses = orjson.loads(kept)
            size += len(kept)
        self.size = size

    def finish(self, status: int, finished_at: float, outcome: StreamOutcome | None) -> None:
        self.status = status
        self.outcome = outcome
        self.finished_at = outcome.finished_at if outcome is not None else finished_at

    @property
    def disconnected(self) -> bool:
        return self.outcome is not None and self.outcome.disconnected

    def header_dict(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.headers:
            name = raw_name.decode("latin-1").lower()
            value = redact(name, raw_value.decode("latin-1"))
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def body_value(self) -> Any:
        if self.raw_body is None:
            return None if self.body is None else orjson.Fragment(self.body)
        text = self.raw_body.decode("utf-8", errors="replace")
        cut = (self.body_size or 0) - len(self.raw_body)
        return f"{text}...[{cut} more bytes]" if cut > 0 else text

    def to_dict(self) -> dict[str, Any]:
        """The journal entry, for ``orjson.dumps`` (the body is kept as JSON text)."""
        outcome = self.outcome
        entry: dict[str, Any] = {
            "id": self.id,
            "request_id": self.request_id,
            "time": iso_time(self.time),
            "timestamp": self.time,
            "api": self.api,
            "method": self.method,
            "path": self.path,
            "query": redact_query(self.query.decode("latin-1")),
            "headers": self.header_dict(),
            "body": self.body_value(),
            "namespace": self.namespace,
            "scenario": self.scenario,
            "reply_index": self.reply_index,
            "status": self.status,
            "error": self.error,
            "near_misses": self.near_misses,
            "stream": self.stream,
            "events_sent": None,
            "bytes_sent": None,
            "completed": True,
            "disconnected": False,
            "disconnected_after_event": None,
            "fault": self.fault,
            "thread_id": self.thread_id,
            "ttft_ms": None,
            "duration_ms": _ms(self.finished_at - self.started_at),
            "instance_id": None if self.instance is None else self.instance.id,
            "server_started_at": None if self.instance is None else self.instance.started_at_iso,
        }
        if outcome is not None:
            entry["events_sent"] = outcome.events_sent
            entry["bytes_sent"] = outcome.bytes_sent
            entry["completed"] = outcome.completed
            entry["disconnected"] = outcome.disconnected
            if outcome.disconnected:
                entry["disconnected_after_event"] = outcome.events_sent
            entry["ttft_ms"] = _ms(outcome.ttft)
        return entry

    def detail(self) -> dict[str, Any]:
        """The entry with its stream's timeline (``None`` for a reply that was not a
        stream, or an instant one without faults: its events all left together)."""
        entry = self.to_dict()
        timeline = self.outcome.timeline if self.outcome is not None else None
        entry["timeline"] = (
            None if timeline is None else timeline.to_dict(self.started_at, self.finished_at)
        )
        return entry


def one_line(data: bytes) -> bytes:
    """JSON text without line breaks (an SSE ``data:`` field is one line): a body is kept
    as the client sent it, which may span lines; orjson's own output never does."""
    if b"\n" in data or b"\r" in data:
        return orjson.dumps(orjson.loads(data))
    return data


def parse_since(value: str) -> float:
    """``since`` as epoch seconds or an ISO 8601 time (``2025-01-01T12:00:00Z``)."""
    try:
        return float(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Journal:
    """Completed calls, oldest first: at most ``size`` of them and ``max_bytes`` of kept
    bodies and headers."""

    def __init__(
        self, size: int = 1000, max_bytes: int = DEFAULT_MAX_BYTES, limits: Limits | None = None
    ) -> None:
        self.size = max(size, 0)
        self.max_bytes = max_bytes
        self.limits = limits or Limits()
        self.bytes = 0
        self._calls: deque[Call] = deque()
        self._ids = itertools.count(1)
        self._watchers: set[Watcher] = set()
        self.instance = Instance()

    def begin(
        self, api: str, scope: dict[str, Any], namespace: str, request_id: str, started_at: float
    ) -> Call:
        """A new call for a request that has just arrived."""
        return Call(
            id=next(self._ids),
            request_id=request_id,
            time=time.time(),
            api=api,
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b""),
            headers=scope["headers"],
            namespace=namespace,
            started_at=started_at,
            instance=self.instance,
            limits=self.limits,
        )

    def append(self, call: Call) -> None:
        call.seal()
        calls = self._calls
        calls.append(call)
        self.bytes += call.size
        while calls and (len(calls) > self.size or self.bytes > self.max_bytes):
            self.bytes -= calls.popleft().size
        if self._watchers:
            self._publish(call)

    def _publish(self, call: Call) -> None:
        """Offer ``call`` to every live reader that wants it, encoded once for all."""
        data = None
        for watcher in list(self._watchers):
            if watcher.wants(call):
                if data is None:
                    data = one_line(orjson.dumps(call.to_dict()))
                self._offer(watcher, call.namespace, data)

    def publish(self, entry: dict[str, Any], data: bytes) -> None:
        """Offer an entry another process journaled (``entry`` decoded, ``data`` its
        one-line JSON) to every live reader that wants it."""
        completed = entry.get("timestamp", 0) + (entry.get("duration_ms") or 0) / 1000
        for watcher in list(self._watchers):
            # Another process's entries reach here a little late: one that completed
            # before this reader subscribed is not "from now on".
            if completed < watcher.since:
                continue
            if all(entry.get(key) == value for key, value in watcher.wanted.items()):
                self._offer(watcher, entry.get("namespace", ""), data)

    def _offer(self, watcher: "Watcher", namespace: str, data: bytes) -> None:
        watcher.offer(namespace, data)
        if watcher.dropped:
            self._watchers.discard(watcher)

    def subscribe(self, wanted: dict[str, str], limit: int) -> "Watcher | None":
        """A live reader of the calls completed from now on that match ``wanted``
        (``namespace``, ``scenario``, ``api``), or None when ``limit`` readers exist.

        A reader that falls behind by more than the journal holds (in entries or bytes)
        is dropped rather than kept growing: it would have lost entries anyway.
        """
        if len(self._watchers) >= limit:
            return None
        watcher = Watcher(wanted, max(self.size, 1), self.max_bytes)
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: "Watcher") -> None:
        watcher.close()
        self._watchers.discard(watcher)

    @property
    def subscribers(self) -> int:
        return len(self._watchers)

    @property
    def backlog_bytes(self) -> int:
        """Bytes of entries encoded for live readers and not yet taken by them."""
        return sum(watcher.bytes for watcher in self._watchers)

    def get(self, call_id: int) -> Call | None:
        """The call with this id, if the journal still holds it."""
        return next((call for call in self._calls if call.id == call_id), None)

    def __len__(self) -> int:
        return len(self._calls)

    def calls(
        self,
        *,
        scenario: str | None = None,
        api: str | None = None,
        namespace: str | None = None,
        since: float | None = None,
    ) -> list[Call]:
        """Calls that pass every filter given, in arrival order."""
        selected: Iterable[Call] = self._calls
        if namespace is not None:
            selected = [c for c in selected if c.namespace == namespace]
        if scenario is not None:
            selected = [c for c in selected if c.scenario == scenario]
        if api is not None:
            selected = [c for c in selected if c.api == api]
        if since is not None:
            selected = [c for c in selected if c.time >= since]
        return sorted(selected, key=lambda call: call.id)

    def clear(self, namespace: str | None = None) -> int:
        """Forget every call, or only one namespace's; return how many were removed."""
        before = len(self._calls)
        if namespace is None:
            self._calls.clear()
        else:
            self._calls = deque(call for call in self._calls if call.namespace != namespace)
        self.bytes = sum(call.size for call in self._calls)
        for watcher in self._watchers:
            watcher.forget(namespace)
        return before - len(self._calls)


class WatcherDropped(Exception):
    """A live reader fell too far behind and was dropped."""


class Watcher:
    """One live reader's queue of encoded entries, bounded in entries and bytes."""

    def __init__(self, wanted: dict[str, str], max_entries: int, max_bytes: int) -> None:
        self.wanted = wanted
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.since = time.time()
        self.bytes = 0
        self.dropped = False
        self._entries: deque[tuple[str, bytes]] = deque()
        self._ready = asyncio.Event()

    def wants(self, call: Call) -> bool:
        return all(getattr(call, key) == value for key, value in self.wanted.items())

    def offer(self, namespace: str, data: bytes) -> None:
        if self.dropped:
            return
        if len(self._entries) >= self.max_entries or self.bytes + len(data) > self.max_bytes:
            self.dropped = True
            self.close()
            return
        self._entries.append((namespace, data))
        self.bytes += len(data)
        self._ready.set()

    async def get(self) -> bytes:
        """The next entry's JSON; ``WatcherDropped`` once the reader has been dropped."""
        while not self._entries:
            if self.dropped:
                raise WatcherDropped
            self._ready.clear()
            await self._ready.wait()
        _, data = self._entries.popleft()
        self.bytes -= len(data)
        return data

    def forget(self, namespace: str | None) -> None:
        """Drop the queued entries of a namespace (all when None), as the journal did."""
        if namespace is None:
            self._entries.clear()
        else:
            self._entries = deque(entry for entry in self._entries if entry[0] != namespace)
        self.bytes = sum(len(data) for _, data in self._entries)

    def close(self) -> None:
        self._entries.clear()
        self.bytes = 0
        self._ready.set()
