"""Values generated from a JSON Schema: tool arguments and structured output on demand.

``generate(schema, seed)`` returns a value valid for ``schema`` and the same value for
the same seed. Strings are plausible where the property's name or description says what
they hold ("city" gives a city, an ``email`` format an address) so a transcript reads
like a model's. Keywords honoured: ``type`` (and type lists), ``enum``, ``const``,
``properties``/``required``/``additionalProperties``/``min``/``maxProperties``,
``items``/``prefixItems``/``min``/``maxItems``/``uniqueItems``, ``minimum``/``maximum``
(exclusive too, in both drafts' forms), ``multipleOf``, ``minLength``/``maxLength``,
``pattern`` (generated from the parsed pattern: literals, classes, repeats, groups,
alternation; lookarounds and backreferences are not), ``format`` (date, date-time, time,
email, uri, uuid, ipv4, ipv6, hostname), ``anyOf``/``oneOf`` (one branch; ``oneOf``
branches are taken to be disjoint), ``allOf`` (merged), ``$ref`` into ``$defs`` or
``definitions``, and ``nullable``. ``not``, ``if``/``then``/``else`` and
``patternProperties`` are ignored.

Work is bounded by ``budget``: every generated character, item and property spends
from it, so a schema asking for a billion-character string fails fast with
``TooLarge`` instead of filling memory.
"""

import datetime
import random
import re
import string
import uuid
import warnings
from typing import Any

try:  # the standard library's regex parser; public as sre_parse before 3.11
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse as _sre  # type: ignore[no-redef]

DEFAULT_BUDGET = 100_000
_MAX_DEPTH = 32
_DEEP = 8
"""Past this depth values stay minimal (no optional parts), so recursive schemas end."""
_OPEN_REPEAT = 3
"""Extra repeats of an open-ended ``*``, ``+`` or ``{n,}`` in a pattern."""


class TooLarge(ValueError):
    """The schema asks for more than the budget allows."""


class Unsatisfiable(ValueError):
    """No value can satisfy the schema (``false``, an empty ``enum``, crossed bounds)."""


_PLAUSIBLE: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("email",), ("user@example.com", "ada@example.org", "team@example.net")),
    (("city", "town"), ("Paris", "Tokyo", "Lisbon", "Nairobi", "Montreal")),
    (("country",), ("France", "Japan", "Portugal", "Kenya", "Canada")),
    (("first_name", "firstname", "given"), ("Ada", "Grace", "Alan", "Katherine")),
    (("last_name", "lastname", "surname", "family"), ("Lovelace", "Hopper", "Turing")),
    (("username", "user_name", "handle", "login"), ("ada", "grace_h", "aturing")),
    (("name", "author", "person"), ("Ada Lovelace", "Grace Hopper", "Alan Turing")),
    (("company", "organization", "organisation", "employer"), ("Acme Corp", "Initech")),
    (("street", "address"), ("12 Rue de Rivoli", "221B Baker Street")),
    (("zip", "postal", "postcode"), ("75001", "10115", "94103")),
    (("phone", "tel", "mobile"), ("+33 1 23 45 67 89", "+1 555 0100")),
    (("url", "uri", "link", "website", "homepage"), ("https://example.com",)),
    (("currency",), ("EUR", "USD", "JPY")),
    (("language", "lang", "locale"), ("en", "fr", "ja")),
    (("unit",), ("celsius", "metric")),
    (("tz", "timezone", "time_zone"), ("Europe/Paris", "UTC", "Asia/Tokyo")),
    (("color", "colour"), ("blue", "green", "red")),
    (("query", "search", "keyword", "question", "prompt"), ("weather in Paris",)),
    (("title", "headline", "subject"), ("A short title", "Weekly report")),
    (
        ("summary", "description", "text", "content", "body", "message", "answer", "reason"),
        ("A short, plausible answer.", "Everything went as expected."),
    ),
    (("status", "state"), ("active", "pending", "done")),
    (("category", "type", "kind", "tag", "label"), ("general", "news", "support")),
    (("id", "identifier", "key"), ("item_001", "abc123")),
)
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def generate(schema: Any, seed: int = 0, *, name: str = "", budget: int = DEFAULT_BUDGET) -> Any:
    """A value valid for ``schema``; ``name`` is the property it fills, for plausibility.

    Raises ``TooLarge`` or ``Unsatisfiable``, never anything else, whatever the schema.
    """
    try:
        return _Generator(schema, random.Random(seed), budget).value(schema, name, 0)
    except RecursionError:
        raise TooLarge("the schema nests deeper than Understudy generates") from None
    except (TooLarge, Unsatisfiable):
        raise
    except Exception as error:  # a malformed schema ("properties": "nope"): say so, don't crash
        raise Unsatisfiable(f"the schema cannot be followed ({type(error).__name__})") from None


