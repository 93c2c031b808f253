"""The providers: one package per vendor, and the registry of the APIs they serve."""

from understudy.providers.base import ApiModule, EventStream, Preset, Provider, Stored
from understudy.providers.registry import (
    API_NAMES,
    APIS,
    ENDPOINTS,
    PRESET_NAMES,
    PRESETS,
    PROVIDERS,
    dialect,
)

__all__ = [
    "APIS",
    "API_NAMES",
    "ENDPOINTS",
    "PRESETS",
    "PRESET_NAMES",
    "PROVIDERS",
    "ApiModule",
    "EventStream",
    "Preset",
    "Provider",
    "Stored",
    "dialect",
]
