"""What the installed official SDKs declare a request may hold: parameter names and the
``type`` tags of unions. Validation tests compare the server with these, so a type an SDK
can send is never refused (and a newer SDK's additions show up as failures to look at)."""

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import typing_extensions


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    if origin in (typing.Annotated, typing_extensions.Annotated):
        return _members(get_args(annotation)[0])
    return [annotation]


def type_tags(union: Any) -> set[str]:
    """Every literal ``type`` a member of ``union`` (TypedDicts or models) declares."""
    tags: set[str] = set()
    for member in _members(union):
        if not isinstance(member, type):
            continue
        fields = getattr(member, "model_fields", None)
        if fields is not None:
            annotation = fields["type"].annotation if "type" in fields else None
        else:
            annotation = typing.get_type_hints(member).get("type")
        for option in _members(annotation) if annotation is not None else ():
            if get_origin(option) is Literal:
                tags.update(value for value in get_args(option) if isinstance(value, str))
    return tags


def param_keys(*typed_dicts: type) -> set[str]:
    """The parameter names of request TypedDicts."""
    keys: set[str] = set()
    for typed_dict in typed_dicts:
        keys |= set(typed_dict.__required_keys__ | typed_dict.__optional_keys__)
    return keys
