"""Shared state in Redis, so several workers and replicas answer as one server.

Keys (``us:`` then the namespace as hex, so no namespace can spell another's keys or a
SCAN pattern):

* ``us:c:<ns>`` hash scenario → answers given: ``replies:`` counters (HINCRBY; the
  position is the new count minus one);
* ``us:s:<ns>`` hash scenario → its validated definition (JSON) with its order and size;
  every change is published on ``us:changed`` and every process compiles the namespace
  again, so matching stays local;
* ``us:j`` stream: the journal, each entry the JSON the journal API shows, its id from
  ``us:jid`` and its weight, their sum in ``us:jb``; the script that adds an entry drops
  the oldest past ``journal_size`` entries or ``journal_max_bytes``; read by ``GET
  /journal`` and, with XREAD, by every process's live journal streams;
* ``us:k:<ns>:<api>:<id>`` hash: a kept reply (data, state, idle), with a TTL once idle
  expiry applies; indexed for the bounds (``response_store_size``/``_bytes``) by
  ``us:ko`` (sorted set: each kept key by its last use, numbered by ``us:ku``), ``us:kw``
  (hash: its weight) and ``us:kb`` (their sum), evicted least recently used first.

Every call has a timeout (``state_timeout``). When Redis is lost, model requests go on
with the last known catalog and this process's counters; journal entries are dropped and
counted; a supervisor reconnects, loads the runtime scenarios again and resumes.
"""

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from understudy.core.request import Message
from understudy.providers import Stored
from understudy.record.journal import Call, Journal, one_line
from understudy.scenarios import Scenario, ScenarioError, load_text
from understudy.scenarios.catalog import Counters
from understudy.scenarios.runtime import RuntimeScenarios
from understudy.settings import Settings
from understudy.state import redis_scripts as scripts
from understudy.state.backend import Held, StateUnavailable
from understudy.state.responses import Claim, weight

logger = logging.getLogger("understudy.state")

PREFIX = "us:"
CHANGED = PREFIX + "changed"
JOURNAL = PREFIX + "j"
JOURNAL_IDS = PREFIX + "jid"
JOURNAL_BYTES = PREFIX + "jb"
ORDER = PREFIX + "seq"
KEPT_INDEX = [PREFIX + "ko", PREFIX + "kw", PREFIX + "kb", PREFIX + "ku"]
"""The kept replies' index: their order of use, weights, total weight and use counter."""
ALL = "*"
RETRY_SECONDS = 0.5
BATCH = 256
"""Journal entries written in one round trip."""
READ_BLOCK_MS = 200
"""How long one XREAD of the live journal waits (under the call timeout)."""

T = TypeVar("T")


def space(namespace: str) -> str:
    """A namespace as it appears in keys and messages."""
    return namespace.encode().hex()


def unspace(value: str) -> str:
    return bytes.fromhex(value).decode()


def redacted(url: str) -> str:
    """``url`` without its password, for messages and ``/health``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def client(url: str, timeout: float) -> aioredis.Redis:
    """A client whose every call gives up after ``timeout``, with no retries of its own
    (the supervisor reconnects)."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
        retry=None,
        decode_responses=False,
    )


