"""The files a new user looks for beside the code: the licence pyproject.toml names, a
changelog with a section for the version being released, and README commands that run
as written on a machine where root has no sudo."""

import re
import tomllib
from pathlib import Path

import understudy

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_the_license_file_is_the_license_pyproject_names() -> None:
    assert PROJECT["license"] == "MIT"
    lines = (ROOT / "LICENSE").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "MIT License"
    assert "Copyright (c) 2026 The Understudy authors" in lines
    assert any(line.startswith('THE SOFTWARE IS PROVIDED "AS IS"') for line in lines)


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "[Keep a Changelog](https://keepachangelog.com/" in text
    releases = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert releases[0] == "Unreleased"
    assert PROJECT["version"] == understudy.__version__ in releases
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        kinds = re.findall(r"^### (.+)$", section, re.M)
        assert kinds and set(kinds) <= KINDS, section.splitlines()[0]
        assert re.search(r"^- ", section, re.M), section.splitlines()[0]


def test_readme_commands_do_not_need_sudo() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(?:sh|bash)\n(.*?)^```", readme, re.M | re.S)
    assert blocks
    assert not [block for block in blocks if re.search(r"\bsudo\b", block)]
