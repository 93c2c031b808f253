"""The GitHub Action (``action.yml``) and README.md's workflow that uses it.

Both are checked with ``check-jsonschema`` and its bundled copies of the official
schemas (``vendor.github-actions``, ``vendor.github-workflows``; no network needed), the
way GitHub would refuse them. Then what a schema cannot see: the workflow really runs
pytest against the container (the action's ``UNDERSTUDY_URL`` reaches the plugin), and
every input of the action reaches its script. ``.ci/container-check`` runs the action's
script for real against a Docker engine.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def readme_workflow() -> str:
    blocks = re.findall(
        r"^```yaml\n(.*?)^```", readme_section("Use in GitHub Actions"), re.M | re.S
    )
    [workflow] = [block for block in blocks if "\njobs:\n" in block]
    return workflow


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def load(text: str) -> dict:
    document = yaml.safe_load(text)
    # YAML 1.1 reads the key `on` as true; GitHub reads it as "on".
    if True in document:
        document["on"] = document.pop(True)
    return document


def test_the_action_is_valid() -> None:
    result = check_jsonschema("vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_workflow_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "tests.yaml"
    path.write_text(readme_workflow(), encoding="utf-8")
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_workflow_without_on(tmp_path: Path) -> None:
    """The README once showed a workflow with no ``on:``; the check must catch that."""
    workflow = load(readme_workflow())
    del workflow["on"]
    path = tmp_path / "no-trigger.yaml"
    path.write_text(yaml.safe_dump(workflow), encoding="utf-8")
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 1
    assert "'on' is a required property" in result.stdout


def test_the_workflow_tests_against_the_started_container() -> None:
    workflow = load(readme_workflow())
    assert set(workflow["on"]) == {"push", "pull_request"}
    steps = workflow["jobs"]["test"]["steps"]
    uses = [step.get("uses", "") for step in steps]

    # Understudy's checkout is where the action is taken from and the plugin installed from.
    [understudy_checkout] = [s for s in steps if s.get("with", {}).get("path")]
    folder = understudy_checkout["with"]["path"]
    start = uses.index(f"./{folder}")
    inputs = load(ACTION.read_text(encoding="utf-8"))["inputs"]
    assert set(steps[start].get("with", {})) <= set(inputs)

    setup = uses.index("actions/setup-python@v5")
    runs = [(index, step["run"]) for index, step in enumerate(steps) if "run" in step]
    [install] = [index for index, run in runs if "pip install" in run]
    assert f"./{folder}" in steps[install]["run"].split()  # the plugin
    [test] = [index for index, run in runs if "pytest" in run and "pip" not in run]
    assert uses.index("actions/checkout@v4") < start < test
    assert setup < install < test
    # Nothing between the action and the tests points the plugin elsewhere.
    for step in steps[start + 1 : test + 1]:
        assert "UNDERSTUDY_URL" not in str(step)
    assert steps[-1]["if"] == "failure()"
    assert steps[-1]["run"] == f"docker logs {inputs['name']['default']}"


def test_every_input_reaches_the_script_and_the_urls_are_exported() -> None:
    action = load(ACTION.read_text(encoding="utf-8"))
    [step] = action["runs"]["steps"]
    script, env = step["run"], step["env"]
    for name in action["inputs"]:
        variable = "INPUT_" + name.upper().replace("-", "_")
        assert env[variable] == f"${{{{ inputs.{name} }}}}"
        assert f"${variable}" in script or f'"${variable}"' in script, variable
    assert "${{" not in script  # inputs are never pasted into the script's text
    for exported in ("UNDERSTUDY_URL=$url", "OPENAI_BASE_URL=$url/v1", "ANTHROPIC_BASE_URL=$url"):
        assert f'echo "{exported}"' in script
    assert '>>"$GITHUB_ENV"' in script
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.{step['id']}.outputs.{name} }}}}"
        assert f'echo "{name}=' in script


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ({"INPUT_PORT": "eighty"}, "port must be a number, not 'eighty'"),
        ({"INPUT_BUNDLED": "yes"}, "bundled must be true or false"),
        ({"INPUT_SCENARIOS": "no/such/folder"}, "scenarios: no 'no/such/folder' in the workspace"),
        ({"INPUT_BUNDLED": "false"}, "bundled is false and no scenarios folder is given"),
    ],
)
def test_bad_inputs_stop_the_action_with_one_error(
    tmp_path: Path, inputs: dict[str, str], error: str
) -> None:
    """Run the action's script as a runner would (``bash -eo pipefail``), with inputs it
    must refuse before it builds or starts anything: ``docker`` here only records a call."""
    action = load(ACTION.read_text(encoding="utf-8"))
    [step] = action["runs"]["steps"]
    defaults = {
        "INPUT_" + name.upper().replace("-", "_"): spec["default"]
        for name, spec in action["inputs"].items()
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text('#!/bin/sh\necho "docker $1 called" >&2\nexit 99\n')
    docker.chmod(0o755)
    script = tmp_path / "start.sh"
    script.write_text(step["run"], encoding="utf-8")
    env = {
        **defaults,
        **inputs,
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_ENV": str(tmp_path / "env"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == f"::error title=Understudy::{error}"
    assert "docker" not in result.stderr
    assert not (tmp_path / "env").exists()
