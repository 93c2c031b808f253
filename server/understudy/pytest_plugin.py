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
import urllib.error
import urllib.parse
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
_TOKEN_ADVICE = f"give the server's token with --understudy-admin-token or {TOKEN_ENV}"
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
        help="scenario files or directories for the in-process server (default: bundled); "
        "a running server given by --understudy-url serves its own",
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


def _running_server(config: pytest.Config) -> tuple[str, str] | None:
    """The running server's URL and where it was given, or None to start one in-process."""
    url = config.getoption("understudy_url")
    if url:
        return url, "--understudy-url"
    url = os.environ.get(URL_ENV)
    return (url, URL_ENV) if url else None


def _admin_token(config: pytest.Config) -> str | None:
    return config.getoption("understudy_admin_token") or os.environ.get(TOKEN_ENV)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path=None): give the test its own cassette, a scenario file beside the "
        "test module (cassettes/<module>/<test>.yaml), replayed and recorded by "
        "--understudy-record-mode",
    )
    running = _running_server(config)
    if running and config.getoption("understudy_scenarios"):
        url, source = running
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"--understudy-scenarios is ignored: the tests use the running Understudy at "
                f"{url} (from {source}), which serves its own scenario files; give them to "
                "that server instead (--scenarios, or a mounted folder for a container)"
            ),
            stacklevel=2,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Check the running server once, before any test: a wrong URL or token is one clear
    error here rather than the same failure in every test."""
    config = session.config
    running = _running_server(config)
    # xdist workers: their controller has checked; --collect-only: no test will run.
    if running is None or hasattr(config, "workerinput") or config.option.collectonly:
        return
    url, source = running
    problem = _problem(UnderstudyServer(url, _admin_token(config)), f"{url} ({source})")
    if problem:
        raise pytest.UsageError(problem)


def _problem(server: UnderstudyServer, where: str) -> str | None:
    """Why the tests cannot use ``server`` (given as ``where``), or None when they can."""
    unreachable = f"cannot reach Understudy at {where}"
    parts = urllib.parse.urlsplit(server.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{unreachable}: not a URL; give one such as http://127.0.0.1:8000"
    try:
        status = server.health()
    except urllib.error.HTTPError as exc:
        hint = "; give the server's root URL, without /v1" if parts.path.strip("/") else ""
        return f"{unreachable}: GET /health answered {exc.code}{hint}"
    except urllib.error.URLError as exc:
        return f"{unreachable}: {_reason(exc.reason)}"
    except (OSError, ValueError) as exc:  # a timeout while reading, a body that is not JSON
        return f"{unreachable}: {_reason(exc)}"
    if not isinstance(status, dict) or status.get("status") != "ok":
        return f"{unreachable}: GET /health answered {status!r}"
    try:
        server.admin("GET", "scenarios")
    except UnderstudyError as exc:
        answered = f"GET /_understudy/scenarios answered {exc.status}"
        if exc.status not in (401, 403):
            return f"Understudy at {where}: {answered}: {exc.message}"
        if server.admin_token:
            return f"Understudy at {where} refused the admin token ({answered}); {_TOKEN_ADVICE}"
        return f"Understudy at {where} needs an admin token ({answered}); {_TOKEN_ADVICE}"
    return None


def _reason(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _namespace_for(node: pytest.Item) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name).strip("-")[:40]
    return f"{readable}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def understudy_server(pytestconfig: pytest.Config) -> Iterator[UnderstudyServer]:
    """The session's server: the one at ``--understudy-url``/``UNDERSTUDY_URL``, or a
    new one in this process, whose admin routes need a random token only this session
    knows (unless a token is given)."""
    token = _admin_token(pytestconfig)
    running = _running_server(pytestconfig)
    if running:
        yield UnderstudyServer(running[0], token)
        return
    token = token or new_admin_token()
    scenarios = pytestconfig.getoption("understudy_scenarios")
    with serve_in_thread(scenarios, admin_token=token) as started:
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
