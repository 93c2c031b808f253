"""The ``understudy`` command as a user runs it: real processes, real exit codes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import BUNDLED
from understudy.pytest_plugin import free_port

UNDERSTUDY = shutil.which("understudy")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "understudy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_validate_bundled_scenarios_exits_zero() -> None:
    result = run("validate", str(BUNDLED))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")


def test_validate_bad_file_exits_nonzero_naming_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "tools.yaml"
    bad.write_text("name: t\nreply:\n  tool_calls:\n    - name: f\n      arguments: 5\n")
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{bad}:5: reply.tool_calls[0].arguments: must be an object or a JSON string"
    )
    assert "Traceback" not in result.stderr


def test_schema_prints_the_json_schema() -> None:
    result = run("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "Understudy scenario file"
    assert {"name", "match", "reply", "replies"} <= set(schema["$defs"]["Scenario"]["properties"])
    one = json.loads(run("schema", "--kind", "scenario").stdout)
    assert one["title"] == "Understudy scenario"
    assert {"name", "match", "reply", "replies"} <= set(one["properties"])
    assert (
        json.loads(run("schema", "--kind", "chaos").stdout)["title"] == "Understudy chaos profile"
    )
    assert (
        json.loads(run("schema", "--kind", "engine").stdout)["title"] == "Understudy engine profile"
    )


def test_serve_refuses_to_start_on_a_bad_catalog(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: x\nreply: {content: hi, bogus: 1}\n")
    result = run("serve", "--port", str(free_port()), "--scenarios", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:2: reply.bogus: unknown field" in result.stderr
    assert "Traceback" not in result.stderr


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("server did not become healthy")


@pytest.mark.parametrize("command", ["module", "console-script"])
def test_serve_starts_answers_and_stops_on_sigterm(command: str, tmp_path: Path) -> None:
    if command == "console-script":
        assert UNDERSTUDY, "the understudy console script is installed with the project"
        argv = [UNDERSTUDY]
    else:
        argv = [sys.executable, "-m", "understudy"]
    port = free_port()
    process = subprocess.Popen(
        [*argv, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "UNDERSTUDY_SCENARIOS": ""},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.status_code == 200
        content = response.json()["choices"][0]["message"]["content"]
        assert content.startswith("Hello! I am Understudy")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    # A drained server exits 0 on a plain host too, not with uvicorn's re-raised SIGTERM.
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def test_environment_variables_configure_serve(tmp_path: Path) -> None:
    (tmp_path / "only.yaml").write_text(
        "name: from-env\ndefault: true\nreply: {content: configured by env}\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "understudy", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "UNDERSTUDY_PORT": str(port),
            "UNDERSTUDY_SCENARIOS": str(tmp_path),
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.json()["choices"][0]["message"]["content"] == "configured by env"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def serve_process(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "understudy", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "UNDERSTUDY_SCENARIOS": "", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process)
    return process, url


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--cors-origins", "http://localhost:3000", "https://app.example:8443"), {}),
        ((), {"UNDERSTUDY_CORS_ORIGINS": "http://localhost:3000, https://app.example:8443"}),
    ],
    ids=["flag", "environment"],
)
def test_real_origins_with_ports_are_allowed(args: tuple[str, ...], env: dict) -> None:
    """Origins hold ':', so they must not be split on it: a real origin is allowed, in a
    preflight and in a simple request, and a fragment of one ('http') is not."""
    process, url = serve_process(*args, env=env)
    chat = f"{url}/v1/chat/completions"
    try:
        for origin in ("http://localhost:3000", "https://app.example:8443"):
            preflight = httpx.options(
                chat,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,authorization",
                },
            )
            assert preflight.status_code == 200, preflight.text
            assert preflight.headers["access-control-allow-origin"] == origin
            simple = httpx.post(
                chat,
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Origin": origin},
            )
            assert simple.status_code == 200
            assert simple.headers["access-control-allow-origin"] == origin
        refused = httpx.options(
            chat, headers={"Origin": "http", "Access-Control-Request-Method": "POST"}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
