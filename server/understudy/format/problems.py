"""Validation errors as ``file:line: field: message``, in words that say what to write.

Pydantic's messages are written for programmers ("Input should be a valid dictionary or
instance of EventRange"); a file's author needs the line, the field and what the field
takes. So, on top of the message:

* an unknown field names the closest known one: ``did you mean `tokens_per_second`?``;
* a value YAML read as no string (``content: no`` is false, ``name: 123`` a number, ``1.10``
  the number 1.1) where the text would have been valid says so, and how to quote it;
* no class names: a value that should be a mapping says "must be a mapping".
"""

import difflib
from collections.abc import Iterator
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from understudy.format.source import Document, Loc

FieldPath = tuple[str | int, ...]


class FormatError(ValueError):
    """One or more problems in a file or text, each ``file:line: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def format_loc(loc: FieldPath) -> str:
    """``replies[1].tool_calls[0].arguments``, from the location's parts."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_WORDS = {
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "string_type": "must be text",
}
"""Pydantic's wording replaced, by error type."""


def explain(
    exc: ValidationError,
    model: type[BaseModel],
    data: Any,
    doc: Document,
    loc: Loc,
    source: str,
    name: str,
    shown: FieldPath = (),
) -> list[str]:
    """``exc``, raised validating ``data`` (at ``loc`` in ``doc``) as ``model``, as problems.

    ``name`` labels a problem of the whole value ("scenario"); ``shown`` goes before every
    field path (``chaos`` for a profile given under a ``chaos:`` key).
    """
    errors = exc.errors()
    hints = _quoting_hints(errors, model, data, doc, loc)
    problems = []
    for index, error in enumerate(errors):
        path = tuple(error["loc"])
        field = format_loc((*shown, *path)) or name
        message = _message(error, model, path)
        if index in hints:
            message += f"; {hints[index]}"
        problems.append(f"{source}:{doc.line_of((*loc, *path))}: {field}: {message}")
    return problems


def _message(error: Any, model: type[BaseModel], path: FieldPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _field_names(_model_at(model, path[:-1]))
        close = difflib.get_close_matches(str(path[-1]), known, n=1) if path else []
        return f"unknown field; did you mean `{close[0]}`?" if close else "unknown field"
    message = _WORDS.get(kind, str(error["msg"]))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


# --- unknown fields: the model at a location ------------------------------------------


def _model_at(model: type[BaseModel] | None, path: FieldPath) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path`` inside ``model``'s input. List
    indices and mapping keys stay on the model their container holds."""
    for part in path:
        if model is None:
            return None
        fields = model.model_fields
        name = next((n for n, f in fields.items() if part in (n, f.alias)), None)
        if name is not None:
            model = next(_models_in(fields[name].annotation), None)
    return model


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models in a type: ``X``, ``X | None``, ``list[X]``, ``dict[str, X]``, annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in get_args(annotation):  # nothing for Literal values and Annotated metadata
        yield from _models_in(arg)


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


# --- values YAML read as no string ----------------------------------------------------


def _quoting_hints(
    errors: list[Any], model: type[BaseModel], data: Any, doc: Document, loc: Loc
) -> dict[int, str]:
    """For each error (by index) about a value YAML read as no string, where the text as
    written would have been valid: how YAML read it, and the text quoted."""
    candidates = {
        index: tuple(error["loc"])
        for index, error in enumerate(errors)
        if _is_scalar(error.get("input")) and _same(_at(data, tuple(error["loc"])), error["input"])
    }
    hints = {}
    for index, path in list(candidates.items())[:20]:  # each costs a validation
        value = errors[index]["input"]
        text = doc.written((*loc, *path), value)
        if text and _valid_with(model, data, path, text):
            hints[index] = f'YAML reads {text} as {_as_read(value, text)}, so quote it: "{text}"'
    return hints


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float)


def _same(value: Any, other: Any) -> bool:
    return type(value) is type(other) and value == other


def _as_read(value: Any, text: str) -> str:
    if value is None:
        return "null (no value)"
    if isinstance(value, bool):
        return str(value).lower()
    return "a number" if str(value) == text else f"the number {value}"


def _at(data: Any, path: FieldPath) -> Any:
    """The value at ``path`` in ``data``, or a marker that is no input."""
    for part in path:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            data = data[part]
        else:
            return _MISSING
    return data


_MISSING = object()


def _replaced(data: Any, path: FieldPath, value: Any) -> Any:
    """A copy of ``data`` with ``value`` at ``path``; only the containers on the path are copied."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[head] = _replaced(data[head], rest, value)
    return copy


def _valid_with(model: type[BaseModel], data: Any, path: FieldPath, text: str) -> bool:
    """Whether the error at ``path`` goes away when the value there is ``text``."""
    try:
        model.model_validate(_replaced(data, path, text))
    except ValidationError as exc:
        return not any(tuple(error["loc"])[: len(path)] == path for error in exc.errors())
    except Exception:
        return False
    return True
