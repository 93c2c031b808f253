"""Loading scenario files: YAML (or JSON) to validated ``Scenario`` objects.

The loader keeps the line of every key and value while it builds plain Python data, so
a validation error can name the file, the line and the field:
``scenarios/tools.yaml:14: replies[1].tool_calls[0].arguments: must be an object or a
JSON string``. A file with any error is rejected whole.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from understudy.scenarios.schema import Scenario

Loc = tuple[str | int, ...]
SUFFIXES = (".yaml", ".yml", ".json")


class ScenarioError(Exception):
    """One or more problems in scenario sources, each ``file:line: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Document:
    """Plain data built from a YAML node tree, with the line of every location."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    key = str(key)
                self.lines[(*loc, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*loc, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def line_of(self, loc: Loc) -> int:
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc, 1)


def _format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    return message


def _validate(
    data: Any, doc: _Document, loc: Loc, source: str
) -> tuple[Scenario | None, list[str]]:
    if not isinstance(data, dict):
        return None, [f"{source}:{doc.line_of(loc)}: a scenario must be a mapping"]
    try:
        return Scenario.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = (*loc, *error["loc"])
            field = _format_loc(tuple(error["loc"])) or "scenario"
            problems.append(f"{source}:{doc.line_of(where)}: {field}: {_message(error)}")
        return None, problems


def load_text(text: str, source: str = "<string>") -> list[Scenario]:
    """Parse and validate every scenario in ``text``; raise ``ScenarioError`` on any problem."""
    return [scenario for scenario, _ in _load_located(text, source)]


def _load_located(text: str, source: str) -> list[tuple[Scenario, str]]:
    """Scenarios with the ``file:line`` of each one's ``name``."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ScenarioError([f"{source}:{line}: invalid YAML: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{source}:1: invalid YAML: {exc}"]) from None

    scenarios: list[tuple[Scenario, str]] = []
    problems: list[str] = []
    for doc_index, node in enumerate(nodes):
        if node is None:
            continue
        doc = _Document()
        data = doc.build(node, (doc_index,))
        if data is None:
            continue
        items = [(data, (doc_index,))]
        if isinstance(data, list):
            items = [(item, (doc_index, i)) for i, item in enumerate(data)]
        for item, loc in items:
            scenario, errors = _validate(item, doc, loc, source)
            problems.extend(errors)
            if scenario is not None:
                scenarios.append((scenario, f"{source}:{doc.line_of((*loc, 'name'))}"))
    if problems:
        raise ScenarioError(problems)
    return scenarios


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every scenario file named by ``paths`` (files, or directories searched recursively)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def load_paths(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load scenarios from files and directories, in order; all problems are reported together.

    Scenario names must be unique across the whole catalog.
    """
    return [scenario for scenario, _ in load_located_paths(paths)]


def load_located_paths(paths: Iterable[str | Path]) -> list[tuple[Scenario, str]]:
    """``load_paths``, with the ``file:line`` of each scenario's ``name``."""
    scenarios: list[tuple[Scenario, str]] = []
    problems: list[str] = []
    first_seen: dict[str, str] = {}
    for path in scenario_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}:1: cannot read: {exc}")
            continue
        try:
            located = _load_located(text, str(path))
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        for scenario, where in located:
            if scenario.name in first_seen:
                problems.append(
                    f"{where}: name: duplicate scenario name '{scenario.name}' "
                    f"(first defined at {first_seen[scenario.name]})"
                )
            first_seen.setdefault(scenario.name, where)
            scenarios.append((scenario, where))
    if problems:
        raise ScenarioError(problems)
    return scenarios
