"""Scenarios: the YAML format, loading it with line numbers, matching, and the catalog."""

from server.scenarios.catalog import Catalog, Selection
from server.scenarios.loader import ScenarioError, load_paths, load_text
from server.scenarios.schema import Delivery, ReplySpec, Scenario, ToolCallSpec

__all__ = [
    "Catalog",
    "Delivery",
    "ReplySpec",
    "Scenario",
    "ScenarioError",
    "Selection",
    "ToolCallSpec",
    "load_paths",
    "load_text",
]
