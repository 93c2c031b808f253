"""Loading scenario files: YAML (or JSON) to validated ``Scenario`` objects.

The readers (``source``) keep the line of every key and list item while they build plain
Python data, so a validation error can name the file, the line and the field:
``scenarios/tools.yaml:14: replies[1].tool_calls[0].arguments: must be an object or a
JSON string``. A file with any error is rejected whole. Whatever the text, loading ends
in scenarios or a ``ScenarioError``, never in another exception.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from understudy.scenarios.schema import Scenario
from understudy.scenarios.source import Document, Loc, SourceError, read_json, read_yaml

SUFFIXES = (".yaml", ".yml", ".json")
Syntax = Literal["yaml", "json"]


class ScenarioError(Exception):
    """One or more problems in scenario sources, each ``file:line: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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


def _validate(data: Any, doc: Document, loc: Loc, source: str) -> tuple[Scenario | None, list[str]]:
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
    except Exception as exc:  # a validator's own failure is still this scenario's problem
        return None, [f"{source}:{doc.line_of(loc)}: scenario: {type(exc).__name__}: {exc}"]


def load_text(text: str, source: str = "<string>", syntax: Syntax = "yaml") -> list[Scenario]:
    """Parse and validate every scenario in ``text``; raise ``ScenarioError`` on any problem.

    ``syntax`` is ``yaml`` (which also reads most JSON) or ``json`` (strict, faster).
    """
    return [scenario for scenario, _, _ in _load_located(text, source, syntax)]


def _read(text: str, source: str, syntax: Syntax) -> list[Document]:
    try:
        return read_json(text) if syntax == "json" else read_yaml(text)
    except SourceError as exc:
        raise ScenarioError([f"{source}:{exc.line}: {exc.message}"]) from None
    except Exception as exc:  # the readers mean to raise only SourceError; just in case
        raise ScenarioError([f"{source}:1: cannot read: {type(exc).__name__}: {exc}"]) from None


def _load_located(text: str, source: str, syntax: Syntax) -> list[tuple[Scenario, Document, Loc]]:
    """Scenarios with the document and location each came from."""
    scenarios: list[tuple[Scenario, Document, Loc]] = []
    problems: list[str] = []
    for doc_index, doc in enumerate(_read(text, source, syntax)):
        data = doc.data
        if data is None:
            continue
        items = [(data, (doc_index,))]
        if isinstance(data, list):
            items = [(item, (doc_index, i)) for i, item in enumerate(data)]
        for item, loc in items:
            scenario, errors = _validate(item, doc, loc, source)
            problems.extend(errors)
            if scenario is not None:
                scenario._defined_at = f"{source}:{doc.line_of((*loc, 'name'))}"
                scenarios.append((scenario, doc, loc))
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
        syntax: Syntax = "json" if path.suffix == ".json" else "yaml"
        try:
            located = _load_located(text, str(path), syntax)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        for scenario, doc, loc in located:
            where = f"{path}:{doc.line_of((*loc, 'name'))}"
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
