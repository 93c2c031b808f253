"""The one list of APIs the server speaks, and which provider answers where.

Adding a provider is one package under ``providers/`` plus its lines here; every other
list of APIs (the scenario schema, fault specs, the admin API's filters, the routes)
reads this one.
"""

from collections.abc import Mapping

from understudy.core.request import Api
from understudy.providers.anthropic import ANTHROPIC, MESSAGES
from understudy.providers.base import ApiModule, Preset, Provider
from understudy.providers.openai import CHAT, OPENAI, RESPONSES

APIS: dict[str, ApiModule] = {api.name: api for api in (CHAT, MESSAGES, RESPONSES)}
"""Every API, by its name in scenarios and the journal."""

API_NAMES: tuple[Api, ...] = tuple(APIS)  # type: ignore[assignment]

ENDPOINTS: dict[str, ApiModule] = {
    "/v1/chat/completions": CHAT,
    "/v1/messages": MESSAGES,
    "/v1/responses": RESPONSES,
}
"""The model endpoints: ``POST`` here runs the shared pipeline."""

PROVIDERS: dict[str, Provider] = {provider.name: provider for provider in (OPENAI, ANTHROPIC)}

_PREFIXES: tuple[tuple[str, Provider], ...] = (("/v1/messages", ANTHROPIC),)
"""Paths whose every route speaks one provider's dialect (errors, 401s, models)."""

_SIGNATURES: tuple[tuple[str, Provider], ...] = (("anthropic-version", ANTHROPIC),)
"""Headers that only one provider's SDK sends, on shared paths such as ``/v1/models``."""


def dialect(path: str, headers: Mapping[str, str] | None = None) -> Provider:
    """Whose conventions a request gets: by path, then by an SDK's own header, else
    OpenAI's (the compatible-API lingua franca)."""
    for prefix, provider in _PREFIXES:
        if path.startswith(prefix):
            return provider
    if headers is not None:
        for header, provider in _SIGNATURES:
            if header in headers:
                return provider
    return OPENAI


def _preset_names() -> tuple[str, ...]:
    names = [set(provider.presets) for provider in PROVIDERS.values()]
    return tuple(name for name in OPENAI.presets if all(name in found for found in names))


PRESET_NAMES: tuple[str, ...] = _preset_names()
"""Preset errors a scenario can name: those every provider words."""

PRESETS: dict[str, dict[str, Preset]] = {
    name: {
        **{provider.name: provider.presets[name] for provider in PROVIDERS.values()},
        **{api.name: api.presets[name] for api in APIS.values() if name in api.presets},
    }
    for name in PRESET_NAMES
}
"""Each preset as each provider (and an API that words it differently) reports it."""
