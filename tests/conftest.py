"""Shared fixtures: a real Understudy server on a free loopback port.

Tests talk to it over a real socket with the official SDKs and raw httpx; nothing in
the server is mocked.
"""

from collections.abc import Callable, Iterator
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
