"""Scenarios: the YAML format, loading it with line numbers, matching, and the catalog."""

from understudy.scenarios.catalog import Catalog, Selection
from understudy.scenarios.loader import ScenarioError, load_paths, load_text
from understudy.scenarios.schema import Delivery, ReplySpec, Scenario, ToolCallSpec

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
