"""Loading scenario files: YAML (or JSON) to validated ``Scenario`` objects.

The readers (``understudy.format``) keep the line of every key and list item while they build plain
Python data, so a validation error can name the file, the line and the field:
``scenarios/tools.yaml:14: replies[1].tool_calls[0].arguments: must be an object or a
JSON string``. A file with any error is rejected whole. Whatever the text, loading ends
in scenarios or a ``ScenarioError``, never in another exception.
"""

from collections.abc import Iterable
from pathlib import Path

from understudy.format.files import Syntax, read, read_path, syntax_of, validate
from understudy.format.problems import FormatError
from understudy.format.source import Document, Loc
from understudy.scenarios.schema import Scenario

SUFFIXES = (".yaml", ".yml", ".json")


class ScenarioError(FormatError):
    """One or more problems in scenario sources, each ``file:line: field: message``."""


def load_text(text: str, source: str = "<string>", syntax: Syntax = "yaml") -> list[Scenario]:
    """Parse and validate every scenario in ``text``; raise ``ScenarioError`` on any problem.

    ``syntax`` is ``yaml`` (which also reads most JSON) or ``json`` (strict, faster).
    """
    return [scenario for scenario, _, _ in _load_located(text, source, syntax)]


def _load_located(text: str, source: str, syntax: Syntax) -> list[tuple[Scenario, Document, Loc]]:
    """Scenarios with the document and location each came from."""
    try:
        documents = read(text, source, syntax)
    except FormatError as exc:
        raise ScenarioError(exc.problems) from None
    scenarios: list[tuple[Scenario, Document, Loc]] = []
    problems: list[str] = []
    for doc_index, doc in enumerate(documents):
        data = doc.data
        if data is None:
            continue
        items = [(data, (doc_index,))]
        if isinstance(data, list):
            items = [(item, (doc_index, i)) for i, item in enumerate(data)]
        for item, loc in items:
            scenario, errors = validate(Scenario, item, doc, loc, source, "scenario")
            problems.extend(errors)
            if scenario is not None:
                scenario._defined_at = f"{source}:{doc.line_of((*loc, 'name'))}"
                scenarios.append((scenario, doc, loc))
    if problems:
        raise ScenarioError(problems)
    return scenarios


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every scenario file named by ``paths`` (files, or directories searched recursively).

    Hidden files and folders are skipped: editors keep backups there, and a Kubernetes
    ConfigMap mounted as a folder keeps a second copy of every file in ``..<timestamp>/``.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = path.rglob("*")
            files.extend(
                sorted(
                    p
                    for p in found
                    if p.suffix in SUFFIXES and p.is_file() and not _hidden(p, path)
                )
            )
        else:
            files.append(path)
    return files


def load_paths(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load scenarios from files and directories, in order; all problems are reported together.

    Scenario names must be unique across the whole catalog, and one scenario at most
    may be the default.
    """
    return [scenario for scenario, _ in load_located_paths(paths)]


def load_located_paths(paths: Iterable[str | Path]) -> list[tuple[Scenario, str]]:
    """``load_paths``, with the ``file:line`` of each scenario's ``name``."""
    scenarios: list[tuple[Scenario, str]] = []
    problems: list[str] = []
    first_seen: dict[str, str] = {}
    first_default: tuple[str, str] | None = None  # its name and where it says default
    for path in scenario_files(paths):
        try:
            located = _load_located(read_path(path), str(path), syntax_of(path))
        except FormatError as exc:
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
            if scenario.default:
                flag = f"{path}:{doc.line_of((*loc, 'default'))}"
                if first_default is None:
                    first_default = (scenario.name, flag)
                else:
                    problems.append(
                        f"{flag}: default: '{scenario.name}' is a second default scenario; "
                        f"'{first_default[0]}' is one already ({first_default[1]}): "
                        "only one scenario may answer what nothing else matches"
                    )
            scenarios.append((scenario, where))
    if problems:
        raise ScenarioError(problems)
    return scenarios
