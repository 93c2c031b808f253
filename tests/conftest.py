"""Shared fixtures: a real Understudy server on a free loopback port.

Tests talk to it over a real socket with the official SDKs and raw httpx; nothing in
the server is mocked.
"""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import uvicorn

from server.app import create_app
from server.settings import Settings, bundled_scenarios

BUNDLED = bundled_scenarios()

# Installed, the package registers its pytest plugin (the ``understudy`` fixture) through
# the pytest11 entry point; a bare source checkout loads it here instead.
if not entry_points(group="pytest11", name="understudy"):
    pytest_plugins = ["server.pytest_plugin"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Serve ``settings`` with uvicorn in a background thread; yield the base URL."""
    settings.port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests run on asyncio (``@pytest.mark.anyio``; anyio ships with httpx)."""
    return "asyncio"


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """A server with the bundled scenarios, shared by the whole session."""
    with running_server(Settings(scenarios=[str(BUNDLED)])) as url:
        yield url


ServerFactory = Callable[..., str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start a server on scenario YAML written for this test: ``serve(yaml_text, **settings)``."""
    stack: list = []

    def start(*yaml_texts: str, **overrides: object) -> str:
        folder = tmp_path / f"scenarios{len(stack)}"
        folder.mkdir()
        for index, text in enumerate(yaml_texts):
            (folder / f"s{index}.yaml").write_text(text, encoding="utf-8")
        settings = Settings(scenarios=[str(folder)], **overrides)  # type: ignore[arg-type]
        manager = running_server(settings)
        url = manager.__enter__()
        stack.append(manager)
        return url

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)
