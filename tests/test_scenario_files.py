"""Scenario files: every kind of bad file is rejected whole with ``file:line: field: message``."""

from pathlib import Path

import pytest

from understudy.scenarios import ScenarioError, load_paths, load_text
from understudy.scenarios.catalog import Catalog
from understudy.settings import bundled_scenarios


def problems(text: str, source: str = "tools.yaml") -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, source)
    return caught.value.problems


def test_bundled_catalog_loads() -> None:
    catalog = Catalog(load_paths([bundled_scenarios()]))
    assert catalog.default is not None
    names = set(catalog.by_name)
    assert {"default", "weather-call", "weather-and-time", "weather-answer"} <= names
    assert {"reasoning", "long-story"} <= names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """name: t
replies:
  - content: fine
  - tool_calls:
      - name: get_weather
        arguments: 5
""",
            "tools.yaml:6: replies[1].tool_calls[0].arguments: must be an object or a JSON string",
        ),
        (
            """name: t
reply:
  tool_calls:
    - name: f
      arguments: "{not json"
""",
            "tools.yaml:5: reply.tool_calls[0].arguments: must be an object or a JSON string",
        ),
        (
            "name: t\nreply:\n  content: hi\n  colour: blue\n",
            "tools.yaml:4: reply.colour: unknown field",
        ),
        (
            "name: t\nmatch:\n  api: [chat, gemini]\nreply: {content: hi}\n",
            "tools.yaml:3: match.api[1]: Input should be 'chat', 'messages' or 'responses'",
        ),
        (
            "name: t\nmatch:\n  last_user_message: '(unclosed'\nreply: {content: hi}\n",
            "tools.yaml:3: match.last_user_message: not a valid RE2 regular expression: "
            "missing ): (unclosed",
        ),
        (
            "name: t\nreply:\n  content: hi\n  delivery: {chunking: {chars: 0}}\n",
            "tools.yaml:4: reply.delivery.chunking: chars must be a positive integer",
        ),
        (
            "name: t\nreply:\n  content: hi\n  delivery:\n    ttft_ms: -5\n",
            "tools.yaml:5: reply.delivery.ttft_ms: Input should be greater than or equal to 0",
        ),
        (
            "name: t\n",
            "tools.yaml:1: scenario: give exactly one of 'reply' or 'replies'",
        ),
        (
            "reply: {content: hi}\n",
            "tools.yaml:1: name: Field required",
        ),
        (
            "name: t\nreply:\n  finish_reason: done\n",
            "tools.yaml:3: reply.finish_reason: Input should be 'stop', 'length', 'tool_calls', "
            "'content_filter', 'refusal', 'stop_sequence' or 'pause_turn'",
        ),
        (
            "name: t\nreply:\n  content: [unclosed\n",
            "tools.yaml:4: invalid YAML: did not find expected ',' or ']'",
        ),
        (
            "- just a string\n",
            "tools.yaml:1: a scenario must be a mapping",
        ),
    ],
)
def test_bad_file_names_file_line_and_field(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_every_problem_in_a_file_is_reported_and_nothing_is_loaded() -> None:
    text = """name: good
reply: {content: hi}
---
name: bad
reply:
  tool_calls:
    - {name: f, arguments: 1}
    - {name: g, argumentz: {}}
"""
    assert problems(text) == [
        "tools.yaml:7: reply.tool_calls[0].arguments: must be an object or a JSON string",
        "tools.yaml:8: reply.tool_calls[1].argumentz: unknown field; did you mean `arguments`?",
    ]


def test_fragments_must_concatenate_to_the_arguments() -> None:
    text = """name: t
reply:
  tool_calls:
    - name: f
      arguments: {a: 1}
      fragments: ['{"a":', ' 2}']
"""
    assert problems(text) == [
        "tools.yaml:4: reply.tool_calls[0]: fragments must concatenate to JSON equal to the "
        "arguments"
    ]


def test_a_list_document_and_multi_document_files_both_load() -> None:
    scenarios = load_text(
        "- {name: a, reply: {content: x}}\n- {name: b, reply: {content: y}}\n---\n"
        "name: c\nreply: {content: z}\n"
    )
    assert [s.name for s in scenarios] == ["a", "b", "c"]


def test_load_paths_reports_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nreply: {content: 1}\n")
    (tmp_path / "b.yml").write_text("name: b\nreply: {conten: x}\n")
    with pytest.raises(ScenarioError) as caught:
        load_paths([tmp_path])
    assert caught.value.problems == [
        f"{tmp_path / 'a.yaml'}:2: reply.content: must be a string, a list of strings or "
        '{json: auto}; YAML reads 1 as a number, so quote it: "1"',
        f"{tmp_path / 'b.yml'}:2: reply.conten: unknown field; did you mean `content`?",
    ]


def test_replies_sequence_then_repeat_last_or_cycle() -> None:
    repeat, cycle = load_text(
        "name: r\nreplies: [{content: a}, {content: b}]\n---\n"
        "name: c\nthen: cycle\nreplies: [{content: a}, {content: b}]\n"
    )
    assert [repeat.reply_at(i)[0] for i in range(4)] == [0, 1, 1, 1]
    assert [cycle.reply_at(i)[0] for i in range(4)] == [0, 1, 0, 1]


def test_duplicate_names_across_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: same\nreply: {content: a}\n")
    (tmp_path / "b.yaml").write_text("# comment\nname: same\nreply: {content: b}\n")
    with pytest.raises(ScenarioError) as caught:
        load_paths([tmp_path])
    assert caught.value.problems == [
        f"{tmp_path / 'b.yaml'}:2: name: duplicate scenario name 'same' "
        f"(first defined at {tmp_path / 'a.yaml'}:1)"
    ]


def test_hidden_folders_are_skipped_as_a_configmap_mount_needs(tmp_path) -> None:
    """A ConfigMap mounted as a folder holds each file twice: ``name.yaml`` (a link) and
    ``..2026_12_02_08_00_00.123/name.yaml``; the hidden copy must not count again."""
    from understudy.scenarios import load_paths

    data = tmp_path / "..2026_12_02_08_00_00.123"
    data.mkdir()
    (data / "one.yaml").write_text("name: one\ndefault: true\nreply: {content: hi}\n")
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "one.yaml").symlink_to("..data/one.yaml")
    (tmp_path / ".backup.yaml").write_text("name: stale\nreply: {content: old}\n")
    assert [scenario.name for scenario in load_paths([tmp_path])] == ["one"]
