"""Reading YAML or JSON text into plain data, with the line of every location.

Scenario files, chaos and engine profiles and admin request bodies are read here, so
reading must be safe for any input, and must still say where each value was so that a
validation error can name a line. Both readers build plain dicts, lists and scalars,
never Python objects, and fail only with ``SourceError`` (a line and a message):

* YAML is read from the parser's events (libyaml's when PyYAML has it). Aliases are
  refused, so a few hundred bytes cannot expand into gigabytes (a "billion laughs"
  document) and no value can contain itself; only the standard scalar and collection
  tags are accepted; nesting deeper than ``MAX_DEPTH`` is refused; a value that cannot
  be constructed (``!!int abc``, a 13th month) is an error at its line.
* JSON is parsed by orjson, then scanned once for lines and depth.

A YAML document also keeps its text, so that an error can quote a value as it was
written (``no``, ``1.10``) rather than as YAML read it (false, 1.1). Only when an error
asks is the text read again, once per document, keeping the few scalars whose text is
not what their value prints as (``no``, ``On``, ``1.10``, ``~``), at most
``MAX_UNUSUAL``: a valid file costs nothing, and a bad one no more than a second read.
"""

import re
from array import array
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

Loc = tuple[str | int, ...]

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists; a scenario needs about ten."""
MAX_UNUSUAL = 1000
"""Scalars whose text ``Document.written`` keeps from a second read of a bad document."""

_YAML_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_YAML_TAG + name for name in ("str", "int", "float", "bool", "null"))
"""The explicit tags a scalar may have; ``!`` (non-specific) is fine too."""
_COLLECTION_TAGS = {MappingStartEvent: _YAML_TAG + "map", SequenceStartEvent: _YAML_TAG + "seq"}
_MERGE = _YAML_TAG + "merge"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML was built with it: the same events, several times faster."""


class SourceError(Exception):
    """The text cannot be read: ``message`` at ``line``."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Document:
    """One document's data and the line of every location in it: mapping keys and list
    items. Item lines are kept in compact arrays, four bytes each, so a long list costs
    little more than its text."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    """The line of the document and of each mapping key, by location."""
    items: dict[Loc, array] = field(default_factory=dict)
    """The lines of a list's items, by the list's location."""
    json: str | None = None
    """JSON text not yet scanned for lines: that waits until a line is asked for."""
    yaml_text: str | None = None
    """The YAML text this document is one of, for ``written``."""
    _unusual: "Unusual | None" = field(default=None, repr=False)

    def line_of(self, loc: Loc) -> int:
        """The line of ``loc``, or of the nearest enclosing location that has one."""
        if self.json is not None:
            self.lines, self.items = _json_lines(self.json, loc[:1])
            self.json = None
        while loc:
            line = self.lines.get(loc)
            if line is not None:
                return line
            index = loc[-1]
            items = self.items.get(loc[:-1]) if isinstance(index, int) else None
            if items is not None and 0 <= index < len(items):
                return items[index]
            loc = loc[:-1]
        return 1

    def written(self, loc: Loc, value: Any) -> str | None:
        """How the plain (unquoted) scalar that YAML read as ``value`` at ``loc`` was written:
        ``no`` for false, ``1.10`` for 1.1, ``123`` for 123. None for JSON, which says
        what it means, and for a string."""
        if self.yaml_text is None or isinstance(value, str):
            return None
        if self._unusual is None:
            self._unusual = _unusual(self.yaml_text)
        text = self._unusual.texts.get(loc)
        if text is None and self._unusual.complete:
            text = _printed(value)
        return text


@dataclass
class Unusual:
    """The plain scalars of a YAML text written other than their value prints."""

    texts: dict[Loc, str] = field(default_factory=dict)
    complete: bool = True
    """False when there were more than ``MAX_UNUSUAL``: the rest are not known."""


def _printed(value: Any) -> str:
    """A scalar's value the way YAML would print it: ``false``, ``null``, ``1.5``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _unusual(text: str) -> Unusual:
    """A second read of ``text`` (already read once without error), for ``written``."""
    found = Unusual()
    loader = _LOADER(text)
    try:
        _expect(loader, StreamStartEvent)
        index = 0
        while not loader.check_event(StreamEndEvent):
            _expect(loader, DocumentStartEvent)
            _YamlBuilder(loader, (index,), found).build()
            _expect(loader, DocumentEndEvent)
            index += 1
    except (yaml.YAMLError, SourceError):  # it was read once without error; just in case
        found.complete = False
    finally:
        loader.dispose()
    return found


# --- YAML ------------------------------------------------------------------------------


