"""Scenario text cannot take the server down: alias bombs, huge bodies, odd tags, deep
nesting. Each is a scenario error with file:line (never a traceback or a 500), and the
hot-reload watcher survives all of them and says so in ``/health``.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import run_server
from tests.responsive import HealthProbe
from understudy.pytest_plugin import free_port
from understudy.settings import Settings

FALLBACK = "name: fallback\ndefault: true\nreply: {content: fallback}\n"
SUNNY = "name: sunny\nmatch: {last_user_message: weather}\nreply: {content: '{text}'}\n"
LOL = ",".join(['"lol"'] * 9)
BOMB = (
    "name: bomb\n"
    f"a: &a [{LOL}]\n"
    + "".join(
        f"{name}: &{name} [{','.join(['*' + previous] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "reply: {content: *i}\n"
)
"""Nine levels of nine aliases: 9^9 (387 million) strings once expanded, in 400 bytes."""
PYTHON_TAG = "name: evil\nreply:\n  content: !!python/name:os.system\n"
DEEP = "name: deep\nreply:\n  content: " + "[" * 500 + "]" * 500 + "\n"
BAD_FILES = {
    "python-tag": (PYTHON_TAG, 3, "YAML tag !!python/name:os.system is not allowed"),
    "deep": (DEEP, 3, "nested deeper than 64 levels"),
    "bomb": (BOMB, 3, "YAML aliases are not allowed"),
}
QUICK = 1.0


def rss_bytes() -> int:
    """This process's resident memory: the in-process server's included."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def post_scenarios(base_url: str, body: str | bytes, content_type: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/_understudy/scenarios",
        content=body,
        headers={"content-type": content_type},
        timeout=30,
    )


def ask(base_url: str, text: str = "How is the weather?") -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body)
    return response.json()["choices"][0]["message"]["content"]


def health(base_url: str) -> dict:
    return httpx.get(f"{base_url}/health").json()


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def folder_of(tmp_path: Path) -> Path:
    """The scenario folder the ``serve`` fixture wrote (and the server watches)."""
    return next(path for path in tmp_path.iterdir() if path.name.startswith("scenarios"))


# --- admin bodies ----------------------------------------------------------------------


def test_an_alias_bomb_is_refused_at_once_and_costs_no_memory(serve: Callable[..., str]) -> None:
    base_url = serve(FALLBACK)
    before = rss_bytes()
    with HealthProbe(base_url) as probe:
        started = time.perf_counter()
        response = post_scenarios(base_url, BOMB, "application/yaml")
        elapsed = time.perf_counter() - started
    grown = rss_bytes() - before
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        "<request>:3: YAML aliases are not allowed: write the value out in full"
    ]
    assert elapsed < QUICK
    assert grown < 50 * 1024 * 1024, f"RSS grew {grown / 2**20:.0f} MiB"
    probe.assert_responsive(minimum_polls=1)
    assert ask(base_url) == "fallback"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (PYTHON_TAG, "<request>:3: YAML tag !!python/name:os.system is not allowed"),
        ("name: x\nreply: !foo {content: hi}\n", "<request>:2: YAML tag !foo is not allowed"),
        (DEEP, "<request>:3: nested deeper than 64 levels"),
        ("name: x\nreply: &r {content: *r}\n", "<request>:2: YAML aliases are not allowed"),
        ("name: 2024-13-45\nreply: {content: hi}\n", "<request>:1: cannot read '2024-13-45'"),
        ("name: x\nreply:\n  <<: {content: hi}\n", "<request>:3: YAML merge keys (<<)"),
        (
            "name: x\nreply:\n  tool_calls:\n    - name: f\n      arguments: '"
            + "[" * 100_000
            + "'\n",
            "<request>:5: reply.tool_calls[0].arguments: must be an object or a JSON string",
        ),
    ],
)
def test_hostile_yaml_bodies_are_400s_naming_the_line(
    serve: Callable[..., str], body: str, expected: str
) -> None:
    base_url = serve(FALLBACK)
    response = post_scenarios(base_url, body, "application/yaml")
    assert response.status_code == 400, response.text
    [detail] = response.json()["error"]["details"]
    assert detail.startswith(expected)


