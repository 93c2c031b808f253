"""Errors that teach: each mistake a new user makes, through the command they run.

``understudy validate`` (and ``serve`` for chaos and engine profiles) as a real process:
the exit status, and the one line that says where the mistake is and what to write.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_logging import serving
from understudy.scenarios import ScenarioError, load_text


def understudy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "understudy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )


def validate(tmp_path: Path, text: str | bytes) -> tuple[int, str, Path]:
    path = tmp_path / "t.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    result = understudy("validate", str(path))
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr, path


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (  # YAML 1.1 reads no, yes, on, off (any of three casings) as booleans
            "name: t\nreply:\n  content: no\n",
            "t.yaml:3: reply.content: must be a string, a list of strings or {json: auto}; "
            'YAML reads no as false, so quote it: "no"',
        ),
        (
            "name: t\nreply:\n  content: hi\n  refusal: On\n",
            't.yaml:4: reply.refusal: must be text; YAML reads On as true, so quote it: "On"',
        ),
        (
            "name: 123\nreply: {content: hi}\n",
            't.yaml:1: name: must be text; YAML reads 123 as a number, so quote it: "123"',
        ),
        (
            "name: t\nmatch: {model: 1.10}\nreply: {content: hi}\n",
            "t.yaml:2: match.model: must be text; YAML reads 1.10 as the number 1.1, so quote "
            'it: "1.10"',
        ),
        (  # the text would not do either: no quoting hint
            "name: t\nmatch: {turn: yes}\nreply: {content: hi}\n",
            "t.yaml:2: match.turn: must be a whole number or {min, max}",
        ),
        (
            "name: t\nreply:\n  content: hi\n  fault: {kind: disconnect, after_events: two}\n",
            "t.yaml:4: reply.fault[0].after_events: must be a whole number or {min, max}",
        ),
        (
            "name: t\nreply:\n  content: hi\n  delivery: {jitter: fast}\n",
            "t.yaml:4: reply.delivery.jitter: must be a number (ms, uniform) or "
            "{distribution, ms, min_ms, max_ms}",
        ),
        (
            "name: t\nreply:\n  content: hi\n  usage: 5\n",
            "t.yaml:4: reply.usage: must be a mapping",
        ),
        (
            "name: t\nreply:\n  content: hi\n  delivery:\n    tokens_per_sec: 30\n",
            "t.yaml:5: reply.delivery.tokens_per_sec: unknown field; did you mean "
            "`tokens_per_second`?",
        ),
        (
            "name: t\nreplis:\n  - content: hi\n",
            "t.yaml:2: replis: unknown field; did you mean `replies`?",
        ),
        (
            "name: t\nmatch:\n  headers:\n    x-team: '(qa'\nreply: {content: hi}\n",
            "t.yaml:4: match.headers.x-team: not a valid RE2 regular expression: missing ): (qa",
        ),
    ],
)
def test_a_bad_scenario_says_where_and_what_to_write(tmp_path: Path, text: str, line: str) -> None:
    status, stderr, path = validate(tmp_path, text)
    assert status == 1
    assert stderr.splitlines() == [f"{path.parent}/{line}"]
    for internal in ("EventRange", "JitterSpec", "UsageSpec", "TurnRange", "instance of"):
        assert internal not in stderr


README_FILES = {
    "default.yaml": "# the catalog's fallback\nname: default\ndefault: true\nreply: {content: Hi}\n",
    "mine.yaml": """name: 123
reply: {content: hi}
---
name: polite-no
match: {last_user_message: "(?i)can you"}
reply:
  content: no
---
name: cut-short
reply:
  content: "This will not get far."
  fault: {kind: disconnect, after_events: two}
---
name: slow
reply:
  content: "Slow."
  delivery: {tokens_per_sec: 5}
