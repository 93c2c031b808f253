"""From a file's text to validated models, and the JSON Schema of what a file may hold.

Scenario files, chaos profiles and engine profiles are all read the same way: the text
(YAML, or JSON) becomes located data (``source``), each document is validated against
its model, and every problem is ``file:line: field: message`` (``problems``). Whatever
the text, reading ends in a value or a ``FormatError``, never in another exception.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from understudy.format.problems import FormatError, explain
from understudy.format.source import Document, Loc, SourceError, read_json, read_yaml

Syntax = Literal["yaml", "json"]
Model = TypeVar("Model", bound=BaseModel)
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def syntax_of(path: Path) -> Syntax:
    return "json" if path.suffix == ".json" else "yaml"


def read_path(path: Path) -> str:
    """The text of the file at ``path``; ``FormatError`` if there is none, or no UTF-8."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FormatError([f"{path}: no such file or folder"]) from None
    except OSError as exc:
        raise FormatError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FormatError([f"{path}:{line}: not UTF-8 text: {exc.reason}"]) from None


def read(text: str, source: str, syntax: Syntax = "yaml") -> list[Document]:
    """The documents in ``text``; ``FormatError`` for text that is no YAML (or JSON)."""
    try:
        return read_json(text) if syntax == "json" else read_yaml(text)
    except SourceError as exc:
        raise FormatError([f"{source}:{exc.line}: {exc.message}"]) from None
    except Exception as exc:  # the readers mean to raise only SourceError; just in case
        raise FormatError([f"{source}:1: cannot read: {type(exc).__name__}: {exc}"]) from None


def validate(
    model: type[Model],
    data: Any,
    doc: Document,
    loc: Loc,
    source: str,
    name: str,
    shown: tuple[str, ...] = (),
) -> tuple[Model | None, list[str]]:
    """``data`` (at ``loc`` in ``doc``) as a ``model``, or the problems that stop it.

    ``name`` says what the value is ("scenario"); ``shown`` goes before every field path.
    """
    if not isinstance(data, dict):
        return None, [f"{source}:{doc.line_of(loc)}: {_a(name)} must be a mapping"]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, explain(exc, model, data, doc, loc, source, name, shown)
    except Exception as exc:  # a validator's own failure is still this value's problem
        return None, [f"{source}:{doc.line_of(loc)}: {name}: {type(exc).__name__}: {exc}"]


def profile_path(value: str, kind: str, bundled: Iterable[str]) -> Path:
    """The file a ``--chaos`` or ``--engine`` value names when it names no bundled profile."""
    path = Path(value)
    if not path.exists():
        names = ", ".join(bundled)
        raise FormatError(
            [f"{kind} profile '{value}': not a bundled profile ({names}), and no such file"]
        )
    return path


def load_model_file(path: Path, model: type[Model], name: str, key: str) -> Model:
    """The one ``model`` a file holds: its mapping, or a ``key:`` mapping holding it; an
    empty file is an empty mapping. ``FormatError`` names the file, line and field."""
    source = str(path)
    documents = read(read_path(path), source, syntax_of(path))
    if len(documents) > 1:
        line = documents[1].line_of((1,))
        raise FormatError([f"{source}:{line}: {_a(name)} is one document; this is a second"])
    doc = documents[0] if documents else Document(None)
    data, loc, shown = doc.data, (0,), ()
    if isinstance(data, dict) and set(data) == {key}:
        data, loc, shown = data[key], (0, key), (key,)
    value, problems = validate(model, {} if data is None else data, doc, loc, source, name, shown)
    if value is None:
        raise FormatError(problems)
    return value


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def document_schema(
    model: type[BaseModel],
    title: str,
    description: str,
    *,
    many: bool = False,
    key: str | None = None,
    empty: bool = False,
) -> dict[str, Any]:
    """The JSON Schema of one document of a file holding ``model``: the model's mapping,
    and as the loader also takes them, a list of them (``many``), the mapping under
    ``key``, or nothing at all (``empty``)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    if set(schema) == {"$ref"}:
        one = schema
    else:
        definitions[model.__name__] = schema
        one = {"$ref": f"#/$defs/{model.__name__}"}
    forms: list[dict[str, Any]] = [one]
    if many:
        forms.append({"type": "array", "items": one, "description": "Several, in order."})
    if key is not None:
        forms.append(
            {
                "type": "object",
                "properties": {key: one},
                "required": [key],
                "additionalProperties": False,
            }
        )
    if empty:
        forms.append({"type": "null", "description": "An empty document."})
    return {
        "$schema": DIALECT,
        "title": title,
        "description": description,
        "anyOf": forms,
        "$defs": definitions,
    }


def model_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The JSON Schema of one ``model`` value, as a document of its own."""
    return {"$schema": DIALECT, **model.model_json_schema(), "title": title}
