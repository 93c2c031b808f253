"""The request journal: what each client sent and how it consumed the reply.

The hot path stays cheap: a request makes one small ``Call`` that keeps references to
what the pipeline already has (raw header list, parsed body, stream outcome); redaction,
formatting and filtering happen only when someone reads the journal. A call is recorded
when it completes (a JSON reply returned, an error answered, or a stream closed, read to
the end or not), so an entry is never lost for a request that completed. The journal is
a bounded deque: the oldest entries fall off once ``journal_size`` is reached.
"""

import asyncio
import itertools
import re
import secrets
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

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
WATCH_BACKLOG = 1000
"""Bytes of a body that is not JSON kept for the journal."""


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
    name what it did to this request.
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
    body: Any = None
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

    def keep_raw_body(self, raw: bytes) -> None:
        """Keep the start of a body that is not JSON."""
        self.raw_body = raw[:RAW_BODY_LIMIT]
        self.body_size = len(raw)

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
            return self.body
        text = self.raw_body.decode("utf-8", errors="replace")
        cut = (self.body_size or 0) - len(self.raw_body)
        return f"{text}...[{cut} more bytes]" if cut > 0 else text

    def to_dict(self) -> dict[str, Any]:
        """The journal entry as JSON-ready data."""
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
    """Completed calls, oldest first, at most ``size`` of them."""

    def __init__(self, size: int = 1000) -> None:
        self.size = max(size, 0)
        self._calls: deque[Call] = deque(maxlen=self.size)
        self._ids = itertools.count(1)
        self._watchers: set[asyncio.Queue[Call]] = set()
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
        )

    def append(self, call: Call) -> None:
        self._calls.append(call)
        for queue in self._watchers:
            if queue.qsize() < WATCH_BACKLOG:
                queue.put_nowait(call)

    @contextmanager
    def watch(self) -> Iterator["asyncio.Queue[Call]"]:
        """A queue of the calls completed from now on, for a live view of the journal.

        A watcher that falls ``WATCH_BACKLOG`` calls behind misses the newest ones rather
        than slowing the server down.
        """
        queue: asyncio.Queue[Call] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            yield queue
        finally:
            self._watchers.discard(queue)

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
            kept = [call for call in self._calls if call.namespace != namespace]
            self._calls = deque(kept, maxlen=self.size)
        return before - len(self._calls)
