"""``understudy schema`` is the truth, and the docs cannot drift from it.

Every bundled scenario file (document by document) and every ```yaml block in README.md,
docs/*.md and scenarios/README.md is checked twice: against the JSON Schema of what it is
(Draft 2020-12, with the ``jsonschema`` library, as an editor would), and by the loader
the server uses. A block is a scenario file (one scenario or a list, perhaps several
``---`` documents), a chaos or an engine profile, or a fragment of a scenario: its
top-level keys say which. A fragment is checked inside the smallest scenario that holds
it. A block whose top-level keys repeat lists alternatives (``fault: ...`` one per line),
each checked on its own. Workflows, compose files and actions are skipped: another test
validates them with check-jsonschema.
"""

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema.exceptions import best_match

from understudy.engine.profile import EngineProfile, load_profile
from understudy.engine.profile import profile_schema as engine_schema
from understudy.faults.chaos import load_chaos
from understudy.faults.chaos import profile_schema as chaos_schema
from understudy.format.source import read_yaml
from understudy.scenarios import ScenarioError, load_text
from understudy.scenarios.schema import ReplySpec, Scenario, file_schema, scenario_schema

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "scenarios/README.md"]
BUNDLED_FILES = sorted((ROOT / "scenarios").glob("*.yaml"))
FENCE = re.compile(r"^(?P<indent>[ \t]*)```ya?ml[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*):", re.M)
SKIPPED = {"jobs": "a GitHub workflow", "services": "a compose file", "runs": "a GitHub action"}


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


FILE = validator(file_schema())
CHAOS = validator(chaos_schema())
ENGINE = validator(engine_schema())


def schema_problems(checker: jsonschema.Draft202012Validator, text: str) -> list[str]:
    """What the JSON Schema says of each document of ``text``, read as the loader reads it."""
    problems = []
    for index, document in enumerate(read_yaml(text)):
        for error in map(best_match, ([each] for each in checker.iter_errors(document.data))):
            where = "/".join(map(str, error.absolute_path)) or "(document)"
            problems.append(f"document {index}, {where}: {error.message}")
    return problems


# --- the blocks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    where: str
    text: str


def blocks() -> list[Block]:
    """Every YAML block of the docs; a block of alternatives, one block per alternative."""
    found = []
    for path in DOCS:
        markdown = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(markdown):
            line = markdown.count("\n", 0, match.start()) + 2  # the block's first line
            text = textwrap.dedent(match.group("body"))
            where = f"{path.relative_to(ROOT)}:{line}"
            found.extend(Block(f"{where}{suffix}", part) for suffix, part in alternatives(text))
    return found


def alternatives(text: str) -> list[tuple[str, str]]:
    """The block itself, or, if a top-level key repeats, each top-level entry alone."""
    keys = TOP_KEY.findall(text)
    if len(keys) == len(set(keys)) or "\n---" in text:
        return [("", text)]
    starts = [match.start() for match in TOP_KEY.finditer(text)]
    pieces = [text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=True)]
    return [(f" (alternative {n})", piece) for n, piece in enumerate(pieces, 1)]


def kind_of(block: Block) -> str:
    """What the block is, from its first document's top-level keys."""
    data = read_yaml(block.text)[0].data
    if isinstance(data, list):
        return "scenario file"
    keys = set(data)
    for key, what in SKIPPED.items():
        if key in keys:
            return what
    if "name" in keys:
        return "scenario file"
    if keys <= {*EngineProfile.model_fields, "engine"}:
        return "engine profile"
    if keys == {"chaos"}:
        return "chaos profile"
    if keys <= set(Scenario.model_fields):
        return "scenario fragment"
    if keys <= set(ReplySpec.model_fields):
        return "reply fragment"
    raise AssertionError(f"{block.where}: what is this block? keys {sorted(keys)}")


def as_scenario_file(kind: str, text: str) -> str:
    """A fragment inside the smallest scenario file that holds it."""
    if kind == "scenario fragment":
        keys = set(read_yaml(text)[0].data)
        reply = "" if keys & {"reply", "replies"} else "reply: {}\n"
        return f"name: docs-example\n{reply}{text}"
    if kind == "reply fragment":
        return "name: docs-example\nreply:\n" + textwrap.indent(text, "  ")
    return text


BLOCKS = blocks()


