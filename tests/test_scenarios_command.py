"""``understudy scenarios [PATH...]``: the catalog a server would serve, in matching order."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BUNDLED
from understudy.cli import main

TOOLS = """\
# an agent loop
name: weather
match:
  api: chat
  model: "gpt-4*"
  tools: get_weather
reply: {content: sunny}
"""
MORE = """\
name: team
match:
  headers: {x-team: "^red$"}
  turn: {min: 1}
  last_user_message: "hello there"
reply: {content: hi}
---
name: fallback
default: true
reply: {content: fallback}
---
name: anything
reply: {content: anything}
"""


def listing(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    status = main(["scenarios", *args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def test_lists_name_match_source_and_the_default_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(TOOLS)
    (tmp_path / "b.yaml").write_text(MORE)
    status, lines, err = listing(capsys, str(tmp_path))
    assert (status, err) == (0, "")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    rows = [line.split() for line in lines[1:-1]]
    assert lines[0].split() == ["NAME", "MATCH", "SOURCE"]
    assert rows == [
        ["weather", "api=chat", "model=gpt-4*", "tools=get_weather", f"{a}:2"],
        [
            "team",
            'last_user_message="hello',
            'there"',  # a value with a space is quoted
            "headers.x-team=^red$",
            "turn>=1",
            f"{b}:1",
        ],
        ["anything", "any", "request", f"{b}:12"],
        # The default answers only what nothing else matches: listed last, marked.
        ["fallback", "(default)", "when", "nothing", "else", "matches", f"{b}:8"],
    ]
    assert lines[-1] == "4 scenarios, matched in this order; a request none matches gets 'fallback'"


def test_without_paths_lists_the_settings_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNDERSTUDY_SCENARIOS", raising=False)
    status, lines, _ = listing(capsys)
    assert status == 0
    assert lines[-1].startswith(f"{len(lines) - 2} scenarios, matched in this order;")
    assert all(str(BUNDLED) in line for line in lines[1:-1])

    (tmp_path / "a.yaml").write_text(TOOLS)
    monkeypatch.setenv("UNDERSTUDY_SCENARIOS", str(tmp_path))
    status, lines, _ = listing(capsys)
    assert status == 0
    assert [line.split()[0] for line in lines[1:-1]] == ["weather"]
    assert lines[-1].endswith("a request none matches gets a 404 (no default)")


def test_a_bad_file_exits_1_with_file_line_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nreply: {content: hi, bogus: 1}\n")
    status, lines, err = listing(capsys, str(bad))
    assert (status, lines) == (1, [])
    assert err == f"{bad}:2: reply.bogus: unknown field\n"


def test_a_name_used_twice_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_text(TOOLS)
    (tmp_path / "b.yaml").write_text(TOOLS)
    status, _, err = listing(capsys, str(tmp_path))
    assert status == 1
    assert f"{tmp_path / 'b.yaml'}:2: name: duplicate scenario name 'weather'" in err


def test_an_empty_folder_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, err = listing(capsys, str(tmp_path))
    assert (status, lines, err) == (
        1,
        [],
        f"no scenario files in {tmp_path} (*.yaml, *.yml or *.json)\n",
    )


def test_the_real_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "understudy", "scenarios", str(BUNDLED)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert "default (default)" in result.stdout.splitlines()[-2]
    assert "weather-call" in result.stdout
