"""Helpers for tests that use an Understudy server: start one in a thread, and call its
admin API as one test's namespace.

Only the standard library is used for the admin calls, so using these adds no
dependency to a project; the pytest plugin (``understudy.pytest_plugin``) is built on
them, and they work as well from any other test runner.
"""

import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from understudy.core.request import NAMESPACE_HEADER as _NAMESPACE

if TYPE_CHECKING:
    from understudy.settings import Settings

NAMESPACE_HEADER = _NAMESPACE.title()
"""As sent by these helpers and shown in ``Understudy.headers``."""


class UnderstudyError(Exception):
    """An admin call failed; ``details`` holds the server's list of problems."""

    def __init__(self, status: int, message: str, details: list[str]) -> None:
        lines = [f"{status}: {message}", *(f"  {detail}" for detail in details)]
        super().__init__("\n".join(lines))
        self.status = status
        self.message = message
        self.details = details


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_admin_token() -> str:
    """A random admin token, for a server only its own test session may drive."""
    return secrets.token_urlsafe(32)


@contextmanager
def serve_in_thread(
    scenarios: list[str] | None = None, admin_token: str | None = None
) -> Iterator[str]:
    """Run an Understudy server in a background thread; yield its base URL.

    With ``admin_token`` (``new_admin_token()``, say) its admin routes need that bearer
    token, so no other process on the machine can change what the tests get; pass the
    same token to ``UnderstudyServer``. The pytest plugin does.
    """
    from understudy.settings import Settings

    settings = Settings(host="127.0.0.1", admin_token=admin_token)
    if scenarios:
        settings.scenarios = list(scenarios)
    else:
        settings.reload = False
    with run_in_thread(settings) as base_url:
        yield base_url


@contextmanager
def run_in_thread(settings: "Settings") -> Iterator[str]:
    """Serve ``settings`` with uvicorn in a background thread on a free loopback port."""
    import uvicorn

    from understudy.app import create_app

    settings.port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",  # a lifespan that fails stops the server, as ``serve``'s does
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="understudy", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the Understudy server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class UnderstudyServer:
    """A running server and its admin API."""

    def __init__(self, base_url: str, admin_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token

    def health(self, timeout: float = 5.0) -> Any:
        """``GET /health``: the server's status, version and scenario count.

        Raises ``urllib.error.URLError`` (an ``OSError``) when nothing answers at
        ``base_url``, ``urllib.error.HTTPError`` when something answers with an error.
        """
        with urllib.request.urlopen(f"{self.base_url}/health", timeout=timeout) as response:
            return json.loads(response.read())

    def admin(
        self,
        method: str,
        path: str,
        *,
        namespace: str | None = None,
        query: dict[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """Call ``/_understudy/<path>``; return the decoded JSON or raise ``UnderstudyError``."""
        params = {key: str(value) for key, value in (query or {}).items() if value is not None}
        url = f"{self.base_url}/_understudy/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        if namespace is not None:
            headers[NAMESPACE_HEADER] = namespace
        if self.admin_token:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                error = json.loads(payload)["error"]
                message, details = error.get("message", ""), error.get("details", [])
            except (ValueError, KeyError, TypeError):
                message, details = payload.decode("utf-8", "replace"), []
            raise UnderstudyError(exc.code, message, details) from None


class Understudy:
    """One test's view of the server: its namespace, scenarios and journal.

    Pass ``headers`` to the client under test (``default_headers=understudy.headers``
    for the OpenAI and Anthropic SDKs) so its requests land in this test's namespace.
    """

    def __init__(self, server: UnderstudyServer, namespace: str) -> None:
        self.server = server
        self.namespace = namespace
        self.base_url = server.base_url
        self.openai_base_url = server.base_url + "/v1"
        self.anthropic_base_url = server.base_url
        self.headers = {NAMESPACE_HEADER: namespace}

    def add_scenario(self, scenario: dict[str, Any] | list[Any] | str) -> list[str]:
        """Add scenarios (a dict, a list of dicts, or YAML text) to this test's namespace;
        return their names. An invalid scenario raises ``UnderstudyError`` with details."""
        if isinstance(scenario, str):
            body, content_type = scenario.encode(), "application/yaml"
        else:
            body, content_type = json.dumps(scenario).encode(), "application/json"
        answer = self.server.admin(
            "POST", "scenarios", namespace=self.namespace, body=body, content_type=content_type
        )
        return answer["added"]

    def remove_scenario(self, name: str) -> None:
        quoted = urllib.parse.quote(name, safe="")
        self.server.admin("DELETE", f"scenarios/{quoted}", namespace=self.namespace)

    def scenarios(self) -> list[dict[str, Any]]:
        """Every scenario this namespace can reach, highest priority first."""
        return self.server.admin("GET", "scenarios", namespace=self.namespace)["scenarios"]

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """This test's completed requests, oldest first (filters: scenario, api, since)."""
        answer = self.server.admin("GET", "journal", namespace=self.namespace, query=filters)
        return answer["entries"]

    def wait_for_journal(
        self, count: int = 1, timeout: float = 5.0, **filters: Any
    ) -> list[dict[str, Any]]:
        """The journal once it holds at least ``count`` entries.

        A stream the client abandoned is journaled when the server notices the
        disconnect, a moment after the client has moved on.
        """
        deadline = time.monotonic() + timeout
        while True:
            entries = self.journal(**filters)
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.02)

    def reset(self) -> None:
        """Forget this namespace's runtime scenarios, counters and journal."""
        self.server.admin("POST", "reset", namespace=self.namespace)
