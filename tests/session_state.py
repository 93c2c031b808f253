"""Where the servers the tests start keep their state: ``STATE``, one per test session.

A module of its own, not part of conftest.py: pytest imports conftest.py as ``conftest``
while test files import ``tests.conftest``, two copies of one file. A ``STATE`` in each
would start a second private redis-server that the session's teardown never stops.
"""

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_ENV = "UNDERSTUDY_TEST_STATE"


class TestState:
    """Where the servers the tests start keep their shared state.

    Unset ``UNDERSTUDY_TEST_STATE``: in memory, as ``serve`` does by default. ``redis``:
    in a private ``redis-server`` this session starts (on a free port, stopped at the
    end). A ``redis://host:port`` URL: in that Redis, whose databases are FLUSHED as the
    tests take them. Each server gets a Redis database of its own, emptied first, so
    servers running at once never see each other's journal, counters or scenarios.
    """

    DATABASES = 64

    def __init__(self, value: str) -> None:
        self.value = value
        self.redis: Any = None
        self.url = value.rstrip("/")
        self.free: list[int] = []
        self.lock = threading.Lock()

    @property
    def redis_mode(self) -> bool:
        return bool(self.value)

    def _start(self) -> None:
        from tests.redis_server import Redis

        if self.value == "redis":
            self.redis = Redis(Path(tempfile.mkdtemp(prefix="understudy-redis-")))
            self.redis.start("--databases", str(self.DATABASES))
            self.url = f"redis://127.0.0.1:{self.redis.port}"
            self.free = list(range(self.DATABASES))
        else:
            self.free = list(range(int(self._client(0).config_get("databases")["databases"])))
        self.free.reverse()

    def _client(self, database: int) -> Any:
        import redis

        return redis.Redis.from_url(f"{self.url}/{database}", socket_timeout=5)

    @contextmanager
    def lease(self) -> Iterator[str | None]:
        """A state URL for one server (None: memory), its database empty, for as long as
        the server runs."""
        if not self.redis_mode:
            yield None
            return
        with self.lock:
            if not self.free and self.redis is None:
                self._start()
            assert self.free, "every Redis database is taken by a running test server"
            database = self.free.pop()
        client = self._client(database)
        try:
            client.flushdb()
            yield f"{self.url}/{database}"
        finally:
            client.close()
            with self.lock:
                self.free.append(database)

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


STATE = TestState(os.environ.get(STATE_ENV, ""))
