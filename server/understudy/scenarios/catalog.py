"""The catalog: scenarios in order, the default, and which one answers a request.

Selection order: an explicit ``X-Understudy-Scenario`` header always wins; then the first
scenario in catalog order whose ``match`` holds; then the catalog's default. With none
of these the request gets a 404 that names the closest scenarios and the conditions they
failed (near misses), so a test author sees why instead of guessing.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict

from understudy.core.errors import ApiError
from understudy.core.request import SCENARIO_HEADER, NeutralRequest
from understudy.scenarios.matching import TEXT_LIMIT, matches, mismatches
from understudy.scenarios.schema import ReplySpec, Scenario

CLOSEST = 3
"""How many near misses a 404 names."""


class NearMiss(TypedDict):
    scenario: str
    failed: list[str]
    """The failed conditions, each ``"name: why"``."""


@dataclass
class NoMatch(ApiError):
    """The 404 for a request no scenario answers, carrying its near misses for the journal."""

    near_misses: list[NearMiss] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Selection:
    scenario: Scenario
    reply_index: int
    reply: ReplySpec
    position: int = 0
    """How many earlier calls this scenario answered (seeds its chaos per call)."""

    @classmethod
    def at(cls, scenario: Scenario, position: int) -> "Selection":
        """The reply ``scenario`` gives as its ``position``-th answer."""
        index, reply = scenario.reply_at(position)
        return cls(scenario, index, reply, position)


class Counters:
    """How many times each scenario has answered, for ``replies:`` sequences."""

    def __init__(self) -> None:
        self._counts: defaultdict[tuple[str, str], int] = defaultdict(int)

    def take(self, namespace: str, name: str) -> int:
        key = (namespace, name)
        position = self._counts[key]
        self._counts[key] = position + 1
        return position

    def count(self, namespace: str, name: str) -> int:
        """How many requests in ``namespace`` this scenario has answered."""
        return self._counts.get((namespace, name), 0)

    def in_namespace(self, namespace: str) -> dict[str, int]:
        """How many requests each scenario answered in ``namespace``."""
        return {name: count for (space, name), count in self._counts.items() if space == namespace}

    def forget(self, namespace: str, name: str) -> None:
        """Start one scenario's sequence again (it was replaced or removed)."""
        self._counts.pop((namespace, name), None)

    def reset(self, namespace: str | None = None) -> None:
        if namespace is None:
            self._counts.clear()
        else:
            for key in [key for key in self._counts if key[0] == namespace]:
                del self._counts[key]


class Catalog:
    def __init__(self, scenarios: Iterable[Scenario] = (), text_limit: int = TEXT_LIMIT) -> None:
        self.scenarios: list[Scenario] = list(scenarios)
        self.text_limit = text_limit
        """How many characters of each text the scenarios' regexes see."""
        self.by_name: dict[str, Scenario] = {}
        duplicates = []
        for scenario in self.scenarios:
            if scenario.name in self.by_name:
                duplicates.append(scenario.name)
            self.by_name[scenario.name] = scenario
        if duplicates:
            raise ValueError(f"duplicate scenario names: {', '.join(sorted(set(duplicates)))}")
        defaults = [s for s in self.scenarios if s.default]
        self.default: Scenario | None = defaults[0] if defaults else self.by_name.get("default")
        self._ordinary = [s for s in self.scenarios if not s.default]

    def find(self, request: NeutralRequest) -> Scenario | None:
        """The scenario that answers ``request``, or None."""
        name = request.headers.get(SCENARIO_HEADER)
        if name:
            scenario = self.by_name.get(name)
            if scenario is None:
                raise ApiError(
                    404,
                    f"Scenario '{name}' named by the X-Understudy-Scenario header is not in "
                    "the catalog.",
                    code="scenario_not_found",
                )
            return scenario
        limit = self.text_limit
        for scenario in self._ordinary:
            if matches(scenario.match, request, limit):
                return scenario
        return self.default

    def choose(self, request: NeutralRequest) -> Scenario:
        """The scenario that answers ``request``, or the 404 that says why none does."""
        scenario = self.find(request)
        if scenario is None:
            raise self.no_match(request)
        return scenario

    def select(self, request: NeutralRequest, counters: Counters, namespace: str = "") -> Selection:
        scenario = self.choose(request)
        return Selection.at(scenario, counters.take(namespace, scenario.name))

    def near_misses(self, request: NeutralRequest, limit: int = CLOSEST) -> list[NearMiss]:
        """The ordinary scenarios with the fewest failed conditions; catalog order breaks ties."""
        failures = [(s.name, mismatches(s.match, request, self.text_limit)) for s in self._ordinary]
        failures.sort(key=lambda failure: len(failure[1]))  # stable: ties keep catalog order
        return [{"scenario": name, "failed": failed} for name, failed in failures[:limit]]

    def no_match(self, request: NeutralRequest) -> NoMatch:
        """The 404 when nothing answers: what was asked, then the closest scenarios."""
        message = (
            f"No scenario matches this request (api {request.api}, model "
            f"'{request.model}') and the catalog has no default scenario."
        )
        near = self.near_misses(request)
        if near:
            closest = "; ".join(f"'{m['scenario']}' ({', '.join(m['failed'])})" for m in near)
            message += f" Closest: {closest}"
        return NoMatch(404, message, code="scenario_not_found", near_misses=near)

    def model_names(self) -> list[str]:
        names: list[str] = []
        for scenario in self.scenarios:
            pattern = scenario.match.model
            if pattern and not any(ch in pattern for ch in "*?["):
                names.append(pattern)
            names.extend(reply.model for reply in scenario.reply_list if reply.model)
        return list(dict.fromkeys(names))
