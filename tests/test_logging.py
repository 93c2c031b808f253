"""Logs a user can follow: ``understudy serve`` run as a real process, its stderr read back.

One start-up line, one line per model request when asked, reload success and failure as
records with time, level and logger, JSON lines on request, and a clean exit on a second
Ctrl-C.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.test_cli import wait_healthy
from understudy._version import __version__
from understudy.pytest_plugin import free_port

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<msg>.*)$"
)
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-this-must-never-be-logged-1234"

SCENARIOS = """
name: slow
match: {last_user_message: slow}
delivery: {tokens_per_second: 20}
reply: {content: "one two three four five six seven eight nine ten eleven twelve thirteen"}
---
name: cut
match: {last_user_message: cut}
reply:
  content: "one two three four five six"
  fault: {kind: disconnect, after_events: 2}
---
name: fallback
default: true
reply: {content: "hello there"}
"""


class Server:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def wait_for(self, found: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        """The first log line for which ``found`` holds, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if found(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no log line {what}:\n{self.text()}")

    def chat(self, text: str, **extra: object) -> httpx.Response:
        body = {**CHAT, "messages": [{"role": "user", "content": text}], **extra}
        return httpx.post(
            f"{self.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {SECRET}", "X-Understudy-Namespace": "ns-1"},
            timeout=10,
        )


@contextmanager
def serving(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, scenarios: str = SCENARIOS
) -> Iterator[Server]:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    (folder / "catalog.yaml").write_text(scenarios, encoding="utf-8")
    log = tmp_path / "stderr.log"
    port = free_port()
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "understudy", "serve", "--port", str(port), *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "UNDERSTUDY_SCENARIOS": str(folder), **(env or {})},
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_healthy(server.url, process)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def request_lines(server: Server) -> list[str]:
    return [line for line in server.lines() if " understudy.requests: " in line]


