"""Shared fixtures: a real Understudy server on a free loopback port.

Tests talk to it over a real socket with the official SDKs and raw httpx; nothing in
the server is mocked.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from understudy.settings import Settings, bundled_scenarios

BUNDLED = bundled_scenarios()

# Installed, the package registers its pytest plugin (the ``understudy`` fixture) through
# the pytest11 entry point; a bare source checkout loads it here instead.
if not entry_points(group="pytest11", name="understudy"):
    pytest_plugins = ["understudy.pytest_plugin"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests run on asyncio (``@pytest.mark.anyio``; anyio ships with httpx)."""
    return "asyncio"


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """A server with the bundled scenarios, shared by the whole session."""
    from understudy.pytest_plugin import run_in_thread

    with run_in_thread(Settings(scenarios=[str(BUNDLED)])) as url:
        yield url


ServerFactory = Callable[..., str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start a server on scenario YAML written for this test: ``serve(yaml_text, **settings)``."""
    from understudy.pytest_plugin import run_in_thread

    stack: list = []

    def start(*yaml_texts: str, **overrides: object) -> str:
        folder = tmp_path / f"scenarios{len(stack)}"
        folder.mkdir()
        for index, text in enumerate(yaml_texts):
            (folder / f"s{index}.yaml").write_text(text, encoding="utf-8")
        settings = Settings(scenarios=[str(folder)], **overrides)  # type: ignore[arg-type]
        manager = run_in_thread(settings)
        url = manager.__enter__()
        stack.append(manager)
        return url

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def child_environment() -> dict[str, str]:
    """This process's environment, PYTHONPATH included as it is, minus what steers pytest.

    Run from a worktree with ``PYTHONPATH=$PWD/server``, the child imports that worktree's
    ``understudy`` (and its pytest11 entry point resolves there); run with the package
    installed, there is no PYTHONPATH and the child uses the installed one. Nothing is
    added. ``PYTEST_*`` (addopts, plugins, disabled autoload) and ``UNDERSTUDY_*`` (a
    running server, API keys) would change what the scratch project's run means.
    """
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "UNDERSTUDY_"))
    }


@contextmanager
def serve_process(*args: str) -> Iterator[str]:
    """``python -m understudy serve --port P ARGS`` as a user starts it; yield its URL once
    ``GET /health`` answers, and stop it with SIGTERM afterwards."""
    from understudy.testing import UnderstudyServer, free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "understudy", "serve", "--port", str(port), *args],
        env=child_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"understudy serve exited: {process.stderr.read()}")
            try:
                UnderstudyServer(url).health(timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