def test_json_bodies_are_parsed_as_json_and_keep_their_lines(serve: Callable[..., str]) -> None:
    base_url = serve(FALLBACK)
    tabs = '{\n\t"name":\t"tabbed",\n\t"reply": {\n\t\t"content": "from json"\n\t}\n}'
    assert post_scenarios(base_url, tabs, "application/json").status_code == 201

    wrong = '[\n\t{"name": "a", "reply": {"content": "x"}},\n\t{"name": "b",\n\t "reply": {\n\t\t"content": 5}}\n]'
    response = post_scenarios(base_url, wrong, "application/json; charset=utf-8")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        "<request>:5: reply.content: must be a string, a list of strings or {json: auto}"
    ]

    # YAML sent as JSON is not JSON: no YAML parser ever sees a JSON body.
    response = post_scenarios(base_url, "name: y\nreply: {content: hi}\n", "application/json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0].startswith("<request>:1: invalid JSON: ")

    deep = "[" * 500 + "]" * 500
    response = post_scenarios(base_url, deep, "application/json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == ["<request>:1: nested deeper than 64 levels"]


def raw_post(base_url: str, head: list[str], body_parts: list[bytes]) -> tuple[int, bytes]:
    """POST over a raw socket, sending only ``body_parts`` of the body; the answer's
    status and body. The server must answer without the rest."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        request = ["POST /_understudy/scenarios HTTP/1.1", f"host: {address.netloc}", *head]
        sock.sendall(("\r\n".join(request) + "\r\n\r\n").encode())
        for part in body_parts:
            sock.sendall(part)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        header, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
        return int(header.split()[1]), body


def test_an_oversized_admin_body_is_413_before_it_is_read(serve: Callable[..., str]) -> None:
    base_url = serve(FALLBACK)
    two_mib = 2 * 1024 * 1024
    # Declared: refused on the header alone, none of the body sent.
    status, body = raw_post(
        base_url, ["content-type: application/yaml", f"content-length: {two_mib}"], []
    )
    assert status == 413
    error = httpx.Response(413, content=body).json()["error"]
    assert "1048576 bytes" in error["message"] and error["details"] == []

    # Chunked, no length: refused once just over the limit has arrived.
    chunk = b"#" * 65536
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    status, body = raw_post(
        base_url,
        ["content-type: application/yaml", "transfer-encoding: chunked"],
        [framed] * 17,  # 1 MiB + 64 KiB of a 2 MiB body
    )
    assert status == 413
    assert (
        "UNDERSTUDY_MAX_ADMIN_BODY_BYTES"
        in httpx.Response(413, content=body).json()["error"]["message"]
    )

    # Through a client, the whole 2 MiB: the same 413, and the server still serves.
    response = post_scenarios(base_url, b"#" * two_mib, "application/yaml")
    assert response.status_code == 413
    assert ask(base_url) == "fallback"


def test_the_admin_body_limit_is_a_setting(serve: Callable[..., str]) -> None:
    base_url = serve(FALLBACK, max_admin_body_bytes=64)
    small = "name: s\nreply: {content: s}\n"
    assert post_scenarios(base_url, small, "application/yaml").status_code == 201
    big = small + "#" * 64
    assert post_scenarios(base_url, big, "application/yaml").status_code == 413


# --- hot reload ------------------------------------------------------------------------


def test_the_watcher_survives_hostile_files_and_reports_them(
    serve: Callable[..., str], tmp_path: Path
) -> None:
    base_url = serve(FALLBACK)
    report = health(base_url)
    assert report["status"] == "ok"
    assert report["reload"]["state"] == "watching"
    assert report["reload"]["last_error"] is None
    started = report["reload"]["last_reload"]

    edited = folder_of(tmp_path) / "edited.yaml"
    for name, (text, line, problem) in BAD_FILES.items():
        edited.write_text(text)
        expected = f"{edited}:{line}: {problem}"
        eventually(
            lambda expected=expected: (health(base_url)["reload"]["last_error"] or "").startswith(
                expected
            ),
            f"/health to report the {name} file",
        )
        report = health(base_url)
        assert report["status"] == "degraded"
        assert report["reload"]["state"] == "watching"
        assert report["reload"]["last_reload"] == started
        assert ask(base_url) == "fallback"  # the previous catalog still serves

    edited.write_text(SUNNY.replace("{text}", "sunny after all"))
    eventually(lambda: ask(base_url) == "sunny after all", "the valid edit to be served")
    report = health(base_url)
    assert report["status"] == "ok"
    assert report["reload"]["last_error"] is None
    assert report["reload"]["last_reload"] > started


def test_a_watched_folder_deleted_and_made_again_is_watched_again(
    serve: Callable[..., str], tmp_path: Path
) -> None:
    base_url = serve(FALLBACK)
    folder = folder_of(tmp_path)
    shutil.rmtree(folder)
    eventually(lambda: health(base_url)["reload"]["state"] == "failed", "the watcher to fail")
    assert health(base_url)["status"] == "degraded"
    assert ask(base_url) == "fallback"

    folder.mkdir()
    (folder / "s0.yaml").write_text(FALLBACK.replace("{content: fallback}", "{content: back}"))
    eventually(lambda: ask(base_url) == "back", "the new folder to be loaded")
    eventually(lambda: health(base_url)["reload"]["state"] == "watching", "watching again")
    (folder / "s1.yaml").write_text(SUNNY.replace("{text}", "sunny again"))
    eventually(lambda: ask(base_url) == "sunny again", "a later edit to be served")
    assert health(base_url)["status"] == "ok"


def test_a_watched_folder_moved_away_with_its_parent_is_noticed(tmp_path: Path) -> None:
    """Moving the folder's parent reports no event on the folder itself: the watcher
    still notices within about a second that it watches nothing, and recovers."""
    parent = tmp_path / "project"
    folder = parent / "scenarios"
    folder.mkdir(parents=True)
    (folder / "s0.yaml").write_text(FALLBACK)
    with run_server(Settings(scenarios=[str(folder)])) as base_url:
        assert health(base_url)["reload"]["state"] == "watching"
        parent.rename(tmp_path / "moved")
        eventually(lambda: health(base_url)["reload"]["state"] == "failed", "the watcher to fail")
        assert ask(base_url) == "fallback"

        (tmp_path / "moved").rename(parent)
        (folder / "s0.yaml").write_text(FALLBACK.replace("{content: fallback}", "{content: back}"))
        eventually(lambda: ask(base_url) == "back", "the folder to be loaded again")
        eventually(lambda: health(base_url)["reload"]["state"] == "watching", "watching again")
        assert health(base_url)["status"] == "ok"


def test_health_says_when_reload_is_off(serve: Callable[..., str]) -> None:
    report = health(serve(FALLBACK, reload=False))
    assert report["status"] == "ok"
    assert report["reload"]["state"] == "off"


# --- the command line ------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "understudy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_validate_and_serve_list_the_problem_without_a_traceback(name: str, tmp_path: Path) -> None:
    text, line, problem = BAD_FILES[name]
    bad = tmp_path / f"{name}.yaml"
    bad.write_text(text)
    (tmp_path / "fine.yaml").write_text(FALLBACK)

    validated = run("validate", str(tmp_path))
    assert validated.returncode == 1
    assert validated.stderr.startswith(f"{bad}:{line}: {problem}")
    assert "Traceback" not in validated.stderr

    served = run("serve", "--port", str(free_port()), "--scenarios", str(tmp_path))
    assert served.returncode == 2
    assert f"{bad}:{line}: {problem}" in served.stderr
    assert "Traceback" not in served.stderr
