"""Values generated from JSON Schemas validate, for many seeds, and a seed repeats its value.

The corpus covers every keyword the generator claims (see understudy.plan.generate);
``jsonschema`` is the judge, with format checking on.
"""

import re
import time

import jsonschema
import pytest

from understudy.plan.generate import TooLarge, Unsatisfiable, generate

SEEDS = range(60)

CORPUS = {
    "types": {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "z": {"type": "null"},
        },
        "required": ["s", "i", "n", "b", "z"],
        "additionalProperties": False,
    },
    "type_lists_nullable": {
        "type": "object",
        "properties": {"a": {"type": ["string", "null"]}, "b": {"type": ["integer", "boolean"]}},
        "required": ["a", "b"],
    },
    "enum_const": {
        "type": "object",
        "properties": {
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "n": {"enum": [1, 2.5, None, "x"]},
            "kind": {"const": "point"},
        },
        "required": ["unit", "n", "kind"],
    },
    "nested": {
        "type": "object",
        "properties": {
            "person": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer", "minimum": 0, "maximum": 130},
                    "address": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                        "required": ["city"],
                        "additionalProperties": False,
                    },
                },
                "required": ["name", "age", "address"],
                "additionalProperties": False,
            },
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
            "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        },
        "required": ["person", "tags", "matrix"],
        "additionalProperties": False,
    },
    "numbers": {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "minimum": -5, "maximum": -1},
            "b": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "c": {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 12},
            "d": {"type": "number", "multipleOf": 0.25, "minimum": 1, "maximum": 2},
            "e": {"type": "integer", "multipleOf": 7, "minimum": 100},
            "f": {"type": "number", "maximum": -1000.5},
            "g": {"type": "number", "multipleOf": 0.1},
            "h": {"type": "integer", "minimum": 0.5, "maximum": 1.5},
        },
        "required": list("abcdefgh"),
    },
    "strings": {
        "type": "object",
        "properties": {
            "short": {"type": "string", "maxLength": 3},
            "long": {"type": "string", "minLength": 40},
            "exact": {"type": "string", "minLength": 5, "maxLength": 5},
            "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{2,4}$"},
            "alt": {"type": "string", "pattern": "^(red|green|blue)(-[a-f0-9]+)?$"},
            "word": {"type": "string", "pattern": "\\w+@\\w+\\.com"},
            "neg": {"type": "string", "pattern": "^[^0-9]{2,}$"},
        },
        "required": ["short", "long", "exact", "code", "alt", "word", "neg"],
    },
    "formats": {
        "type": "object",
        "properties": {
            name: {"type": "string", "format": name}
            for name in ("date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6")
        },
        "required": ["date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6"],
    },
    "unions": {
        "type": "object",
        "properties": {
            "any": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 3}]},
            "one": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}},
                        "required": ["kind", "lives"],
                    },
                    {
                        "type": "object",
                        "properties": {"kind": {"const": "dog"}, "good": {"type": "boolean"}},
                        "required": ["kind", "good"],
                    },
                ]
            },
            "optional": {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]},
        },
        "required": ["any", "one", "optional"],
    },
    "all_of": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"a": {"minimum": 10}, "b": {"type": "string"}}, "required": ["b"]},
        ]
    },
    "refs": {
        "type": "object",
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x", "y"],
                "additionalProperties": False,
            },
            "Tree": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}},
                },
                "required": ["label", "children"],
            },
        },
        "properties": {
            "origin": {"$ref": "#/$defs/Point"},
            "path": {"type": "array", "items": {"$ref": "#/$defs/Point"}},
            "tree": {"$ref": "#/$defs/Tree"},
        },
        "required": ["origin", "path", "tree"],
    },
    "draft7_definitions": {
        "definitions": {"Name": {"type": "string", "minLength": 2}},
        "type": "object",
        "properties": {"n": {"$ref": "#/definitions/Name"}},
        "required": ["n"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "unique": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 5},
                "uniqueItems": True,
                "minItems": 3,
            },
            "tuple": {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "integer"}],
                "items": False,
                "minItems": 2,
            },
            "empty": {"type": "array", "maxItems": 0},
        },
        "required": ["unique", "tuple", "empty"],
    },
    "object_sizes": {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}},
        "minProperties": 2,
        "maxProperties": 2,
        "additionalProperties": False,
    },
    "min_properties_extra": {"type": "object", "minProperties": 3},
    "untyped": {"properties": {"x": {}}, "required": ["x"]},
    "strict_openai": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "City and country e.g. Bogotá"},
            "units": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
        },
        "required": ["location", "units"],
        "additionalProperties": False,
    },
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_generated_values_validate_for_many_seeds(name):
    schema = CORPUS[name]
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for seed in SEEDS:
        value = generate(schema, seed)
        errors = [error.message for error in validator.iter_errors(value)]
        assert not errors, (seed, value, errors)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_same_seed_gives_the_same_value(name):
    assert [generate(CORPUS[name], seed) for seed in range(5)] == [
        generate(CORPUS[name], seed) for seed in range(5)
    ]


