"""The file formats users write (scenarios, chaos and engine profiles): reading YAML or
JSON with the line of every value, the model parts that declare short forms once for
validation and JSON Schema, and validation errors that say what to write."""

from understudy.format.files import (
    document_schema,
    load_model_file,
    model_schema,
    read,
    read_path,
    syntax_of,
    validate,
)
from understudy.format.models import OneOrList, Shorthand, Strict
from understudy.format.problems import FormatError

__all__ = [
    "FormatError",
    "OneOrList",
    "Shorthand",
    "Strict",
    "document_schema",
    "load_model_file",
    "model_schema",
    "read",
    "read_path",
    "syntax_of",
    "validate",
]
