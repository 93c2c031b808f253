"""README.md's complete example test, copied verbatim and run the two ways the README runs it.

Plain ``python -m pytest`` (the plugin starts a server in-process), and ``pytest
--understudy-url`` against a server started as the README's CI recipes start the
container: with ``--time-scale 0``, so no scripted delay is left. The example must pass
both ways; its stream-abandoning test once passed only the first.
"""

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import child_environment, serve_process

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = "test_checkout_assistant.py"


def readme_example() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    [example] = [block for block in blocks if block.startswith(f"# {EXAMPLE}\n")]
    return example


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / EXAMPLE).write_text(readme_example(), encoding="utf-8")
    return tmp_path


def run_example(project: Path, *args: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = f"{run.stdout}\n{run.stderr}"
    tests = len(re.findall(r"^def test_", readme_example(), re.M))
    assert tests >= 2
    assert run.returncode == 0, output
    assert re.search(rf"\b{tests} passed\b", run.stdout), output
    assert not re.search(r"\b(failed|errors?|skipped|warnings?)\b", run.stdout), output


def test_the_example_passes_in_process(project: Path) -> None:
    run_example(project)


def test_the_example_passes_against_a_time_scale_zero_server(project: Path) -> None:
    with serve_process("--time-scale", "0", "--no-reload") as url:
        # The premise: a scripted 5 s time to first token takes no time on this server.
        scenario = {"name": "slow", "default": True, "delivery": {"ttft_ms": 5000}}
        headers = {"X-Understudy-Namespace": "premise"}
        httpx.post(
            f"{url}/_understudy/scenarios",
            json={**scenario, "reply": {"content": "late"}},
            headers=headers,
        ).raise_for_status()
        started = time.monotonic()
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers=headers,
        )
        assert reply.json()["choices"][0]["message"]["content"] == "late"
        assert time.monotonic() - started < 2.5

        run_example(project, f"--understudy-url={url}")
