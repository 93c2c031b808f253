"""Request-body checks that answer in OpenAI's error wording.

OpenAI's validation messages follow a few fixed patterns ("Missing required parameter:
'messages'.", "Invalid type for 'model': expected a string, but got an integer
instead.", "Invalid 'temperature': decimal above maximum value. Expected a value <= 2,
but got 3 instead."); Chat and Responses share them. A request body is checked against
a table of ``Rule`` s, one per known parameter, so each API states its parameters as data
and only its conversation rules as code.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from understudy.core.errors import ApiError

_KINDS: dict[str, tuple[type, ...]] = {
    "a string": (str,),
    "an integer": (int,),
    "a decimal": (int, float),
    "a boolean": (bool,),
    "an array": (list,),
    "an object": (dict,),
}
NAME_PATTERN = "^[a-zA-Z0-9_-]+$"
"""What a function, tool or participant name may hold (at most 64 characters)."""
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def is_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind != "a boolean":
        return False
    return isinstance(value, _KINDS[kind])


@lru_cache(maxsize=64)
def _types(kinds: tuple[str, ...]) -> tuple[tuple[type, ...], bool]:
    """The Python types of JSON ``kinds``, and whether a boolean is one of them."""
    return tuple(t for kind in kinds for t in _KINDS[kind]), "a boolean" in kinds


def _is(value: Any, kinds: tuple[str, ...]) -> bool:
    types, booleans = _types(kinds)
    if value.__class__ is bool:
        return booleans
    return isinstance(value, types)


# --- Errors, in OpenAI's words --------------------------------------------------------


def missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def wrong_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def listing(options: tuple[str, ...]) -> str:
    """``'a', 'b', and 'c'`` (``'a' and 'b'`` for two), as OpenAI lists supported values."""
    quoted = [f"'{option}'" for option in options]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def invalid_value(param: str, value: Any, supported: tuple[str, ...]) -> ApiError:
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listing(supported)}.",
        param=param,
        code="invalid_value",
    )


def invalid(param: str | None, message: str, code: str | None = None) -> ApiError:
    """Any other 400 naming ``param``."""
    return ApiError(400, message, param=param, code=code)


def empty_array(param: str) -> ApiError:
    return invalid(
        param,
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got "
        "an empty array instead.",
        "empty_array",
    )


def empty_string(param: str) -> ApiError:
    return invalid(
        param,
        f"Invalid '{param}': empty string. Expected a string with minimum length 1, but got "
        "an empty string instead.",
        "empty_string",
    )


def out_of_range(param: str, value: Any, bound: float, above: bool, kind: str) -> ApiError:
    """``kind`` is "integer" or "decimal"."""
    side, sign = ("above maximum", "<=") if above else ("below minimum", ">=")
    return invalid(
        param,
        f"Invalid '{param}': {kind} {side} value. Expected a value {sign} {bound}, but got "
        f"{value} instead.",
        f"{kind}_{'above_max' if above else 'below_min'}_value",
    )


def too_long(param: str, value: str | list[Any], maximum: int) -> ApiError:
    noun = "string" if isinstance(value, str) else "array"
    return invalid(
        param,
        f"Invalid '{param}': {noun} too long. Expected {'a' if noun == 'string' else 'an'} "
        f"{noun} with maximum length {maximum}, but got {'a' if noun == 'string' else 'an'} "
        f"{noun} with length {len(value)} instead.",
        f"{noun}_above_max_length",
    )


def name_error(param: str, name: str) -> ApiError | None:
    """The error for a function, tool or participant name OpenAI would refuse, or None."""
    if not name:
        return empty_string(param)
    if len(name) > 64:
        return too_long(param, name, 64)
    if not _NAME_CHARACTERS.issuperset(name):
        return invalid(
            param,
            f"Invalid '{param}': string does not match pattern. Expected a string that "
            f"matches the pattern '{NAME_PATTERN}'.",
            "invalid_value",
        )
    return None


def check_name(value: Any, param: str) -> None:
    error = name_error(param, value)
    if error is not None:
        raise error


# --- Rules: one known parameter each ----------------------------------------------------

Check = Callable[[Any, str], None]
"""A deeper check of a value whose JSON type is right: ``check(value, param)``."""


@dataclass(frozen=True, slots=True)
class Rule:
    """What one parameter may be: its JSON kinds, a range, the allowed strings, and a
    deeper ``shape`` check for objects and arrays."""

    kinds: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    shape: Check | None = None
    nullable: bool = True
    types: tuple[type, ...] = field(init=False, repr=False, compare=False)
    booleans: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        types, booleans = _types(self.kinds)
        object.__setattr__(self, "types", types)
        object.__setattr__(self, "booleans", booleans)

    def check(self, value: Any, param: str) -> None:
        if value is None:
            if self.nullable:
                return
            raise wrong_type(param, self.expected, value)
        if not (self.booleans if value.__class__ is bool else isinstance(value, self.types)):
            raise wrong_type(param, self.expected, value)
        if self.minimum is not None and value < self.minimum:
            raise out_of_range(param, value, self.minimum, False, self.number_kind)
        if self.maximum is not None and value > self.maximum:
            raise out_of_range(param, value, self.maximum, True, self.number_kind)
        if self.choices and value not in self.choices:
            raise invalid_value(param, value, self.choices)
        if self.shape is not None:
            self.shape(value, param)

    @property
    def expected(self) -> str:
        kinds = self.kinds
        return kinds[0] if len(kinds) == 1 else "one of " + " or ".join(kinds)

    @property
    def number_kind(self) -> str:
        return "integer" if self.kinds == ("an integer",) else "decimal"


STRING = Rule(("a string",))
BOOLEAN = Rule(("a boolean",))
OBJECT = Rule(("an object",))
ARRAY = Rule(("an array",))
INTEGER = Rule(("an integer",))
ANY = Rule(("a string", "an integer", "a decimal", "a boolean", "an array", "an object"))


def decimal(minimum: float, maximum: float) -> Rule:
    return Rule(("a decimal",), minimum=minimum, maximum=maximum)


def integer(minimum: int | None = None, maximum: int | None = None) -> Rule:
    return Rule(("an integer",), minimum=minimum, maximum=maximum)


def one_of(*choices: str) -> Rule:
    return Rule(("a string",), choices=choices)


def object_of(rules: Mapping[str, Rule], *required: str) -> Rule:
    return Rule(("an object",), shape=Shape(rules, required))


def array_of(item: Rule) -> Rule:
    return Rule(("an array",), shape=Each(item))


@dataclass(frozen=True, slots=True)
class Shape:
    """An object's required keys and the rules of the keys it knows; others pass."""

    rules: Mapping[str, Rule]
    required: tuple[str, ...] = ()

    def __call__(self, value: dict[str, Any], param: str) -> None:
        for key in self.required:
            if value.get(key) is None:
                raise missing(f"{param}.{key}")
        rules = self.rules
        for key, item in value.items():
            rule = rules.get(key)
            if rule is not None:
                rule.check(item, f"{param}.{key}")