def test_the_docs_have_yaml_blocks_of_every_kind() -> None:
    kinds = {kind_of(block) for block in BLOCKS}
    assert {"scenario file", "scenario fragment", "reply fragment", "engine profile"} <= kinds
    assert len(BLOCKS) >= 20, [block.where for block in BLOCKS]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_every_docs_yaml_block_is_valid_for_the_schema_and_the_loader(
    block: Block, tmp_path: Path
) -> None:
    kind = kind_of(block)
    if kind in SKIPPED.values():
        pytest.skip(f"{kind}: tests/test_github_action.py validates it with check-jsonschema")
    if kind.endswith("profile"):
        checker, load = (CHAOS, load_chaos) if kind == "chaos profile" else (ENGINE, load_profile)
        assert schema_problems(checker, block.text) == [], block.text
        profile = tmp_path / "profile.yaml"
        profile.write_text(block.text, encoding="utf-8")
        assert load(str(profile)) is not None
        return
    text = as_scenario_file(kind, block.text)
    assert schema_problems(FILE, text) == [], text
    assert load_text(text, block.where), text


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=[path.name for path in BUNDLED_FILES])
def test_every_bundled_scenario_file_is_valid_for_the_schema(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(read_yaml(text)) >= 1
    assert schema_problems(FILE, text) == []
    assert load_text(text, str(path))


# --- schema and loader agree on every short form -----------------------------------------

SHORT_FORMS = [
    "fault: {kind: disconnect, after_events: 2}",  # one mapping, not a list
    "fault: [{kind: stall, after_events: {min: 1, max: 3}, seconds: 1}]",
    "error: rate_limit",
    "error: 503",
    "error: {preset: overloaded, headers: {x-extra: 1, x-other: two}}",
    "delivery: {jitter: 5}",
    "delivery: {jitter: {distribution: normal, ms: 8}}",
    "chaos: {faults: [rate_limit, {kind: truncate, after_events: 1}, {framing: {write_size: 1}}]}",
    "content: [a, b]",
    "content: {json: auto}",
    "content:",  # nothing: a reply of tool calls alone
    "reasoning: [Let me, ' think.']",
    "tool_calls: [{name: auto, arguments: auto}]",
    "tool_calls: [{name: f, arguments: }]",
    "tool_calls: [{name: f, arguments: '{\"a\": 1}'}]",
]
SHORT_MATCHES = [
    "api: chat",
    "api: [chat, messages]",
    "endpoint: responses",
    "tools: get_weather",
    "tools: [get_weather, get_time]",
    "turn: 0",
    "turn: {min: 1}",
    "headers: {x-team: '^qa$'}",
]
REFUSED = [
    ("name: t\nreply: {fault: {kind: disconnect, after_events: two}}", "after_events"),
    ("name: t\nreply: {delivery: {jitter: -1}}", "jitter"),
    ("name: t\nreply: {error: 200}", "error"),
    ("name: t\nmatch: {api: gemini}\nreply: {}", "api"),
    ("name: t\nmatch: {api: chat, endpoint: chat}\nreply: {}", "endpoint"),
    ("name: t\nmatch: {turn: -1}\nreply: {}", "turn"),
    ("name: t\nreply: {delivery: {tokens_per_sec: 5}}", "tokens_per_sec"),
    ("name: 123\nreply: {}", "name"),
    ("- name: a\n  reply: {}\n- 7\n", "scenario"),
]


def scenario_with(reply: str = "content: hi", match: str = "") -> str:
    text = f"name: t\nreply:\n  {reply}\n"
    return f"name: t\nmatch:\n  {match}\nreply: {{}}\n" if match else text


@pytest.mark.parametrize(
    "text",
    [scenario_with(reply=form) for form in SHORT_FORMS]
    + [scenario_with(match=form) for form in SHORT_MATCHES],
)
def test_the_schema_admits_every_form_the_loader_accepts(text: str) -> None:
    assert load_text(text)
    assert schema_problems(FILE, text) == []


@pytest.mark.parametrize(("text", "field"), REFUSED)
def test_the_schema_refuses_what_the_loader_refuses(text: str, field: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(text)
    assert field in caught.value.problems[0]
    assert schema_problems(FILE, text) != []


def test_a_list_file_and_a_multi_document_file_are_checked_document_by_document() -> None:
    text = (
        "- {name: a, reply: {content: x}}\n- {name: b, reply: {}}\n---\nname: c\nreply: {}\n---\n"
    )
    assert schema_problems(FILE, text) == []
    assert [scenario.name for scenario in load_text(text)] == ["a", "b", "c"]
    bad = "name: a\nreply: {}\n---\n- {name: b, reply: {}, colour: red}\n"
    assert schema_problems(FILE, bad) == [
        "document 1, 0: Additional properties are not allowed ('colour' was unexpected)"
    ]


def test_profiles_in_both_shapes_and_empty(tmp_path: Path) -> None:
    chaos = "probability: 0.5\nfaults: [overloaded, {kind: disconnect, after_events: 3}]\n"
    engine = "max_running: 2\ndecode_tokens_per_second: 30\n"
    cases: list[tuple[jsonschema.Draft202012Validator, Callable[[str], Any], str]] = [
        (CHAOS, load_chaos, chaos),
        (CHAOS, load_chaos, "chaos:\n" + textwrap.indent(chaos, "  ")),
        (ENGINE, load_profile, engine),
        (ENGINE, load_profile, "engine:\n" + textwrap.indent(engine, "  ")),
        (ENGINE, load_profile, ""),
    ]
    for checker, load, text in cases:
        path = tmp_path / "profile.yaml"
        path.write_text(text, encoding="utf-8")
        assert load(str(path)) is not None, text
        assert schema_problems(checker, text) == [], text


def test_the_command_prints_each_kind_and_the_scenario_schema_fits_one_scenario() -> None:
    printed = {}
    for kind in ("file", "scenario", "chaos", "engine"):
        result = subprocess.run(
            [sys.executable, "-m", "understudy", "schema", "--kind", kind],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        printed[kind] = json.loads(result.stdout)
    assert printed["file"] == file_schema()
    assert printed["chaos"] == chaos_schema()
    assert printed["engine"] == engine_schema()
    one = validator(scenario_schema())
    assert list(one.iter_errors({"name": "a", "match": {"tools": "f"}, "reply": {}})) == []
    assert list(one.iter_errors([{"name": "a", "reply": {}}])) != []  # a list is a file