def check(url: str, timeout: float) -> str | None:
    """Why the Redis at ``url`` cannot be used, or None: for ``serve`` before it starts."""

    async def ping() -> None:
        redis = client(url, timeout)
        try:
            async with asyncio.timeout(timeout * 2):
                await redis.ping()
        finally:
            await redis.aclose()

    try:
        asyncio.run(ping())
    except (RedisError, OSError, TimeoutError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        return f"cannot reach the state backend at {redacted(url)} (--state): {reason}"
    return None


def encode_stored(stored: Stored) -> bytes:
    return orjson.dumps(stored)


def decode_stored(data: bytes) -> Stored:
    value = orjson.loads(data)
    conversation = [
        Message(m["role"], m["text"], tuple(m["tool_calls"]), m["tool_result"])
        for m in value["conversation"]
    ]
    return Stored(
        value["id"],
        value["response"],
        conversation,
        value["system"],
        tuple(value["tools"]),
        value["thread_id"],
    )


def compile_namespace(namespace: str, stored: Mapping[bytes, bytes]) -> list[tuple[Scenario, int]]:
    """A namespace's runtime scenarios from their stored definitions, highest priority
    first, each with its size; validated again exactly as an admin body is."""
    documents = sorted((orjson.loads(value) for value in stored.values()), key=_order)
    compiled = []
    for document in documents:
        try:
            scenarios = load_text(orjson.dumps(document["definition"]).decode(), "<state>", "json")
        except ScenarioError as exc:  # written by a newer or older version of the server
            logger.warning("runtime scenario in namespace %r skipped: %s", namespace, exc)
            continue
        for scenario in scenarios:
            # Where it was defined (``<request>:line``), as the process that took it says.
            scenario._defined_at = document.get("defined_at") or scenario._defined_at
            compiled.append((scenario, document["size"]))
    return compiled


def _order(document: dict[str, Any]) -> int:
    return -document["seq"]


class RedisBackend:
    """The shared state in one Redis (or Valkey); this process keeps a compiled copy of
    the runtime scenarios and its own counters to fall back on."""

    kind = "redis"

    def __init__(
        self, settings: Settings, runtime: RuntimeScenarios, counters: Counters, journal: Journal
    ) -> None:
        assert settings.state is not None
        self.url = settings.state
        self.timeout = settings.state_timeout
        self.journal_size = settings.journal_size
        self.journal_bytes = settings.journal_max_bytes
        self.store_size = settings.response_store_size
        self.store_bytes = settings.response_store_bytes
        self.runtime = runtime
        self.counters = counters
        self.journal = journal
        self.redis = client(self.url, self.timeout)
        self.up = False
        self._connecting = False
        self.error: str | None = None
        self.lost_at: float | None = None
        self.dropped = 0
        self._queue: asyncio.Queue[Call] = asyncio.Queue(settings.state_queue)
        self._queued = 0  # entries put on the queue, ever
        self._settled = 0  # of those, written or dropped
        self._settling: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held = Held(0, 0, 0, 0)
        self._scripts = {
            name: self.redis.register_script(text)
            for name, text in (
                ("append", scripts.APPEND),
                ("put", scripts.PUT),
                ("get", scripts.GET),
                ("claim", scripts.CLAIM),
                ("release", scripts.RELEASE),
                ("delete", scripts.DELETE),
                ("clear_journal", scripts.CLEAR_JOURNAL),
                ("forget", scripts.FORGET),
            )
        }

    # --- connection ------------------------------------------------------------------

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """One call to Redis, given up after the timeout; a failure marks Redis lost and
        is ``StateUnavailable``, as is any call while it is lost (none waits then)."""
        if not (self.up or self._connecting):
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise StateUnavailable(f"the state backend is unavailable: {self.error}")
        try:
            async with asyncio.timeout(self.timeout):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            self._lost(exc)
            raise StateUnavailable(f"the state backend is unavailable: {self.error}") from None

    def _lost(self, exc: BaseException) -> None:
        self.error = str(exc) or type(exc).__name__
        if self.up:
            logger.warning("state backend %s lost: %s", redacted(self.url), self.error)
            self.lost_at = time.time()
        self.up = False

    async def start(self) -> None:
        await self._connect()
        for job in (self._supervise(), self._write_journal()):
            self._spawn(job)

    async def _connect(self) -> None:
        """Ping, load every namespace's runtime scenarios, and follow changes again."""
        self._connecting = True
        try:
            await self._call(self.redis.ping())
            await self._load_all()
        finally:
            self._connecting = False
        self.up = True
        self.error = None
        self._spawn(self._follow_changes())
        self._spawn(self._read_journal())

    async def stop(self) -> None:
        """Write what the journal still queues (for at most the call timeout), then stop."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        while self.up and not self._queue.empty():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    def _spawn(self, job: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(self) -> None:
        """While Redis is lost, try again every ``RETRY_SECONDS``."""
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            if self.up:
                continue
            with contextlib.suppress(StateUnavailable):
                await self._connect()
                logger.warning("state backend %s is back", redacted(self.url))
                self.lost_at = None

    @property
    def degraded(self) -> bool:
        return not self.up

    def report(self) -> dict[str, Any]:
        return {
            "backend": "redis",
            "url": redacted(self.url),
            "status": "ok" if self.up else "unavailable",
            "error": self.error,
            "dropped_entries": self.dropped,
        }

    async def held(self) -> Held:
        """What the shared journal and kept replies hold, read at each scrape (one round
        trip); while Redis is lost, what was last read."""
        await self._caught_up()
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(JOURNAL)
        pipe.get(JOURNAL_BYTES)
        pipe.zcard(KEPT_INDEX[0])
        pipe.get(KEPT_INDEX[2])
        with contextlib.suppress(StateUnavailable):
            values = await self._call(pipe.execute())
            self._held = Held(*(int(value or 0) for value in values))
        return self._held

    # --- runtime scenarios -----------------------------------------------------------

    async def _load_all(self) -> None:
        found = set()
        cursor: Any = 0
        while True:
            cursor, keys = await self._call(
                self.redis.scan(cursor, match=PREFIX + "s:*", count=1000)
            )
            found.update(key.decode()[len(PREFIX) + 2 :] for key in keys)
            if not cursor:
                break
        for namespace in set(self.runtime.namespaces()) - {unspace(s) for s in found}:
            self.runtime.replace(namespace, [], [])
        for hexed in found:
            await self._load(hexed)

    async def _load(self, hexed: str) -> None:
        stored = await self._call(self.redis.hgetall(PREFIX + "s:" + hexed))
        namespace = unspace(hexed)
        compiled = await asyncio.to_thread(compile_namespace, namespace, stored)
        self.runtime.replace(namespace, [s for s, _ in compiled], [size for _, size in compiled])

    async def _follow_changes(self) -> None:
        """Compile a namespace again whenever any process changes its scenarios."""
        pubsub = self.redis.pubsub()
        try:
            await self._call(pubsub.subscribe(CHANGED))
            while self.up:
                message = await self._call(
                    pubsub.get_message(ignore_subscribe_messages=True, timeout=self.timeout / 2)
                )
                if message is None:
                    continue
                hexed = message["data"].decode()
                if hexed == ALL:
                    await self._load_all()
                else:
                    await self._load(hexed)
        except StateUnavailable:
            pass
        finally:
            with contextlib.suppress(BaseException):
                await pubsub.aclose()

    async def _changed(self, namespace: str, pipe: Any) -> None:
        pipe.publish(CHANGED, space(namespace))
        await self._call(pipe.execute())

    async def add_scenarios(self, namespace: str, scenarios: list[Scenario], size: int) -> None:
        self.runtime.add(namespace, scenarios, size)  # checks the caps against the copy
        hexed = space(namespace)
        try:
            last = await self._call(self.redis.incrby(ORDER, len(scenarios)))
            pipe = self.redis.pipeline(transaction=True)
            for offset, scenario in enumerate(scenarios):
                document = {
                    "seq": last - offset,
                    "size": self.runtime.size_of(namespace, scenario.name),
                    "defined_at": scenario._defined_at,
                    "definition": scenario.model_dump(
                        mode="json", exclude_defaults=True, by_alias=True
                    ),
                }
                pipe.hset(PREFIX + "s:" + hexed, scenario.name, orjson.dumps(document))
            pipe.hdel(PREFIX + "c:" + hexed, *(scenario.name for scenario in scenarios))
            await self._changed(namespace, pipe)
        except StateUnavailable:
            for scenario in scenarios:
                self.runtime.remove(namespace, scenario.name)
            raise
        for scenario in scenarios:
            self.counters.forget(namespace, scenario.name)

    async def remove_scenario(self, namespace: str, name: str) -> bool:
        hexed = space(namespace)
        removed = await self._call(self.redis.hdel(PREFIX + "s:" + hexed, name))
        if not removed:
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.hdel(PREFIX + "c:" + hexed, name)
        await self._changed(namespace, pipe)
        self.runtime.remove(namespace, name)
        self.counters.forget(namespace, name)
        return True

    async def clear_scenarios(self, namespace: str) -> list[str]:
        hexed = space(namespace)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(PREFIX + "s:" + hexed)
        pipe.delete(PREFIX + "s:" + hexed, PREFIX + "c:" + hexed)
        pipe.publish(CHANGED, hexed)
        stored, *_ = await self._call(pipe.execute())
        self.runtime.clear(namespace)
        self.counters.reset(namespace)
        # Highest priority first, as the memory backend lists them (a hash has no order).
        ranked = sorted(stored.items(), key=lambda item: _order(orjson.loads(item[1])))
        return [name.decode() for name, _ in ranked]

    # --- counters --------------------------------------------------------------------

    async def take(self, namespace: str, name: str) -> int:
        if self.up:
            with contextlib.suppress(StateUnavailable):
                key = PREFIX + "c:" + space(namespace)
                return await self._call(self.redis.hincrby(key, name, 1)) - 1
        return self.counters.take(namespace, name)

    async def hits(self, namespace: str) -> Mapping[str, int]:
        counts = await self._call(self.redis.hgetall(PREFIX + "c:" + space(namespace)))
        return {name.decode(): int(count) for name, count in counts.items()}

    # --- journal ---------------------------------------------------------------------

    def record(self, call: Call) -> None:
        if not self.journal_size:
            return
        call.seal()
        if not self.up:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(call)
        except asyncio.QueueFull:
            self.dropped += 1
        else:
            self._queued += 1

    async def _caught_up(self) -> None:
        """Wait (at most the call timeout) until every entry this process queued before
        now is written or dropped: a client that reads the journal after its request was
        answered finds the request there, as it would in memory."""
        target = self._queued
        if self._settled >= target:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._settling.append((target, waiter))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                await waiter

    def _settle(self, count: int) -> None:
        self._settled += count
        settling = self._settling
        while settling and settling[0][0] <= self._settled:
            waiter = settling.popleft()[1]
            if not waiter.done():
                waiter.set_result(None)

    async def _write_journal(self) -> None:
        """Write queued entries in batches, one round trip each, in completion order."""
        append = self._scripts["append"]
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write_batch(append, batch)
            finally:
                self._settle(len(batch))

    async def _write_batch(self, append: Any, batch: list[Call]) -> None:
        if not self.up:
            self.dropped += len(batch)
            return
        pipe = self.redis.pipeline(transaction=False)
        for call in batch:
            entry = orjson.dumps(call.detail())
            args = [self.journal_size, self.journal_bytes, space(call.namespace)]
            keys = [JOURNAL, JOURNAL_BYTES, JOURNAL_IDS]
            await append(keys=keys, args=[*args, call.size, entry], client=pipe)
        try:
            await self._call(pipe.execute())
        except StateUnavailable:
            self.dropped += len(batch)

    def _entry(self, fields: Mapping[bytes, bytes]) -> dict[str, Any]:
        entry = orjson.loads(fields[b"data"])
        entry["id"] = int(fields[b"id"])
        return entry

    async def _all_entries(self) -> list[dict[str, Any]]:
        found = await self._call(self.redis.xrange(JOURNAL))
        entries = [self._entry(fields) for _, fields in found[-self.journal_size :]]
        entries.sort(key=lambda entry: (entry["timestamp"], entry["id"]))
        return entries

    async def entries(
        self,
        *,
        scenario: str | None = None,
        api: str | None = None,
        namespace: str | None = None,
        since: float | None = None,
    ) -> list[Any]:
        if not self.journal_size:
            return []
        await self._caught_up()
        wanted = {"scenario": scenario, "api": api, "namespace": namespace}
        wanted = {key: value for key, value in wanted.items() if value is not None}
        selected = []
        for entry in await self._all_entries():
            if since is not None and entry["timestamp"] < since:
                continue
            if all(entry[key] == value for key, value in wanted.items()):
                entry.pop("timeline", None)
                selected.append(entry)
        return selected

    async def entry(self, call_id: int) -> dict[str, Any] | None:
        await self._caught_up()
        return next((e for e in await self._all_entries() if e["id"] == call_id), None)

    async def clear_journal(self, namespace: str | None) -> int:
        await self._caught_up()
        which = ALL if namespace is None else space(namespace)
        clear = self._scripts["clear_journal"]
        removed = await self._call(clear(keys=[JOURNAL, JOURNAL_BYTES], args=[which]))
        self.journal.clear(namespace)  # the live readers' queues
        return int(removed)

    async def _read_journal(self) -> None:
        """Feed this process's live journal readers with every process's entries."""
        try:
            last = await self._journal_end()
            while self.up:
                if not self.journal.subscribers:
                    # Move ``last`` to the end only while no reader exists: one that
                    # subscribes meanwhile is fed from a point before it subscribed, so
                    # nothing completed after that is missed (``Journal.publish`` leaves
                    # out what completed before).
                    end = await self._journal_end()
                    if not self.journal.subscribers:
                        last = end
                        await asyncio.sleep(READ_BLOCK_MS / 1000)
                    continue
                block = min(READ_BLOCK_MS, int(self.timeout * 500))
                found = await self._call(self.redis.xread({JOURNAL: last}, block=block))
                for _, items in found or []:
                    for item_id, fields in items:
                        last = item_id
                        entry = self._entry(fields)
                        entry.pop("timeline", None)
                        self.journal.publish(entry, one_line(orjson.dumps(entry)))
        except StateUnavailable:
            pass

    async def _journal_end(self) -> bytes | str:
        newest = await self._call(self.redis.xrevrange(JOURNAL, count=1))
        return newest[0][0] if newest else "0-0"

    # --- kept replies ----------------------------------------------------------------

    @staticmethod
    def _key(namespace: str, api: str, reply_id: str) -> str:
        return f"{PREFIX}k:{space(namespace)}:{api}:{reply_id}"

    async def _kept(self, script: str, key: str, *args: Any) -> Any:
        """Run a kept-reply script on ``key`` and the index: one round trip."""
        run = self._scripts[script]
        return await self._call(run(keys=[key, *KEPT_INDEX], args=list(args)))

    async def get(self, namespace: str, api: str, reply_id: str) -> Stored | None:
        try:
            data = await self._kept("get", self._key(namespace, api, reply_id))
        except StateUnavailable:  # answered as a reply the server does not hold
            return None
        return None if data is None else decode_stored(data)

    async def claim(self, namespace: str, api: str, reply_id: str) -> tuple[Claim, Stored | None]:
        try:
            found = await self._kept("claim", self._key(namespace, api, reply_id))
        except StateUnavailable:
            return "missing", None
        claim = found[0].decode()
        return claim, decode_stored(found[1]) if claim == "claimed" else None

    async def put(self, namespace: str, api: str, stored: Stored, idle: float | None) -> None:
        """Keep ``stored`` within the shared bounds; as in memory, a reply larger than the
        whole budget is not kept."""
        size = weight(stored)
        if self.store_size <= 0 or size > self.store_bytes:
            return
        key = self._key(namespace, api, stored.id)
        idle_ms = 0 if idle is None else max(int(idle * 1000), 1)
        args = (encode_stored(stored), idle_ms, size, self.store_size, self.store_bytes)
        with contextlib.suppress(StateUnavailable):  # the reply itself is not lost
            await self._kept("put", key, *args)

    async def release(self, namespace: str, api: str, reply_id: str, continued: bool) -> None:
        key = self._key(namespace, api, reply_id)
        with contextlib.suppress(StateUnavailable):
            await self._kept("release", key, "1" if continued else "0")

    def release_soon(self, namespace: str, api: str, reply_id: str, continued: bool) -> None:
        self._spawn(self.release(namespace, api, reply_id, continued))

    async def delete(self, namespace: str, api: str, reply_id: str) -> bool:
        try:
            return bool(await self._kept("delete", self._key(namespace, api, reply_id)))
        except StateUnavailable:
            return False

    def delete_soon(self, namespace: str, api: str, reply_id: str) -> None:
        self._spawn(self.delete(namespace, api, reply_id))

    # --- namespaces ------------------------------------------------------------------

    async def forget(self, namespace: str | None) -> tuple[list[str], int]:
        await self._caught_up()
        which = ALL if namespace is None else space(namespace)
        script = self._scripts["forget"]
        keys = [JOURNAL, JOURNAL_BYTES, CHANGED, *KEPT_INDEX]
        entries, names = await self._call(script(keys=keys, args=[PREFIX, which]))
        self.runtime.clear(namespace)
        self.counters.reset(namespace)
        self.journal.clear(namespace)
        return [name.decode() for name in names], int(entries)
