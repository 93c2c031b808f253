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
from contextlib import AbstractContextManager, contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from tests.session_state import STATE, STATE_ENV, TestState
from understudy.settings import Settings, bundled_scenarios

BUNDLED = bundled_scenarios()
MEMORY_ONLY = "memory_only"

# Installed, the package registers its pytest plugin (the ``understudy`` fixture) through
# the pytest11 entry point; a bare source checkout loads it here instead.
if not entry_points(group="pytest11", name="understudy"):
    pytest_plugins = ["understudy.pytest_plugin"]


@contextmanager
def run_server(settings: Settings) -> Iterator[str]:
    """``run_in_thread(settings)`` with the session's state backend (``UNDERSTUDY_TEST_STATE``);
    every test that starts an in-process server goes through here."""
    from understudy.pytest_plugin import run_in_thread

    with STATE.lease() as state:
        if state is not None:
            settings.state = state
            # Slack for a loaded machine: the tests' Redis is shared by every server.
            settings.state_timeout = max(settings.state_timeout, 5.0)
        with run_in_thread(settings) as url:
            yield url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MEMORY_ONLY}(reason): the test looks at what only the memory backend has; "
        f"skipped when {STATE_ENV} puts the servers' state in Redis",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not STATE.redis_mode:
        return
    for item in items:
        marker = item.get_closest_marker(MEMORY_ONLY)
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"memory backend only: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def _test_state() -> Iterator[TestState]:
    """Stop the session's private redis-server, if it started one."""
    yield STATE
    STATE.stop()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests run on asyncio (``@pytest.mark.anyio``; anyio ships with httpx)."""
    return "asyncio"


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """A server with the bundled scenarios, shared by the whole session."""
    with run_server(Settings(scenarios=[str(BUNDLED)])) as url:
        yield url


if STATE.redis_mode:

    @pytest.fixture(scope="session")
    def understudy_server(pytestconfig: pytest.Config) -> Iterator[Any]:
        """The plugin's session server (behind the ``understudy`` fixture), here on the
        session's Redis; with state in memory the plugin's own fixture serves."""
        from understudy.testing import UnderstudyServer, new_admin_token

        token = new_admin_token()
        scenarios = pytestconfig.getoption("understudy_scenarios")
        settings = Settings(host="127.0.0.1", admin_token=token)  # as serve_in_thread's
        if scenarios:
            settings.scenarios = list(scenarios)
        else:
            settings.reload = False
        with run_server(settings) as url:
            yield UnderstudyServer(url, token)


ServerFactory = Callable[..., str]


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start a server on scenario YAML written for this test: ``serve(yaml_text, **settings)``."""
    stack: list[AbstractContextManager[str]] = []

    def start(*yaml_texts: str, **overrides: object) -> str:
        folder = tmp_path / f"scenarios{len(stack)}"
        folder.mkdir()
        for index, text in enumerate(yaml_texts):
            (folder / f"s{index}.yaml").write_text(text, encoding="utf-8")
        settings = Settings(scenarios=[str(folder)], **overrides)  # type: ignore[arg-type]
        manager = run_server(settings)
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
    ``GET /health`` answers, and stop it with SIGTERM afterwards. It keeps its state
    where the session's servers do (``UNDERSTUDY_TEST_STATE``)."""
    with server_process(*args) as (url, _):
        yield url


@contextmanager
def server_process(*args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``serve_process``, with the process too (to signal it)."""
    with STATE.lease() as state:
        state_args = ("--state", state) if state else ()
        with _serve_process(*state_args, *args) as started:
            yield started


@contextmanager
def _serve_process(*args: str) -> Iterator[tuple[str, subprocess.Popen]]:
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
        yield url, process
    finally:
        process.send_signal(signal.SIGCONT)  # a test may have left it stopped
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