class _Generator:
    def __init__(self, root: Any, rng: random.Random, budget: int) -> None:
        self.root = root
        self.rng = rng
        self.budget = budget

    def spend(self, amount: int) -> None:
        self.budget -= max(amount, 0)
        if self.budget < 0:
            raise TooLarge("the schema asks for a larger value than Understudy generates")

    # -- schema plumbing -------------------------------------------------------------

    def resolve(self, schema: Any, depth: int) -> Any:
        """``schema`` with ``$ref`` followed and ``allOf`` merged in."""
        for _ in range(_MAX_DEPTH):
            if not isinstance(schema, dict):
                return schema
            if "$ref" in schema:
                target = self.pointer(schema["$ref"])
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = _merge(target, rest) if rest else target
            elif "allOf" in schema:
                parts = [self.resolve(part, depth) for part in schema["allOf"]]
                rest = {k: v for k, v in schema.items() if k != "allOf"}
                merged: Any = rest
                for part in parts:
                    merged = _merge(merged, part)
                schema = merged
            else:
                return schema
        raise Unsatisfiable("$ref or allOf nests too deeply")

    def pointer(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}  # a remote reference: nothing to follow
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise Unsatisfiable(f"$ref {ref} points nowhere")
        return node

    # -- values ----------------------------------------------------------------------

    def value(self, schema: Any, name: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise TooLarge("the schema nests deeper than Understudy generates")
        schema = self.resolve(schema, depth)
        self.spend(1)
        if schema is True or schema == {}:
            return self.plain_string(name, {})
        if schema is False or not isinstance(schema, dict):
            raise Unsatisfiable("the schema 'false' allows no value")
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            if not options:
                raise Unsatisfiable("an empty enum allows no value")
            return self.rng.choice(options)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            return self.value(_merge(rest, self.branch(branches, depth)), name, depth + 1)
        kind = self.type_of(schema, depth)
        if kind == "null":
            return None
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind in ("integer", "number"):
            return self.number(schema, name, kind == "integer")
        if kind == "array":
            return self.array(schema, name, depth)
        if kind == "object":
            return self.object(schema, depth)
        return self.string(schema, name)

    def branch(self, branches: list[Any], depth: int) -> Any:
        """One branch, never ``null`` when another exists; deep down, the simplest one."""
        resolved = [self.resolve(branch, depth) for branch in branches]
        null = [b for b in resolved if isinstance(b, dict) and b.get("type") == "null"]
        if depth > _DEEP:  # recursion: stop where the schema lets it
            return null[0] if null else resolved[0]
        return self.rng.choice([b for b in resolved if not any(b is n for n in null)] or resolved)

    def type_of(self, schema: dict[str, Any], depth: int) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            concrete = [k for k in kind if k != "null"]
            if not concrete:
                return "null"
            kind = self.rng.choice(concrete)
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema or "minItems" in schema:
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
            return "number"
        return "string"

    def number(self, schema: dict[str, Any], name: str, integer: bool) -> int | float:
        low, high, low_open, high_open = _bounds(schema)
        step = schema.get("multipleOf")
        if not isinstance(step, int | float) or isinstance(step, bool) or step <= 0:
            step = None
        if integer and step is not None:
            step = _lcm_int(step)
        hint = _number_hint(name)
        if low is None and high is None:
            low, high = hint
        span = 10 * (step or 1)  # room for a few multiples when one bound is open
        if low is None:
            low = hint[0] if high - hint[0] >= span else high - 10 * span
        elif high is None:
            high = hint[1] if hint[1] - low >= span else low + 10 * span
        if low > high:
            raise Unsatisfiable("minimum is above maximum")
        if step:
            first = _ceil_div(low, step)
            last = _floor_div(high, step)
            if low_open and first * step <= low:
                first += 1
            if high_open and last * step >= high:
                last -= 1
            if first > last:
                raise Unsatisfiable("no multiple of multipleOf lies within the bounds")
            tries = [self.rng.randint(first, min(last, first + 1000)) for _ in range(16)]
            for k in [*tries, *range(first, min(last, first + 64) + 1)]:
                value = int(k * step) if integer or isinstance(step, int) else round(k * step, 10)
                if _within(value, schema) and _multiple(value, step):
                    return value
            raise Unsatisfiable("no multiple of multipleOf lies within the bounds")
        if integer:
            lo = int(_ceil(low)) + (1 if low_open and _ceil(low) == low else 0)
            hi = int(_floor(high)) - (1 if high_open and _floor(high) == high else 0)
            if lo > hi:
                raise Unsatisfiable("no integer lies within the bounds")
            return self.rng.randint(lo, hi)
        for _ in range(8):
            value = round(self.rng.uniform(low, high), 2)
            if _within(value, schema):
                return value
        value = (low + high) / 2
        if _within(value, schema):
            return value
        raise Unsatisfiable("no number lies within the bounds")

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        high = None if high is None else int(high)
        if items is False:
            high = len(prefix) if high is None else min(high, len(prefix))
        if high is not None and high < low:
            raise Unsatisfiable("minItems is above maxItems")
        lo = max(low, 1 if depth < _DEEP else 0)
        hi = max(lo, 3 if depth < _DEEP else lo)
        if high is not None:
            lo, hi = min(lo, high), max(min(lo, high), min(hi, high))
        self.spend(lo)
        count = self.rng.randint(lo, hi)
        self.spend(count - lo)
        item_name = name[:-1] if name.endswith("s") else name
        out: list[Any] = []
        unique = schema.get("uniqueItems") is True
        attempts = 0
        while len(out) < count:
            index = len(out)
            sub = prefix[index] if index < len(prefix) else items
            candidate = self.value(sub, item_name, depth + 1)
            if unique and candidate in out:
                attempts += 1
                if attempts > 20 + 4 * count:
                    if len(out) >= low:
                        break
                    raise Unsatisfiable("cannot find enough distinct items")
                continue
            out.append(candidate)
        return out

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = [key for key in schema.get("required") or () if isinstance(key, str)]
        shallow = depth < _DEEP
        chosen = list(dict.fromkeys(required))
        optional = [key for key in properties if key not in chosen]
        maximum = schema.get("maxProperties")
        for key in optional:
            if shallow and self.rng.random() < 0.5:
                chosen.append(key)
        if maximum is not None:
            keep = set(required) | set(chosen[: max(int(maximum), len(required))])
            chosen = [key for key in chosen if key in keep]
        minimum = int(schema.get("minProperties", 0))
        self.spend(minimum)
        for key in optional:
            if len(chosen) >= minimum:
                break
            if key not in chosen:
                chosen.append(key)
        self.spend(len(chosen))
        out = {key: self.value(properties.get(key, {}), key, depth + 1) for key in chosen}
        extra = schema.get("additionalProperties", True)
        index = 0
        while len(out) < minimum:
            if extra is False:
                raise Unsatisfiable("minProperties needs properties the schema forbids")
            key = f"extra_{index}"
            index += 1
            if key not in out:
                out[key] = self.value({} if extra is True else extra, key, depth + 1)
        return out

    def string(self, schema: dict[str, Any], name: str) -> str:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        high = None if high is None else int(high)
        if high is not None and high < low:
            raise Unsatisfiable("minLength is above maxLength")
        self.spend(low)
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        candidates: list[str] = []
        if isinstance(pattern, str):
            candidates = [self.from_pattern(pattern) for _ in range(4)]
        elif isinstance(fmt, str) and fmt in _FORMATS:
            candidates = [_FORMATS[fmt](self.rng)]
        for text in candidates:
            if text is not None and low <= len(text) and (high is None or len(text) <= high):
                self.spend(len(text))
                return text
        # A pattern or format the lengths cannot fit: the lengths win (best effort).
        fixed = next((text for text in candidates if text is not None), None)
        return self.fit_length(fixed or self.plain_string(name, schema), low, high)

    def fit_length(self, text: str, low: int, high: int | None) -> str:
        if high is not None and len(text) > high:
            text = text[:high]
        if len(text) < low:
            text += "".join(self.rng.choice(string.ascii_lowercase) for _ in range(low - len(text)))
        self.spend(len(text))
        return text

    def plain_string(self, name: str, schema: dict[str, Any]) -> str:
        key = f"{name} {schema.get('description', '') if isinstance(schema, dict) else ''}"
        key = key.lower()
        if name:
            words = set(re.split(r"[^a-z]+", _snake(name)))
            for hints, values in _PLAUSIBLE:
                if _snake(name) in hints or words & set(hints):
                    return self.rng.choice(values)
            for fmt, hints in _FORMAT_HINTS:
                if words & hints:
                    return _FORMATS[fmt](self.rng)
        for hints, values in _PLAUSIBLE:
            if any(re.search(rf"\b{hint}\b", key) for hint in hints):
                return self.rng.choice(values)
        return f"{self.rng.choice(_WORDS)}-{self.rng.randint(1, 99)}"

    def from_pattern(self, pattern: str) -> str | None:
        """A string the pattern matches, or None for a construct this does not generate."""
        try:
            with warnings.catch_warnings():  # a client's odd pattern is not our warning
                warnings.simplefilter("ignore")
                parsed = _sre.parse(pattern)
        except (re.error, RecursionError, OverflowError):
            return None
        out: list[str] = []
        groups: dict[int, str] = {}
        try:
            self.emit(list(parsed), out, groups, 0)
        except _Unsupported:
            return None
        return "".join(out)

    def emit(self, items: list[Any], out: list[str], groups: dict[int, str], depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Unsupported
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(arg))
            elif name == "ANY":
                out.append(self.rng.choice(string.ascii_letters))
            elif name == "IN":
                out.append(self.char_in(arg))
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, high, sub = arg
                top = (
                    low + _OPEN_REPEAT if high == _sre.MAXREPEAT else min(high, low + _OPEN_REPEAT)
                )
                times = self.rng.randint(low, max(low, top))
                self.spend(times)
                for _ in range(times):
                    self.emit(list(sub), out, groups, depth + 1)
            elif name == "SUBPATTERN":
                group, _, _, sub = arg
                start = len(out)
                self.emit(list(sub), out, groups, depth + 1)
                if group is not None:
                    groups[group] = "".join(out[start:])
            elif name == "BRANCH":
                _, branches = arg
                self.emit(list(self.rng.choice(branches)), out, groups, depth + 1)
            elif name == "GROUPREF" and arg in groups:
                out.append(groups[arg])
            elif name == "AT" or (name == "ATOMIC_GROUP" and not arg):
                continue  # anchors: the string is generated whole
            elif name == "ATOMIC_GROUP":
                self.emit(list(arg), out, groups, depth + 1)
            elif name == "NOT_LITERAL":
                out.append("a" if chr(arg) != "a" else "b")
            else:
                raise _Unsupported

    def char_in(self, members: list[Any]) -> str:
        negate = any(str(op) == "NEGATE" for op, _ in members)
        allowed: list[str] = []
        for op, arg in members:
            name = str(op)
            if name == "LITERAL":
                allowed.append(chr(arg))
            elif name == "RANGE":
                low, high = arg
                allowed.extend(chr(c) for c in range(low, min(high, low + 200) + 1))
            elif name == "CATEGORY":
                allowed.extend(_CATEGORIES.get(str(arg), ""))
        if negate:
            pool = [c for c in string.ascii_letters + string.digits if c not in allowed]
        else:
            pool = allowed
        if not pool:
            raise _Unsupported
        return self.rng.choice(pool)


class _Unsupported(Exception):
    pass


_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_NOT_WORD": " -.",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": string.ascii_letters + string.digits,
}


