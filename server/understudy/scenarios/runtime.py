"""Scenarios added at run time through the admin API, scoped by namespace.

A request in namespace ``ns`` is answered from, in order: the runtime scenarios of
``ns`` (most recently added first), the global runtime scenarios (namespace ``""``),
then the file catalog. A runtime scenario hides a file scenario of the same name, so a
test can replace ``default`` for itself alone. The combined ``Catalog`` is built once per
namespace and reused until scenarios change; with no runtime scenarios at all a request
uses the file catalog directly.
"""

from understudy.scenarios import Catalog, Scenario

_CACHE_LIMIT = 1024


class RuntimeScenarios:
    def __init__(self) -> None:
        self._by_namespace: dict[str, list[Scenario]] = {}
        self._cache: dict[str, tuple[Catalog, Catalog]] = {}

    def add(self, namespace: str, scenarios: list[Scenario]) -> None:
        """Put ``scenarios`` first in ``namespace``, replacing any of the same names."""
        names = {scenario.name for scenario in scenarios}
        kept = [s for s in self._by_namespace.get(namespace, []) if s.name not in names]
        self._by_namespace[namespace] = [*scenarios, *kept]
        self._cache.clear()

    def remove(self, namespace: str, name: str) -> bool:
        current = self._by_namespace.get(namespace, [])
        kept = [scenario for scenario in current if scenario.name != name]
        if len(kept) == len(current):
            return False
        self._store(namespace, kept)
        return True

    def clear(self, namespace: str | None = None) -> int:
        """Remove every runtime scenario, or one namespace's; return how many went."""
        if namespace is None:
            removed = sum(len(scenarios) for scenarios in self._by_namespace.values())
            self._by_namespace.clear()
        else:
            removed = len(self._by_namespace.pop(namespace, []))
        self._cache.clear()
        return removed

    def scenarios(self, namespace: str) -> list[Scenario]:
        return list(self._by_namespace.get(namespace, []))

    def _store(self, namespace: str, scenarios: list[Scenario]) -> None:
        if scenarios:
            self._by_namespace[namespace] = scenarios
        else:
            self._by_namespace.pop(namespace, None)
        self._cache.clear()

    def layers(self, namespace: str) -> list[tuple[str, list[Scenario]]]:
        """The runtime layers a request in ``namespace`` sees, highest priority first."""
        layers = [(namespace, self._by_namespace.get(namespace, []))]
        if namespace:
            layers.append(("", self._by_namespace.get("", [])))
        return [(name, scenarios) for name, scenarios in layers if scenarios]

    def catalog_for(self, namespace: str, base: Catalog) -> Catalog:
        """The catalog that answers requests in ``namespace``."""
        if not self._by_namespace:
            return base
        cached = self._cache.get(namespace)
        if cached is not None and cached[0] is base:
            return cached[1]
        layers = self.layers(namespace)
        if not layers:
            return base
        combined: list[Scenario] = []
        seen: set[str] = set()
        for scenarios in [*(scenarios for _, scenarios in layers), base.scenarios]:
            for scenario in scenarios:
                if scenario.name not in seen:
                    seen.add(scenario.name)
                    combined.append(scenario)
        catalog = Catalog(combined, base.text_limit)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[namespace] = (base, catalog)
        return catalog
