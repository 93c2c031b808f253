"""Scenarios added at run time through the admin API, scoped by namespace.

A request in namespace ``ns`` is answered from, in order: the runtime scenarios of
``ns`` (most recently added first), the global runtime scenarios (namespace ``""``),
then the file catalog. A runtime scenario hides a file scenario of the same name, so a
test can replace ``default`` for itself alone. The combined ``Catalog`` is built once per
namespace and reused until scenarios change; with no runtime scenarios at all a request
uses the file catalog directly.

Runtime scenarios are capped per namespace, in all, and in bytes (the size of the admin
bodies that added them): every request in a namespace is matched against its own and
the global ones, and 50,000 of them made each chat take seconds.
"""

from collections import OrderedDict

from understudy.scenarios import Catalog, Scenario

CACHE_LIMIT = 128
"""Combined catalogs kept; namespaces without scenarios of their own share one."""


class RuntimeLimitError(Exception):
    """Adding these scenarios would pass one of the runtime-scenario caps."""


class RuntimeScenarios:
    def __init__(
        self,
        per_namespace: int = 500,
        total: int = 5000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.per_namespace = per_namespace
        self.total = total
        self.max_bytes = max_bytes
        self.count = 0
        self.bytes = 0
        self._by_namespace: dict[str, list[Scenario]] = {}
        self._sizes: dict[tuple[str, str], int] = {}
        self._cache: OrderedDict[str, tuple[Catalog, Catalog]] = OrderedDict()

    def add(self, namespace: str, scenarios: list[Scenario], size: int = 0) -> None:
        """Put ``scenarios`` first in ``namespace``, replacing any of the same names;
        ``size`` is the bytes they were sent as. ``RuntimeLimitError`` if a cap would
        be passed (nothing is added then)."""
        names = {scenario.name for scenario in scenarios}
        current = self._by_namespace.get(namespace, [])
        kept = [s for s in current if s.name not in names]
        replaced = [(namespace, s.name) for s in current if s.name in names]
        count = self.count - len(replaced) + len(scenarios)
        each = size // max(len(scenarios), 1)
        total_bytes = self.bytes - sum(self._sizes[key] for key in replaced)
        total_bytes += each * len(scenarios)
        in_namespace = len(kept) + len(scenarios)
        if in_namespace > self.per_namespace:
            raise RuntimeLimitError(
                f"Namespace '{namespace}' would hold {in_namespace} runtime scenarios; the "
                f"limit is {self.per_namespace} (setting runtime_scenarios_per_namespace)."
            )
        if count > self.total:
            raise RuntimeLimitError(
                f"The server would hold {count} runtime scenarios; the limit is {self.total} "
                "(setting runtime_scenarios_total)."
            )
        if total_bytes > self.max_bytes:
            raise RuntimeLimitError(
                f"Runtime scenarios would take {total_bytes} bytes; the limit is "
                f"{self.max_bytes} (setting runtime_scenarios_bytes)."
            )
        for key in replaced:
            del self._sizes[key]
        for scenario in scenarios:
            self._sizes[(namespace, scenario.name)] = each
        self.count, self.bytes = count, total_bytes
        self._by_namespace[namespace] = [*scenarios, *kept]
        self._cache.clear()

    def replace(self, namespace: str, scenarios: list[Scenario], sizes: list[int]) -> None:
        """Hold exactly ``scenarios`` (highest priority first) in ``namespace``, as another
        process of a scaled-out server made them; its caps were checked there."""
        self._forget(namespace, [s.name for s in self._by_namespace.get(namespace, [])])
        for scenario, size in zip(scenarios, sizes, strict=True):
            self._sizes[(namespace, scenario.name)] = size
            self.bytes += size
        self.count += len(scenarios)
        self._store(namespace, scenarios)

    def namespaces(self) -> list[str]:
        """The namespaces that hold runtime scenarios."""
        return list(self._by_namespace)

    def size_of(self, namespace: str, name: str) -> int:
        """The bytes a runtime scenario counts for in the byte cap."""
        return self._sizes.get((namespace, name), 0)

    def remove(self, namespace: str, name: str) -> bool:
        current = self._by_namespace.get(namespace, [])
        kept = [scenario for scenario in current if scenario.name != name]
        if len(kept) == len(current):
            return False
        self._forget(namespace, [name])
        self._store(namespace, kept)
        return True

    def clear(self, namespace: str | None = None) -> list[str]:
        """Remove every runtime scenario, or one namespace's; return the removed names."""
        if namespace is None:
            removed = [s.name for scenarios in self._by_namespace.values() for s in scenarios]
            self._by_namespace.clear()
            self._sizes.clear()
            self.count = self.bytes = 0
        else:
            removed = [s.name for s in self._by_namespace.pop(namespace, [])]
            self._forget(namespace, removed)
        self._cache.clear()
        return removed

    def _forget(self, namespace: str, names: list[str]) -> None:
        for name in names:
            self.bytes -= self._sizes.pop((namespace, name), 0)
        self.count -= len(names)

    def scenarios(self, namespace: str) -> list[Scenario]:
        return list(self._by_namespace.get(namespace, []))

    def names(self) -> set[str]:
        """The name of every runtime scenario, in any namespace."""
        return {name for _, name in self._sizes}

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
        if namespace not in self._by_namespace:
            namespace = ""  # every namespace without scenarios of its own sees the same
        cached = self._cache.get(namespace)
        if cached is not None and cached[0] is base:
            self._cache.move_to_end(namespace)
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
        self._cache[namespace] = (base, catalog)
        self._cache.move_to_end(namespace)
        while len(self._cache) > CACHE_LIMIT:
            self._cache.popitem(last=False)
        return catalog