def read_yaml(text: str) -> list[Document]:
    """Every document in ``text``; ``SourceError`` for bad or refused YAML."""
    loader = _LOADER(text)
    try:
        return _documents(loader, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise SourceError(line, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:
        line = _reader_line(text, exc.position)
        raise SourceError(line, f"invalid YAML: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise SourceError(1, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _reader_line(text: str, position: int) -> int:
    """libyaml counts a reader error's position in UTF-8 bytes, PyYAML in characters."""
    if _LOADER is yaml.SafeLoader:
        return text.count("\n", 0, position) + 1
    return text.encode("utf-8", "surrogatepass").count(b"\n", 0, position) + 1


def _documents(loader: Any, text: str) -> list[Document]:
    documents: list[Document] = []
    _expect(loader, StreamStartEvent)
    while not loader.check_event(StreamEndEvent):
        _expect(loader, DocumentStartEvent)
        document = _YamlBuilder(loader, (len(documents),)).build()
        document.yaml_text = text
        documents.append(document)
        _expect(loader, DocumentEndEvent)
    return documents


def _expect(loader: Any, kind: type) -> None:
    event = loader.get_event()
    if not isinstance(event, kind):  # the parser guarantees the order; this never fires
        raise SourceError(_line(event), f"invalid YAML: unexpected {type(event).__name__}")


def _line(event: Any) -> int:
    return event.start_mark.line + 1 if event.start_mark else 1


class _Frame:
    """A mapping or list being built (or, for JSON, scanned), and where it is."""

    __slots__ = ("item_lines", "key", "loc", "value")

    def __init__(self, loc: Loc, value: dict | list, item_lines: array | None) -> None:
        self.loc = loc
        self.value = value
        self.item_lines = item_lines
        self.key: Any = _NO_KEY if item_lines is None else 0
        """In a mapping: the key whose value comes next, or ``_NO_KEY`` while a key is due;
        in a list being scanned: the index of the next item."""


_NO_KEY = object()


class _YamlBuilder:
    """Plain data from one document's events, without recursion (so depth costs no stack)."""

    def __init__(self, loader: Any, root: Loc, unusual: Unusual | None = None) -> None:
        self.loader = loader
        self.root = root
        self.unusual = unusual
        """Where to keep the text of plain scalars read as no string and printed otherwise."""
        self.lines: dict[Loc, int] = {}
        self.items: dict[Loc, array] = {}
        self.stack: list[_Frame] = []

    def build(self) -> Document:
        while True:
            event = self.loader.get_event()
            if isinstance(event, MappingEndEvent | SequenceEndEvent):
                value = self.stack.pop().value
            elif isinstance(event, AliasEvent):
                raise SourceError(
                    _line(event), "YAML aliases are not allowed: write the value out in full"
                )
            elif self._is_key():
                self._key(event)
                continue
            elif isinstance(event, ScalarEvent):
                loc = self._locate(event)
                value = self._scalar(event)
                if self.unusual is not None:
                    self._keep_unusual(loc, event, value)
            elif isinstance(event, CollectionStartEvent):
                self._open(event)
                continue
            else:
                raise SourceError(_line(event), f"invalid YAML: unexpected {type(event).__name__}")
            if not self.stack:
                return Document(value, self.lines, self.items)
            self._place(value)

    def _keep_unusual(self, loc: Loc, event: Any, value: Any) -> None:
        unusual = self.unusual
        if unusual is None or event.style or isinstance(value, str):
            return  # libyaml says '' for plain, PyYAML None
        if event.value != _printed(value):
            if len(unusual.texts) < MAX_UNUSUAL:
                unusual.texts[loc] = event.value
            else:
                unusual.complete = False

    def _is_key(self) -> bool:
        """Is the next node a key? In a mapping, every other one is."""
        frame = self.stack[-1] if self.stack else None
        return frame is not None and frame.item_lines is None and frame.key is _NO_KEY

    def _key(self, event: Any) -> None:
        if not isinstance(event, ScalarEvent):
            raise SourceError(_line(event), "a YAML key must be a plain value, not a collection")
        if event.tag is None and self._tag(event) == _MERGE:
            raise SourceError(_line(event), "YAML merge keys (<<) are not allowed")
        key = self._scalar(event)
        if not isinstance(key, str | int | float | bool):
            key = str(key)  # null, a date: as the text it was
        frame = self.stack[-1]
        frame.key = key
        self.lines[(*frame.loc, key)] = _line(event)

    def _locate(self, event: Any) -> Loc:
        """The location of the node that ``event`` starts; its line is kept (in a mapping,
        the key's line already was)."""
        if not self.stack:
            self.lines[self.root] = _line(event)
            return self.root
        frame = self.stack[-1]
        if frame.item_lines is None:
            return (*frame.loc, frame.key)
        frame.item_lines.append(_line(event))
        return (*frame.loc, len(frame.value))

    def _open(self, event: Any) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != _COLLECTION_TAGS[type(event)]:
            raise SourceError(_line(event), f"YAML tag {_shown(tag)} is not allowed")
        if len(self.stack) >= MAX_DEPTH:
            raise SourceError(_line(event), f"nested deeper than {MAX_DEPTH} levels")
        loc = self._locate(event)
        if isinstance(event, MappingStartEvent):
            self.stack.append(_Frame(loc, {}, None))
        else:
            self.items[loc] = array("L")
            self.stack.append(_Frame(loc, [], self.items[loc]))

    def _place(self, value: Any) -> None:
        frame = self.stack[-1]
        if isinstance(frame.value, dict):
            frame.value[frame.key] = value
            frame.key = _NO_KEY
        else:
            frame.value.append(value)

    def _tag(self, event: Any) -> str:
        if event.tag is None or event.tag == "!":
            return self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        return event.tag

    def _scalar(self, event: Any) -> Any:
        """The scalar's value as the safe loader would construct it."""
        tag = self._tag(event)
        if event.tag is not None and event.tag != "!" and tag not in _SCALAR_TAGS:
            raise SourceError(_line(event), f"YAML tag {_shown(tag)} is not allowed")
        construct = self.loader.yaml_constructors.get(tag)
        if construct is None:  # implicit "=" or "<<" as a value: just text
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return construct(self.loader, node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            shown = event.value if len(event.value) <= 40 else event.value[:40] + "..."
            raise SourceError(
                _line(event), f"cannot read {shown!r} as {_shown(tag)}: {exc}"
            ) from None


def _shown(tag: str) -> str:
    """A tag as it is written: ``!!int``, ``!!python/name:os.system``, ``!foo``."""
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


# --- JSON ------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^\s{}\[\],:"]+')
"""A string, a structural character or a bare value (number, true, false, null): each
alternative starts with a different character and cannot backtrack."""


def read_json(text: str) -> list[Document]:
    """The one document in ``text``; ``SourceError`` for bad JSON or too deep nesting.

    Lines are found only when one is asked for (a validation error): a valid body is
    parsed by orjson alone and walked once for its depth.
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SourceError(exc.lineno, f"invalid JSON: {exc.msg}") from None
    if _depth(data) > MAX_DEPTH:
        _json_lines(text, (0,))  # raises, naming the line where it gets too deep
        raise SourceError(1, f"nested deeper than {MAX_DEPTH} levels")
    return [Document(data, json=text)]


def _depth(data: Any) -> int:
    """How deeply mappings and lists nest in ``data``, found without recursion."""
    deepest = 0
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            pending += [(child, depth + 1) for child in children if isinstance(child, dict | list)]
    return deepest if isinstance(data, dict | list) else 0


def _json_lines(text: str, root: Loc) -> tuple[dict[Loc, int], dict[Loc, array]]:
    """The lines of every key and list item of ``text``, already known to be valid JSON."""
    lines: dict[Loc, int] = {}
    items: dict[Loc, array] = {}
    stack: list[_Frame] = []
    line, seen = 1, 0
    for token in _JSON_TOKEN.finditer(text):
        start = token.start()
        line += text.count("\n", seen, start)
        seen = start
        char = text[start]
        frame = stack[-1] if stack else None
        if char in "]}":
            stack.pop()
        elif char == ":":
            continue
        elif char == "," and frame is not None:
            # In a list the frame's key counts the items; in a mapping a key is due again.
            frame.key = frame.key + 1 if frame.item_lines is not None else _NO_KEY
        elif frame is not None and frame.item_lines is None and frame.key is _NO_KEY:
            frame.key = orjson.loads(token.group())
            lines[(*frame.loc, frame.key)] = line
        else:
            if frame is None:
                loc = root
                lines[loc] = line
            else:
                loc = (*frame.loc, frame.key)
                if frame.item_lines is not None:
                    frame.item_lines.append(line)
            if char in "[{":
                if len(stack) >= MAX_DEPTH:
                    raise SourceError(line, f"nested deeper than {MAX_DEPTH} levels")
                if char == "{":
                    stack.append(_Frame(loc, {}, None))
                else:
                    items[loc] = array("L")
                    stack.append(_Frame(loc, [], items[loc]))
    return lines, items