def _date(rng: random.Random) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(seconds=rng.randint(0, 3 * 365 * 86400))


_FORMATS: dict[str, Any] = {
    "date": lambda rng: _date(rng).date().isoformat(),
    "date-time": lambda rng: _date(rng).isoformat().replace("+00:00", "Z"),
    "time": lambda rng: _date(rng).time().isoformat() + "Z",
    "email": lambda rng: rng.choice(_PLAUSIBLE[0][1]),
    "idn-email": lambda rng: rng.choice(_PLAUSIBLE[0][1]),
    "uri": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "url": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "iri": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "uri-reference": lambda rng: f"/{rng.choice(_WORDS)}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "ipv4": lambda rng: f"192.0.2.{rng.randint(1, 254)}",
    "ipv6": lambda rng: f"2001:db8::{rng.randint(1, 0xFFFF):x}",
    "hostname": lambda rng: f"{rng.choice(_WORDS)}.example.com",
    "idn-hostname": lambda rng: f"{rng.choice(_WORDS)}.example.com",
    "duration": lambda rng: f"PT{rng.randint(1, 59)}M",
}
_FORMAT_HINTS = (
    ("date-time", {"timestamp", "datetime", "at"}),
    ("date", {"date", "birthday", "day", "dob"}),
    ("time", {"time"}),
    ("uuid", {"uuid", "guid"}),
)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _number_hint(name: str) -> tuple[float, float]:
    words = set(_snake(name).split("_"))
    if words & {"year"}:
        return 1990, 2030
    if words & {"age"}:
        return 18, 90
    if words & {"lat", "latitude"}:
        return -90, 90
    if words & {"lon", "lng", "longitude"}:
        return -180, 180
    if words & {"percent", "percentage"}:
        return 0, 100
    return 0, 100


