"""Request-body checks that answer in OpenAI's error wording.

OpenAI's validation messages follow a few fixed patterns ("Missing required parameter:
'messages'.", "Invalid type for 'model': expected a string, but got an integer
instead."); Chat and Responses share them.
"""

from typing import Any

from understudy.core.errors import ApiError

_KINDS: dict[str, tuple[type, ...]] = {
    "a string": (str,),
    "an integer": (int,),
    "a number": (int, float),
    "a boolean": (bool,),
    "an array": (list,),
    "an object": (dict,),
}


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


def invalid_value(param: str, value: Any, supported: tuple[str, ...]) -> ApiError:
    options = ", ".join(f"'{option}'" for option in supported[:-1]) + f", and '{supported[-1]}'"
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {options}.",
        param=param,
        code="invalid_value",
    )


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
    if not any(is_kind(value, kind) for kind in kinds):
        expected = kinds[0] if len(kinds) == 1 else "one of " + " or ".join(kinds)
        raise wrong_type(param, expected, value)
    return value


def positive_int(body: dict[str, Any], key: str, minimum: int = 1) -> int | None:
    value = get(body, key, "an integer")
    if value is not None and value < minimum:
        raise ApiError(
            400,
            f"Invalid '{key}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value} instead.",
            param=key,
            code="integer_below_min_value",
        )
    return value


def choice(
    body: dict[str, Any], key: str, supported: tuple[str, ...], param: str | None = None
) -> str | None:
    """A string field limited to ``supported`` values, or None when absent."""
    param = param or key
    value = get(body, key, "a string", param=param)
    if value is not None and value not in supported:
        raise invalid_value(param, value, supported)
    return value


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
