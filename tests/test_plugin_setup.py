"""The pytest plugin's options misused the ways a new user misuses them.

Each test runs a scratch project's pytest in a subprocess, as the user would, and reads
what the user would read: a wrong server URL or admin token stops the run before any test
with one ``ERROR:`` line and exit code 4 (pytest's usage error), never a ``URLError`` per
test; ``--understudy-scenarios`` next to a running server is a warning, not silence.
"""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ServerFactory, child_environment
from understudy.testing import free_port

ROOT = Path(__file__).resolve().parents[1]

PROJECT_TEST = """
def test_one(understudy):
    assert understudy.journal() == []


def test_two(understudy):
    assert understudy.scenarios()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_project.py").write_text(PROJECT_TEST, encoding="utf-8")
    return tmp_path


def run_pytest(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**child_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_stopped_with(run: subprocess.CompletedProcess, error: str) -> None:
    """Exit code 4 and exactly one line on stderr; no test ran, nothing on stdout."""
    output = f"{run.stdout}\n{run.stderr}"
    assert run.returncode == 4, output
    assert run.stderr.strip().splitlines() == [f"ERROR: {error}"], output
    assert not run.stdout.strip(), output
    assert "URLError" not in output and "Traceback" not in output


def test_a_wrong_url_stops_the_run_once_with_one_clear_error(project: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run = run_pytest(project, f"--understudy-url={url}")
    assert_stopped_with(
        run, f"cannot reach Understudy at {url} (--understudy-url): Connection refused"
    )


def test_the_error_names_the_environment_variable_the_url_came_from(project: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = run_pytest(project, env={"UNDERSTUDY_URL": url})
    assert_stopped_with(
        run, f"cannot reach Understudy at {url} (UNDERSTUDY_URL): Connection refused"
    )


def test_the_openai_base_url_instead_of_the_servers_gets_a_hint(
    project: Path, base_url: str
) -> None:
    url = f"{base_url}/v1"
    run = run_pytest(project, f"--understudy-url={url}")
    assert_stopped_with(
        run,
        f"cannot reach Understudy at {url} (--understudy-url): GET /health answered 404; "
        "give the server's root URL, without /v1",
    )


def test_a_url_without_a_scheme_is_refused(project: Path) -> None:
    run = run_pytest(project, "--understudy-url=localhost:8000")
    assert_stopped_with(
        run,
        "cannot reach Understudy at localhost:8000 (--understudy-url): not a URL; "
        "give one such as http://127.0.0.1:8000",
    )


def test_a_missing_or_wrong_admin_token_is_one_error(project: Path, serve: ServerFactory) -> None:
    url = serve("name: any\nreply: {content: hi}\n", admin_token="s3cret")
    advice = "give the server's token with --understudy-admin-token or UNDERSTUDY_ADMIN_TOKEN"

    run = run_pytest(project, f"--understudy-url={url}")
    assert_stopped_with(
        run,
        f"Understudy at {url} (--understudy-url) needs an admin token "
        f"(GET /_understudy/scenarios answered 401); {advice}",
    )
    run = run_pytest(project, f"--understudy-url={url}", "--understudy-admin-token=wrong")
    assert_stopped_with(
        run,
        f"Understudy at {url} (--understudy-url) refused the admin token "
        f"(GET /_understudy/scenarios answered 401); {advice}",
    )
    run = run_pytest(project, f"--understudy-url={url}", env={"UNDERSTUDY_ADMIN_TOKEN": "s3cret"})
    assert run.returncode == 0, run.stdout + run.stderr


def test_understudy_scenarios_with_a_running_server_is_a_warning(
    project: Path, base_url: str, tmp_path: Path
) -> None:
    run = run_pytest(project, f"--understudy-url={base_url}", f"--understudy-scenarios={tmp_path}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\b2 passed, 1 warning\b", run.stdout), run.stdout
    assert (
        "PytestConfigWarning: --understudy-scenarios is ignored: the tests use the running "
        f"Understudy at {base_url} (from --understudy-url), which serves its own scenario files"
    ) in run.stdout


def test_parallel_runs_as_the_readme_recommends(project: Path, base_url: str) -> None:
    """``pytest -n … --understudy-url …``: pytest-xdist is in the ``test`` extra, and the
    server is checked once by the controller, not by every worker."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["test"]
    assert any(re.match(r"pytest-xdist\b", requirement) for requirement in extra)
    run = run_pytest(project, "-n", "2", f"--understudy-url={base_url}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\b2 passed\b", run.stdout), run.stdout

    url = f"http://127.0.0.1:{free_port()}"
    run = run_pytest(project, "-n", "2", f"--understudy-url={url}")
    assert run.returncode == 4
    assert run.stderr.count("cannot reach Understudy") == 1, run.stderr