def test_start_up_line_and_one_format_for_every_record(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        assert server.chat("hi").status_code == 200
        line = server.wait_for(lambda line: " understudy: " in line, "from logger understudy")
        folder = tmp_path / "scenarios"
        assert TEXT_LINE.match(line), line
        assert line.endswith(
            f" INFO understudy: understudy {__version__} serving 3 scenarios from {folder} "
            f"on {server.url}"
        )
        server.wait_for(lambda line: "Uvicorn running on" in line, "from uvicorn")
    lines = server.lines()
    # uvicorn's records come in the same format: time, level, logger name.
    assert all(TEXT_LINE.match(line) for line in lines), lines
    assert any(" INFO uvicorn.error: Uvicorn running on " in line for line in lines)
    # At the default level no request is logged.
    assert request_lines(server) == []


def test_one_line_per_model_request_with_log_requests(tmp_path: Path) -> None:
    with serving(tmp_path, "--log-requests") as server:
        assert server.chat("hi").status_code == 200
        assert server.chat("hi", stream=True).status_code == 200
        with httpx.stream(
            "POST",
            f"{server.url}/v1/chat/completions",
            json={**CHAT, "stream": True, "messages": [{"role": "user", "content": "slow"}]},
            headers={"x-api-key": SECRET},
        ) as stream:
            lines = stream.iter_lines()
            next(line for line in lines if line.startswith("data:"))
            next(line for line in lines if line.startswith("data:"))
        with pytest.raises(httpx.RemoteProtocolError):
            server.chat("cut", stream=True)
        no_match = httpx.post(f"{server.url}/v1/messages", json={"model": "m"})
        assert no_match.status_code == 400
        server.wait_for(lambda line: "stream: client left" in line, "for the client that left")
        server.wait_for(lambda line: "/v1/messages 400" in line, "for the bad request")
    found = request_lines(server)
    assert len(found) == 5, found
    matches = [TEXT_LINE.match(line) for line in found]
    assert all(m and (m["level"], m["logger"]) == ("INFO", "understudy.requests") for m in matches)
    plain, completed, left, cut, invalid = matches
    assert plain and re.fullmatch(
        r"POST /v1/chat/completions 200 namespace=ns-1 scenario=fallback: total [\d.]+ ms",
        plain["msg"],
    )
    assert completed and re.fullmatch(
        r"POST /v1/chat/completions 200 namespace=ns-1 scenario=fallback: "
        r"stream: completed \(\d+ events\), ttft [\d.]+ ms, total [\d.]+ ms",
        completed["msg"],
    )
    assert left and re.fullmatch(
        r"POST /v1/chat/completions 200 namespace=- scenario=slow: "
        r"stream: client left after \d+ events?, ttft [\d.]+ ms, total [\d.]+ ms",
        left["msg"],
    )
    assert cut and re.fullmatch(
        r'POST /v1/chat/completions 200 namespace=ns-1 scenario=cut fault="[^"]+": '
        r"stream: cut by fault after \d+ events, ttft [\d.]+ ms, total [\d.]+ ms",
        cut["msg"],
    )
    assert invalid and invalid["msg"].startswith("POST /v1/messages 400 namespace=- scenario=-:")
    assert "never-be-logged" not in server.text()


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--log-level", "debug"), {}), ((), {"UNDERSTUDY_LOG_REQUESTS": "1"})],
    ids=["debug", "environment"],
)
def test_requests_are_logged_at_debug_and_by_environment(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    with serving(tmp_path, *args, env=env) as server:
        assert server.chat("hi").status_code == 200
        line = server.wait_for(lambda line: " understudy.requests: " in line, "for the request")
    assert "INFO understudy.requests: POST /v1/chat/completions 200 namespace=ns-1" in line


def test_json_lines_with_the_request_fields_as_keys(tmp_path: Path) -> None:
    env = {"UNDERSTUDY_LOG_FORMAT": "json", "UNDERSTUDY_LOG_REQUESTS": "1"}
    with serving(tmp_path, env=env) as server:
        assert server.chat("hi", stream=True).status_code == 200
        server.wait_for(lambda line: "understudy.requests" in line, "for the request")
    records = [json.loads(line) for line in server.lines()]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", record["time"]) for record in records)
    by_logger = {record["logger"]: record for record in records}
    assert by_logger["uvicorn.error"]["level"] == "INFO"  # uvicorn's own records too
    start = by_logger["understudy"]
    assert (start["version"], start["scenarios"], start["url"]) == (__version__, 3, server.url)
    assert start["sources"] == [str(tmp_path / "scenarios")]
    request = by_logger["understudy.requests"]
    assert request["level"] == "INFO"
    assert request["message"].startswith("POST /v1/chat/completions 200 namespace=ns-1")
    assert {
        key: request[key]
        for key in ("api", "method", "path", "status", "namespace", "scenario", "stream")
    } == {
        "api": "chat",
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "namespace": "ns-1",
        "scenario": "fallback",
        "stream": True,
    }
    assert request["outcome"] == "completed"
    assert request["events"] > 2
    assert request["ttft_ms"] >= 0 and request["duration_ms"] >= request["ttft_ms"]
    assert request["request_id"].startswith(("req_", "chatcmpl"))
    assert "never-be-logged" not in server.text()


def test_reload_success_and_failure_are_records_with_level_and_logger(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        catalog = tmp_path / "scenarios" / "catalog.yaml"
        catalog.write_text("name: broken\nreply: {content: hi, bogus: 1}\n", encoding="utf-8")
        failed = server.wait_for(lambda line: "reload failed" in line, "for the failed reload")
        match = TEXT_LINE.match(failed)
        assert match and (match["level"], match["logger"]) == ("ERROR", "understudy.reload")
        # The problem follows on the next line, with its file:line.
        lines = server.lines()
        assert lines[lines.index(failed) + 1] == f"{catalog}:2: reply.bogus: unknown field"

        catalog.write_text(SCENARIOS.replace("fallback", "fixed"), encoding="utf-8")
        done = server.wait_for(lambda line: " reloaded " in line, "for the reload")
        assert done.endswith(
            f" INFO understudy.reload: reloaded 3 scenarios from {tmp_path / 'scenarios'}"
        )
        assert server.lines()[-1] == done  # after the fix, the last word is the success
        assert server.chat("hi").json()["choices"][0]["message"]["content"] == "hello there"


def test_reload_failure_as_json_carries_the_problems(tmp_path: Path) -> None:
    with serving(tmp_path, "--log-format", "json") as server:
        catalog = tmp_path / "scenarios" / "catalog.yaml"
        catalog.write_text("name: broken\nreply: {content: hi, bogus: 1}\n", encoding="utf-8")
        line = server.wait_for(lambda line: "reload failed" in line, "for the failed reload")
    record = json.loads(line)
    assert (record["level"], record["logger"]) == ("ERROR", "understudy.reload")
    assert record["problems"] == [f"{catalog}:2: reply.bogus: unknown field"]


def test_a_bad_log_level_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "understudy", "serve", "--log-level", "verbose"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "understudy serve: error: argument --log-level: invalid choice: 'verbose' "
        "(choose from 'critical', 'error', 'warning', 'info', 'debug', 'trace')"
    ]


def test_ctrl_c_twice_during_a_stream_exits_cleanly(tmp_path: Path) -> None:
    """The first Ctrl-C waits for the open stream, the second forces the exit: one
    warning line, no traceback."""
    slow = "name: slow\ndefault: true\ndelivery: {tokens_per_second: 4}\n"
    slow += "reply: {content: " + " ".join(["word"] * 40) + "}\n"
    with serving(tmp_path, scenarios=slow) as server:
        received: list[str] = []

        def read() -> None:
            try:
                with httpx.stream(
                    "POST", f"{server.url}/v1/chat/completions", json={**CHAT, "stream": True}
                ) as response:
                    received.extend(response.iter_lines())
            except httpx.HTTPError as exc:
                received.append(repr(exc))

        reader = threading.Thread(target=read)
        reader.start()
        server.wait_for(lambda line: "Uvicorn running" in line, "for the server")
        time.sleep(1.0)
        server.process.send_signal(signal.SIGINT)
        server.wait_for(lambda line: "Waiting for connections to close" in line, "for draining")
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=15) == 0
        reader.join(timeout=15)
    text = server.text()
    assert "Traceback" not in text and "CancelledError" not in text, text
    assert server.lines()[-1].endswith(
        " WARNING understudy: forced exit: open requests were cut off"
    )
    assert any(line.startswith("data:") for line in received)  # the stream was open