def _bounds(schema: dict[str, Any]) -> tuple[Any, Any, bool, bool]:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_open = high_open = False
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_low is True:  # draft 4: a flag on minimum
        low_open = low is not None
    elif isinstance(ex_low, int | float) and (low is None or ex_low >= low):
        low, low_open = ex_low, True
    if ex_high is True:
        high_open = high is not None
    elif isinstance(ex_high, int | float) and (high is None or ex_high <= high):
        high, high_open = ex_high, True
    return low, high, low_open, high_open


def _within(value: float, schema: dict[str, Any]) -> bool:
    low, high, low_open, high_open = _bounds(schema)
    if low is not None and (value < low or (low_open and value == low)):
        return False
    return high is None or not (value > high or (high_open and value == high))


def _ceil(value: float) -> float:
    return float(-(-value // 1))


def _floor(value: float) -> float:
    return float(value // 1)


def _ceil_div(value: float, step: float) -> int:
    return int(-(-value // step))


def _floor_div(value: float, step: float) -> int:
    return int(value // step)


def _multiple(value: float, step: float) -> bool:
    """The test validators apply: an integral quotient, in floating point for floats."""
    if isinstance(value, int) and isinstance(step, int):
        return value % step == 0
    try:
        return float(value / step).is_integer()
    except OverflowError:
        return False


def _lcm_int(step: Any) -> int:
    """An integer step that is a multiple of ``multipleOf``."""
    if isinstance(step, int) and not isinstance(step, bool) and step > 0:
        return step
    if isinstance(step, float) and step > 0:
        for factor in range(1, 1001):
            if float(step * factor).is_integer() and step * factor >= 1:
                return int(step * factor)
    return 1


def _merge(first: Any, second: Any) -> Any:
    """Two schemas that must both hold, as one (``allOf``, sibling keywords)."""
    if not isinstance(first, dict) or not isinstance(second, dict):
        return second if first is True or first == {} else first
    merged = dict(first)
    for key, value in second.items():
        if key not in merged:
            merged[key] = value
        elif key == "properties":
            props = dict(merged[key])
            for name, sub in value.items():
                props[name] = _merge(props[name], sub) if name in props else sub
            merged[key] = props
        elif key == "required":
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"):
            merged[key] = max(merged[key], value)
        elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"):
            merged[key] = min(merged[key], value)
        elif key == "enum":
            merged[key] = [item for item in merged[key] if item in value]
        elif key == "type" and (isinstance(value, list) or isinstance(merged[key], list)):
            mine = merged[key] if isinstance(merged[key], list) else [merged[key]]
            theirs = value if isinstance(value, list) else [value]
            both = [kind for kind in mine if kind in theirs]
            if ("integer" in mine and "number" in theirs) or (
                "number" in mine and "integer" in theirs
            ):
                both.append("integer")
            merged[key] = both or "null"
        elif key == "type" and {merged[key], value} == {"integer", "number"}:
            merged[key] = "integer"
        elif key == "additionalProperties" and value is False:
            merged[key] = False
        elif key in ("items", "not"):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
