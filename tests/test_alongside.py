"""Understudy installed into a project that has its own top-level ``server`` package.

Understudy's source root is ``server/`` (like ``src/``), but its import name is
``understudy``: a project whose own code lives in a ``server`` package must keep importing
it, and the pytest plugin (the ``pytest11`` entry point) must still give its tests the
``understudy`` fixture. A scratch project is run with ``python -m pytest`` and with the
``pytest`` console script, in subprocesses that see the same ``understudy`` as this test.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import understudy.pytest_plugin
from tests.conftest import child_environment

PROJECT = {
    "server/__init__.py": """\
        APP = "the user's own app"
        """,
    "conftest.py": """\
        import pytest
        from server import APP


        @pytest.fixture
        def app():
            return APP
        """,
    "pyproject.toml": """\
        [project]
        name = "checkout-assistant"
        version = "0.0.1"

        [tool.pytest.ini_options]
        pythonpath = ["."]
        """,
    # The first example of README.md's "pytest plugin" section, after a test of the
    # project's own package.
    "tests/test_checkout_assistant.py": """\
        from pathlib import Path

        import openai
        import pytest
        from server import APP

        PROJECT = Path(__file__).resolve().parents[1]


        def test_the_projects_own_server_package(app, pytestconfig):
            import server

            assert APP == app == "the user's own app"
            assert Path(server.__file__).resolve() == PROJECT / "server" / "__init__.py"
            plugin = pytestconfig.pluginmanager.get_plugin("understudy")
            assert Path(plugin.__file__).resolve() == Path(EXPECTED_PLUGIN)


        @pytest.fixture
        def client(understudy):
            return openai.OpenAI(
                base_url=understudy.openai_base_url,
                api_key="sk-test",
                default_headers=understudy.headers,  # puts this test's requests in its namespace
                max_retries=0,
            )


        def test_assistant_calls_the_weather_tool_then_answers(understudy, client):
            understudy.add_scenario(
                \"\"\"
                name: weather
                match:
                  tools: get_weather
                replies:
                  - tool_calls:
                      - name: get_weather
                        arguments: {city: Paris}
                  - content: "It is sunny in Paris."
                \"\"\"
            )
            tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
            messages = [{"role": "user", "content": "Weather in Paris?"}]

            first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
            call = first.choices[0].message.tool_calls[0]
            assert call.function.name == "get_weather"

            messages += [
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
            ]
            with client.chat.completions.stream(
                model="gpt-4o-mini", messages=messages, tools=tools
            ) as stream:
                final = stream.get_final_completion()
            assert final.choices[0].message.content == "It is sunny in Paris."

            # What did the client send, and how did it read the reply?
            first_entry, second_entry = understudy.journal()
            assert first_entry["reply_index"] == 0 and not first_entry["stream"]
            assert second_entry["body"]["messages"][-1]["role"] == "tool"
            assert second_entry["stream"] and second_entry["completed"]
            assert second_entry["headers"]["authorization"] == "Bearer [redacted]"
        """,
}


def pytest_script() -> str:
    beside = Path(sys.executable).parent / ("pytest.exe" if os.name == "nt" else "pytest")
    found = str(beside) if beside.exists() else shutil.which("pytest")
    if found is None:
        pytest.skip("no pytest console script next to this Python or on PATH")
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "checkout-assistant"
    expected_plugin = Path(understudy.pytest_plugin.__file__).resolve()
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(text)
        if name.startswith("tests/"):
            text = text.replace("EXPECTED_PLUGIN", repr(str(expected_plugin)))
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda: [sys.executable, "-m", "pytest"], id="python -m pytest"),
        pytest.param(lambda: [pytest_script()], id="pytest script"),
    ],
)
def test_a_project_with_its_own_server_package_keeps_working(project: Path, command) -> None:
    run = subprocess.run(
        [*command(), "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = f"{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, output
    assert re.search(r"\b2 passed\b", run.stdout), output
    assert not re.search(r"\b(failed|errors?|skipped)\b", run.stdout), output