""",
    "more.yaml": "name: fallback\ndefault: true\nreply: {content: Sorry?}\n",
}


def test_the_readme_example_is_what_validate_prints(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    for name, text in README_FILES.items():
        (tmp_path / "scenarios" / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "understudy", "validate", "scenarios/"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"$ understudy validate scenarios/\n{result.stderr}```" in readme, result.stderr


def test_hints_cost_one_more_read_however_many_errors() -> None:
    """The quoting hints read the text a second time, once: 5,000 bad scenarios in one
    admin body take about as long as 5,000 good ones, not 5,000 reads of the body."""
    bad = "".join(f"- name: s{i}\n  reply: {{content: no}}\n" for i in range(5000))
    started = time.perf_counter()
    with pytest.raises(ScenarioError) as caught:
        load_text(bad, "<request>")
    elapsed = time.perf_counter() - started
    problems = caught.value.problems
    assert len(problems) == 5000
    assert problems[0].endswith('YAML reads no as false, so quote it: "no"')
    assert problems[-1] == (  # past the first 1,000 unusual scalars, no hint
        "<request>:10000: reply.content: must be a string, a list of strings or {json: auto}"
    )
    assert elapsed < 10, elapsed  # about 0.3 s; one read of the body per error: minutes


def test_yaml_reads_y_and_n_as_text_and_quoted_words_as_text() -> None:
    [scenario] = load_text("name: t\nreply: {content: y, refusal: 'no'}\n")
    assert (scenario.reply.content, scenario.reply.refusal) == ("y", "no")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    status, stderr, path = validate(tmp_path, b"name: t\nreply: {content: caf\xe9}\n")
    assert status == 1
    assert stderr == f"{path}:2: not UTF-8 text: invalid continuation byte\n"


def test_a_missing_path_says_so_with_no_line(tmp_path: Path) -> None:
    missing = tmp_path / "scenarios" / "missing.yaml"
    result = understudy("validate", str(missing))
    assert result.returncode == 1
    assert result.stderr == f"{missing}: no such file or folder\n"


def test_a_folder_without_scenario_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a scenario")
    for command in ("validate", "scenarios"):
        result = understudy(command, str(tmp_path))
        assert result.returncode == 1, command
        assert result.stderr == f"no scenario files in {tmp_path} (*.yaml, *.yml or *.json)\n"
        assert result.stdout == ""


def test_files_without_scenarios_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    result = understudy("validate", str(tmp_path))
    assert (result.returncode, result.stderr) == (1, f"no scenarios in {tmp_path}\n")


def test_two_default_scenarios_are_refused_naming_both(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: first\ndefault: true\nreply: {content: a}\n")
    (tmp_path / "b.yaml").write_text(
        "name: other\nreply: {content: b}\n---\nname: second\ndefault: true\nreply: {}\n"
    )
    result = understudy("validate", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        f"{tmp_path / 'b.yaml'}:5: default: 'second' is a second default scenario; 'first' "
        f"is one already ({tmp_path / 'a.yaml'}:2): only one scenario may answer what "
        "nothing else matches\n"
    )
    served = understudy("serve", "--port", "1", "--scenarios", str(tmp_path))
    assert served.returncode == 2
    assert "'second' is a second default scenario" in served.stderr


@pytest.mark.parametrize(
    ("option", "text", "line"),
    [
        (
            "--chaos",
            "probabilty: 0.5\nfaults: [rate_limit]\n",
            "p.yaml:1: probabilty: unknown field; did you mean `probability`?",
        ),
        (
            "--chaos",
            "chaos:\n  faults:\n    - {kind: disconect, after_events: 2}\n",
            "p.yaml:3: chaos.faults[0].fault[0].kind: Input should be 'error_event', "
            "'disconnect', 'truncate', 'stall' or 'malformed'",
        ),
        (
            "--chaos",
            "faults:\n  - error: {preset: rate_limit, should_retry: yes please}\n",
            "p.yaml:2: faults[0].error.should_retry: Input should be a valid boolean, unable "
            "to interpret input",
        ),
        (
            "--engine",
            "engine:\n  max_runing: 2\n",
            "p.yaml:2: engine.max_runing: unknown field; did you mean `max_running`?",
        ),
        (
            "--engine",
            "max_running: 2\n---\nmax_running: 3\n",
            "p.yaml:3: an engine profile is one document; this is a second",
        ),
    ],
)
def test_a_bad_profile_is_reported_like_a_scenario(
    tmp_path: Path, option: str, text: str, line: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    result = understudy("serve", "--port", "1", option, str(path))
    what = option.removeprefix("--")
    assert result.returncode == 2
    assert result.stderr == f"understudy: invalid {what} profile:\n{tmp_path}/{line}\n"


def test_serving_no_scenarios_is_a_warning_at_start_up(tmp_path: Path) -> None:
    with serving(tmp_path, scenarios="# scenarios come later\n") as server:
        warning = server.wait_for(lambda line: " WARNING understudy: " in line, "a warning")
    folder = tmp_path / "scenarios"
    assert warning.endswith(
        f" WARNING understudy: no scenarios in {folder}: every model request gets a 404 "
        "until scenarios are added (scenario files there, or POST /_understudy/scenarios)"
    )