@dataclass(frozen=True, slots=True)
class Each:
    """Every element of an array follows ``item`` (and none is null)."""

    item: Rule

    def __call__(self, value: list[Any], param: str) -> None:
        check = self.item.check
        for index, element in enumerate(value):
            if element is None:
                raise wrong_type(f"{param}[{index}]", self.item.expected, None)
            check(element, f"{param}[{index}]")


@dataclass(frozen=True, slots=True)
class Tagged:
    """An object chosen by its ``type``: the type is required and one of ``shapes``.

    ``at`` ends the param an unknown type is reported at (Responses names the part
    itself, ``input[1].content[0]``, where Chat names its ``.type``).
    """

    shapes: Mapping[str, Check | None]
    at: str = ".type"

    def __call__(self, value: dict[str, Any], param: str) -> None:
        kind = value.get("type")
        if kind is None:
            raise missing(f"{param}.type")
        if not isinstance(kind, str):
            raise wrong_type(f"{param}.type", "a string", kind)
        if kind not in self.shapes:
            raise invalid_value(f"{param}{self.at}", kind, tuple(self.shapes))
        shape = self.shapes[kind]
        if shape is not None:
            shape(value, param)


def metadata(value: dict[str, Any], param: str) -> None:
    """Metadata maps keys to strings."""
    for key, item in value.items():
        if not isinstance(item, str):
            raise wrong_type(f"{param}.{key}", "a string", item)


def non_empty(value: str, param: str) -> None:
    if not value:
        raise empty_string(param)


METADATA = Rule(("an object",), shape=metadata)
NAME = Rule(("a string",), shape=check_name)
"""A function, tool or schema name."""
NON_EMPTY = Rule(("a string",), shape=non_empty)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
FUNCTION = {"name": NAME, "description": STRING, "parameters": OBJECT, "strict": BOOLEAN}
"""A function tool's fields (nested under ``function`` in Chat, flat in Responses)."""
JSON_SCHEMA = {"name": NAME, "description": STRING, "schema": OBJECT, "strict": BOOLEAN}
"""A structured-output format's fields."""
MODERATION = object_of({"model": STRING, "policy": OBJECT}, "model")
TOOL_CHOICES = ("none", "auto", "required")


def tool_choice(named: "Tagged") -> Rule:
    """``tool_choice``: one of ``TOOL_CHOICES``, or an object naming a tool (``named``)."""

    def check(value: str | dict[str, Any], param: str) -> None:
        if isinstance(value, str):
            if value not in TOOL_CHOICES:
                raise invalid_value(param, value, TOOL_CHOICES)
        else:
            named(value, param)

    return Rule(("a string", "an object"), shape=check)


def check_body(
    body: dict[str, Any],
    rules: Mapping[str, Rule],
    unknown: Callable[[list[str]], ApiError] | None,
) -> None:
    """Every parameter of ``body`` against its rule; names without one go to ``unknown``
    (None: accepted, as lenient mode wants)."""
    if unknown is not None:
        strange = [key for key in body if key not in rules]
        if strange:
            raise unknown(strange)
    for key, value in body.items():
        rule = rules.get(key)
        if rule is not None:
            rule.check(value, key)


def get(
    body: dict[str, Any],
    key: str,
    *kinds: str,
    param: str | None = None,
    required: bool = False,
    nullable: bool = True,
) -> Any:
    """``body[key]`` checked against ``kinds`` (e.g. ``"a string"``), or None when absent."""
    param = param or key
    if key not in body or (body[key] is None and nullable):
        if required:
            raise missing(param)
        return None
    value = body[key]
    if not _is(value, kinds):
        expected = kinds[0] if len(kinds) == 1 else "one of " + " or ".join(kinds)
        raise wrong_type(param, expected, value)
    return value


def too_many_tokens(param: str, value: int, limit: int, noun: str) -> ApiError:
    """A token budget no model offers: "max_tokens is too large: ..."."""
    return invalid(
        param,
        f"{param} is too large: {value}. This model supports at most {limit} {noun} "
        f"tokens, whereas you provided {value}.",
        "invalid_value",
    )


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return ""
