"""pytest plugin: an Understudy server per test session and a namespace per test.

Registered through the ``pytest11`` entry point, so installing the package makes the
``understudy`` fixture available. The session either starts a server in-process on a
free loopback port, or uses a running one given by ``--understudy-url`` or the
``UNDERSTUDY_URL`` environment variable (a CI service container, say). Each test gets
its own namespace: its runtime scenarios, ``replies:`` counters and journal are its
own, so tests can run in parallel (pytest-xdist) against one server, and the namespace
is reset when the test ends.

A test marked ``@pytest.mark.understudy_record`` gets a cassette instead: a server of its
own that serves (and, with ``--understudy-record-mode``, records into) one scenario file
beside the test module, ``cassettes/<module>/<test>.yaml``. The file is an ordinary
scenario file: ``understudy serve --scenarios`` replays it as it is.
"""

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from understudy.testing import (
    Understudy,
    UnderstudyError,
    UnderstudyServer,
    free_port,
    run_in_thread,
    serve_in_thread,
)

__all__ = [
    "Understudy",
    "UnderstudyError",
    "UnderstudyServer",
    "free_port",
    "run_in_thread",
    "serve_in_thread",
]

URL_ENV = "UNDERSTUDY_URL"
TOKEN_ENV = "UNDERSTUDY_ADMIN_TOKEN"
RECORD_MODE_ENV = "UNDERSTUDY_RECORD_MODE"
UPSTREAM_ENV = "UNDERSTUDY_UPSTREAM"
MARKER = "understudy_record"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("understudy", "Understudy mock LLM server")
    group.addoption(
        "--understudy-url",
        default=None,
        help=f"use the Understudy server at this URL instead of starting one (env {URL_ENV})",
    )
    group.addoption(
        "--understudy-admin-token",
        default=None,
        help=f"bearer token for the server's admin routes (env {TOKEN_ENV})",
    )
    group.addoption(
        "--understudy-scenarios",
        action="append",
        default=None,
        metavar="PATH",
        help="scenario files or directories for the in-process server (default: bundled)",
    )
    group.addoption(
        "--understudy-record-mode",
        default=None,
        choices=("none", "once", "new_episodes", "all"),
        help="for tests marked understudy_record: none replays the cassette only (default); "
        "once records a missing cassette; new_episodes records what it lacks; all "
        f"re-records (env {RECORD_MODE_ENV})",
    )
    group.addoption(
        "--understudy-upstream",
        default=None,
        metavar="URL",
        help=f"the real API recordings come from (env {UPSTREAM_ENV}, or "
        "UNDERSTUDY_UPSTREAM_OPENAI / UNDERSTUDY_UPSTREAM_ANTHROPIC)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path=None): give the test its own cassette, a scenario file beside the "
        "test module (cassettes/<module>/<test>.yaml), replayed and recorded by "
        "--understudy-record-mode",
    )


def _namespace_for(node: pytest.Item) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name).strip("-")[:40]
    return f"{readable}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def understudy_server(pytestconfig: pytest.Config) -> Iterator[UnderstudyServer]:
    """The session's server: the one at ``--understudy-url``/``UNDERSTUDY_URL``, or a
    new one in this process."""
    token = pytestconfig.getoption("understudy_admin_token") or os.environ.get(TOKEN_ENV)
    url = pytestconfig.getoption("understudy_url") or os.environ.get(URL_ENV)
    if url:
        yield UnderstudyServer(url, token)
        return
    with serve_in_thread(pytestconfig.getoption("understudy_scenarios")) as started:
        yield UnderstudyServer(started, token)


def cassette_path(node: pytest.Item, given: str | os.PathLike[str] | None = None) -> Path:
    """A test's cassette: ``given`` (relative to the test module), or
    ``cassettes/<module>/<test>.yaml`` beside it."""
    module = Path(str(node.path))
    if given is not None:
        return module.parent / given
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name).strip("-")
    return module.parent / "cassettes" / module.stem / f"{name}.yaml"


@pytest.fixture
def understudy(request: pytest.FixtureRequest) -> Iterator[Understudy]:
    """This test's namespace on the session's server, reset when the test ends; or, for
    a test marked ``understudy_record``, a server of its own on the test's cassette."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        with _cassette_server(request, marker) as url:
            yield Understudy(UnderstudyServer(url), _namespace_for(request.node))
        return
    server: UnderstudyServer = request.getfixturevalue("understudy_server")
    handle = Understudy(server, _namespace_for(request.node))
    yield handle
    handle.reset()


def _cassette_server(request: pytest.FixtureRequest, marker: pytest.Mark) -> Any:
    from understudy.settings import Settings

    config = request.config
    given = marker.kwargs.get("path", marker.args[0] if marker.args else None)
    mode = config.getoption("understudy_record_mode") or os.environ.get(RECORD_MODE_ENV)
    settings = Settings(
        scenarios=[],
        reload=False,
        record=str(cassette_path(request.node, given)),
        record_mode=mode or "none",
        upstream=config.getoption("understudy_upstream") or os.environ.get(UPSTREAM_ENV),
        upstream_openai=os.environ.get("UNDERSTUDY_UPSTREAM_OPENAI"),
        upstream_anthropic=os.environ.get("UNDERSTUDY_UPSTREAM_ANTHROPIC"),
    )
    return run_in_thread(settings)
