"""The building blocks of the formats users write: strict models, short forms, lists.

A field that takes a short form (``after_events: 3`` for ``{min: 3, max: 3}``, ``tools:
get_weather`` for ``[get_weather]``) is validated in its long form, and its JSON Schema
must still admit the short one, or an editor flags a file the server loads. So each
short form is declared once, here, with both its conversion and its schema: ``Shorthand``
for a model that takes short forms, ``OneOrList`` for a list that takes one item.
"""

from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue as JsonSchema
from pydantic_core import CoreSchema, core_schema


class Strict(BaseModel):
    """The base of every model of the file formats: unknown fields are errors, and a
    loaded value never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _shorthands(handler: GetJsonSchemaHandler, schema: CoreSchema, *forms: Any) -> JsonSchema:
    """A model's JSON schema that also admits the short ``forms`` its validator accepts; a
    form that is a model class stands for that model's schema."""
    reference = handler(schema)
    definition = handler.resolve_ref_schema(reference)
    full = dict(definition)
    definition.clear()
    definition["anyOf"] = [
        handler(_reference(form)) if isinstance(form, type) else form for form in forms
    ] + [full]
    return reference


def _reference(model: type[BaseModel]) -> CoreSchema:
    """A core schema that refers to ``model``, so its JSON schema is a ``$ref`` to the
    model's definition rather than a second copy of it."""
    schema = model.__pydantic_core_schema__
    definitions: list[CoreSchema] = []
    if schema["type"] == "definitions":
        definitions = list(schema["definitions"])
        schema = schema["schema"]
    ref = schema.get("ref")
    if ref is None:
        return model.__pydantic_core_schema__
    return core_schema.definitions_schema(
        core_schema.definition_reference_schema(ref), [schema, *definitions]
    )


class Shorthand(Strict):
    """A model that also takes short forms: ``expand`` turns one into the mapping (None
    when the value is no short form), ``SHORT_FORMS`` are their JSON schemas, and
    ``ACCEPTS`` names every form in words, for a value that is none of them: "must be a
    number or {min, max}", not pydantic's "a valid dictionary or instance of EventRange"."""

    ACCEPTS: ClassVar[str]
    SHORT_FORMS: ClassVar[tuple[Any, ...]]

    @classmethod
    def expand(cls, value: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        expanded = cls.expand(data)
        if expanded is not None:
            return expanded
        if isinstance(data, dict):
            return data
        raise ValueError(f"must be {cls.ACCEPTS}")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchema:
        return _shorthands(handler, schema, *cls.SHORT_FORMS)


def is_number(value: Any) -> bool:
    """An int or a float, which YAML's ``true`` (a Python bool) is not."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """An int, which YAML's ``true`` (a Python bool) is not."""
    return isinstance(value, int) and not isinstance(value, bool)


class _OneOrList:
    """``x`` is short for ``[x]``: validated as the list, described as either."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(_listed, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchema:
        listed = handler(schema)
        return {"anyOf": [listed["items"], listed]}


def _listed(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


Item = TypeVar("Item")
OneOrList = Annotated[list[Item], _OneOrList()]
"""A list that also takes one item alone: ``tools: get_weather``, ``fault: {kind: ...}``."""
