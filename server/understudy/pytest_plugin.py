"""pytest plugin: an Understudy server per test session and a namespace per test.

Registered through the ``pytest11`` entry point, so installing the package makes the
``understudy`` fixture available. The session either starts a server in-process on a
free loopback port, or uses a running one given by ``--understudy-url`` or the
``UNDERSTUDY_URL`` environment variable (a CI service container, say). Each test gets
its own namespace: its runtime scenarios, ``replies:`` counters and journal are its
own, so tests can run in parallel (pytest-xdist) against one server, and the namespace
is reset when the test ends.
"""

import os
import re
import uuid
from collections.abc import Iterator

import pytest

from understudy.testing import (
    Understudy,
    UnderstudyError,
    UnderstudyServer,
    free_port,
    new_admin_token,
    run_in_thread,
    serve_in_thread,
)

__all__ = [
    "Understudy",
    "UnderstudyError",
    "UnderstudyServer",
    "free_port",
    "new_admin_token",
    "run_in_thread",
    "serve_in_thread",
]

URL_ENV = "UNDERSTUDY_URL"
TOKEN_ENV = "UNDERSTUDY_ADMIN_TOKEN"


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


def _namespace_for(node: pytest.Item) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name).strip("-")[:40]
    return f"{readable}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def understudy_server(pytestconfig: pytest.Config) -> Iterator[UnderstudyServer]:
    """The session's server: the one at ``--understudy-url``/``UNDERSTUDY_URL``, or a
    new one in this process, whose admin routes need a random token only this session
    knows (unless a token is given)."""
    token = pytestconfig.getoption("understudy_admin_token") or os.environ.get(TOKEN_ENV)
    url = pytestconfig.getoption("understudy_url") or os.environ.get(URL_ENV)
    if url:
        yield UnderstudyServer(url, token)
        return
    token = token or new_admin_token()
    scenarios = pytestconfig.getoption("understudy_scenarios")
    with serve_in_thread(scenarios, admin_token=token) as started:
        yield UnderstudyServer(started, token)


@pytest.fixture
def understudy(
    understudy_server: UnderstudyServer, request: pytest.FixtureRequest
) -> Iterator[Understudy]:
    """This test's namespace on the session's server, reset when the test ends."""
    handle = Understudy(understudy_server, _namespace_for(request.node))
    yield handle
    handle.reset()
