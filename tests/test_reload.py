"""Hot reload of scenario directories (watchfiles), and surviving a broken edit."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from understudy.pytest_plugin import serve_in_thread

FALLBACK = """
name: fallback
default: true
reply:
  content: "fallback"
"""

SUNNY = """
name: sunny
match:
  last_user_message: "(?i)weather"
reply:
  content: "{text}"
"""

BROKEN = """
name: sunny
match:
  last_user_message: "(?i)weather"
reply:
  content: "half saved
"""

TIMEOUT = 10.0


def ask(base_url: str, text: str = "How is the weather?") -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body)
    return response.json()["choices"][0]["message"]["content"]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def failed_reloads(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "reload failed" in r.getMessage()]


def test_new_file_is_picked_up_and_a_broken_edit_is_survived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="understudy.reload")
    (tmp_path / "fallback.yaml").write_text(FALLBACK)
    with serve_in_thread([str(tmp_path)]) as base_url:
        assert ask(base_url) == "fallback"

        (tmp_path / "nested").mkdir()
        sunny = tmp_path / "nested" / "sunny.yaml"
        sunny.write_text(SUNNY.format(text="sunny v1"))
        eventually(lambda: ask(base_url) == "sunny v1", "the new file to be served")

        sunny.write_text(BROKEN)
        eventually(lambda: bool(failed_reloads(caplog)), "the broken edit to be reported")
        [record] = failed_reloads(caplog)
        assert record.levelno == logging.ERROR
        assert f"{sunny}:" in record.getMessage() and "invalid YAML" in record.getMessage()
        # The previous good catalog still answers.
        assert ask(base_url) == "sunny v1"
        assert ask(base_url, "anything else") == "fallback"

        sunny.write_text(SUNNY.format(text="sunny v2"))
        eventually(lambda: ask(base_url) == "sunny v2", "the fixed file to be served")

        sunny.unlink()
        eventually(lambda: ask(base_url) == "fallback", "the deleted file to be dropped")


def test_invalid_catalog_keeps_previous_and_runtime_scenarios_survive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="understudy.reload")
    (tmp_path / "fallback.yaml").write_text(FALLBACK)
    with serve_in_thread([str(tmp_path)]) as base_url:
        added = httpx.post(
            f"{base_url}/_understudy/scenarios",
            json={"name": "pinned", "match": {"contains": "pin"}, "reply": {"content": "pinned"}},
        )
        assert added.status_code == 201
        # A duplicate name across files makes the whole catalog invalid.
        (tmp_path / "twin.yaml").write_text(FALLBACK.replace('"fallback"', '"twin"'))
        (tmp_path / "marker.yaml").write_text(SUNNY.format(text="after recovery"))
        eventually(lambda: bool(failed_reloads(caplog)), "the duplicate to be reported")
        assert "duplicate scenario name 'fallback'" in failed_reloads(caplog)[-1].getMessage()
        assert ask(base_url) == "fallback"
        (tmp_path / "twin.yaml").unlink()
        eventually(lambda: ask(base_url) == "after recovery", "the catalog to recover")
        assert ask(base_url, "pin it") == "pinned"


def test_single_file_is_watched_through_its_folder(tmp_path: Path) -> None:
    scenario = tmp_path / "only.yaml"
    scenario.write_text(FALLBACK)
    (tmp_path / "ignored.yaml").write_text(SUNNY.format(text="not in the catalog"))
    with serve_in_thread([str(scenario)]) as base_url:
        assert ask(base_url) == "fallback"
        replacement = tmp_path / "only.yaml.tmp"
        replacement.write_text(FALLBACK.replace('"fallback"', '"edited"'))
        replacement.replace(scenario)  # how many editors save
        eventually(lambda: ask(base_url) == "edited", "the edited file to be served")
        assert ask(base_url) == "edited"


def test_no_reload_when_disabled(serve: Callable[..., str], tmp_path: Path) -> None:
    base_url = serve(FALLBACK, reload=False)
    folder = next(p for p in tmp_path.iterdir() if p.name.startswith("scenarios"))
    (folder / "sunny.yaml").write_text(SUNNY.format(text="sunny"))
    time.sleep(1.0)
    assert ask(base_url) == "fallback"