def test_different_seeds_vary_the_value():
    values = {repr(generate(CORPUS["nested"], seed)) for seed in SEEDS}
    assert len(values) > len(SEEDS) // 2


def test_strings_are_plausible_from_the_property_name_and_description():
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "contact": {"type": "string", "description": "The user's email address"},
            "created_at": {"type": "string"},
            "firstName": {"type": "string"},
        },
        "required": ["city", "contact", "created_at", "firstName"],
    }
    value = generate(schema, 3)
    assert value["city"] in ("Paris", "Tokyo", "Lisbon", "Nairobi", "Montreal")
    assert value["contact"].endswith((".com", ".org", ".net")) and "@" in value["contact"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value["created_at"])
    assert value["firstName"] in ("Ada", "Grace", "Alan", "Katherine")


def test_a_schema_asking_for_a_huge_value_fails_fast():
    with pytest.raises(TooLarge):
        generate({"type": "string", "minLength": 10**12}, 0)
    with pytest.raises(TooLarge):
        generate({"type": "array", "minItems": 10**9}, 0)


def test_a_schema_nothing_satisfies_says_so():
    endless = {"$defs": {"A": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}
    for schema in (False, {"enum": []}, {"type": "integer", "minimum": 5, "maximum": 4}, endless):
        with pytest.raises(Unsatisfiable):
            generate(schema, 0)


def test_a_self_referencing_required_schema_stops():
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}},
                "required": ["next"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    for seed in range(10):
        jsonschema.validate(generate(schema, seed), schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "number", "minimum": 1e308, "multipleOf": 1e-300},
        {"type": "integer", "minimum": "ten"},
        {"type": "object", "properties": "nope", "required": ["a"]},
        {"type": "string", "pattern": "(a{1000}){1000}"},
        {"type": "string", "pattern": "[" * 3},
        {"type": "array", "items": {"enum": [1]}, "uniqueItems": True, "minItems": 5},
        {"type": "object", "minProperties": 10**9},
        {"items": {"allOf": [{"items": {"allOf": [{}]}}]}},
        {"$ref": "#/nowhere"},
    ],
)
def test_hostile_schemas_end_in_a_generator_error_or_a_value(schema):
    """A client's schema is untrusted: the generator answers or says why, quickly."""
    started = time.monotonic()
    try:
        value = generate(schema, 0, budget=10_000)
    except (TooLarge, Unsatisfiable) as error:
        assert str(error)
    else:
        if "pattern" not in schema:  # "[[[" is no pattern; any string is as good as another
            assert jsonschema.Draft202012Validator(schema).is_valid(value)
    assert time.monotonic() - started < 2


def test_a_very_deep_schema_is_too_large_not_a_crash():
    schema: dict = {"type": "string"}
    for _ in range(3000):
        schema = {"allOf": [{"type": "object", "properties": {"a": schema}, "required": ["a"]}]}
    with pytest.raises(TooLarge):
        generate(schema, 0)
