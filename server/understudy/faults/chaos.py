"""Chaos: a fault drawn at random, reproducibly from a seed, per reply or server-wide.

A scenario's ``chaos`` block, or a server-wide profile (``--chaos flaky|errors|framing``
or a YAML file), lists weighted choices; ``pick`` rolls the dice for one request and
keeps only the choices that can act on it.
"""

import itertools
import random
from typing import Any

from understudy.faults import violations
from understudy.faults.specs import ChaosChoice, ChaosSpec
from understudy.format.files import document_schema, load_model_file, profile_path


def _usable(choice: ChaosChoice, api: str, stream: bool, has_tool_calls: bool) -> bool:
    """Whether a chaos choice can act on this request."""
    if choice.error is not None:
        return True
    faults = choice.fault or []
    if not stream:
        return any(fault.kind in ("stall", "disconnect") for fault in faults)
    for fault in faults:
        name = fault.violation_for(api) if fault.kind == "malformed" else None
        if fault.kind == "malformed" and (
            name is None or violations.applies(name, api, has_tool_calls)
        ):
            return False
    return True


class Chaos:
    """A server-wide chaos profile (``--chaos``): its own call counter drives the seed."""

    def __init__(self, spec: ChaosSpec, source: str) -> None:
        self.spec = spec
        self.source = source
        self._calls = itertools.count()

    def rng(self) -> random.Random:
        return seeded(self.spec.seed, next(self._calls))


def seeded(seed: int | None, *key: object) -> random.Random:
    """A random source for ``key`` under ``seed``; unseeded when there is no seed."""
    if seed is None:
        return random.Random()
    return random.Random(":".join(str(part) for part in (seed, *key)))


def pick(
    chaos: ChaosSpec, rng: random.Random, api: str, stream: bool, has_tool_calls: bool
) -> ChaosChoice | None:
    """Roll the dice: None (no fault) or one usable choice, by weight."""
    if rng.random() >= chaos.probability:
        return None
    usable = [c for c in chaos.faults if _usable(c, api, stream, has_tool_calls)]
    if not usable:
        return None
    return rng.choices(usable, weights=[choice.weight for choice in usable])[0]


_RANDOM_SPOT = {"min": 1, "max": 8}
PROFILES: dict[str, dict[str, Any]] = {
    "flaky": {
        "probability": 0.2,
        "faults": [
            {"error": {"preset": "rate_limit", "should_retry": True}},
            {"error": {"preset": "overloaded", "should_retry": True}},
            {"error": {"preset": "server_error", "should_retry": True}},
            {"kind": "error_event", "after_events": _RANDOM_SPOT, "error": "overloaded"},
            {"kind": "disconnect", "after_events": _RANDOM_SPOT},
            {"kind": "disconnect", "after_events": _RANDOM_SPOT, "mid_event": True},
            {"kind": "truncate", "after_events": _RANDOM_SPOT},
            {"kind": "stall", "after_events": _RANDOM_SPOT, "seconds": 2, "keepalive_every": 0.5},
        ],
    },
    "errors": {
        "probability": 0.2,
        "faults": [
            {"error": {"preset": "rate_limit", "should_retry": True}},
            {"error": {"preset": "overloaded", "should_retry": True}},
            {"error": {"preset": "server_error", "should_retry": True}},
        ],
    },
    "framing": {
        "probability": 1.0,
        "faults": [
            {"framing": {"write_size": 1}},
            {"framing": {"write_size": 3, "split_utf8": True}},
            {"framing": {"line_ending": "crlf"}},
            {"framing": {"line_ending": "cr"}},
            {"framing": {"comments": True, "multiline_data": True}},
        ],
    },
}
"""Bundled server-wide chaos profiles, by name (``--chaos flaky``)."""


def load_chaos(value: str | None) -> Chaos | None:
    """A chaos profile: a bundled name or a YAML file holding a ``chaos`` mapping (or its
    fields). Raises ``FormatError`` naming the file, line and field at fault."""
    if not value:
        return None
    if value in PROFILES:
        return Chaos(ChaosSpec.model_validate(PROFILES[value]), value)
    path = profile_path(value, "chaos", PROFILES)
    return Chaos(load_model_file(path, ChaosSpec, "chaos profile", "chaos"), str(path))


def profile_schema() -> dict[str, Any]:
    """The JSON Schema of a chaos profile file."""
    return document_schema(
        ChaosSpec,
        "Understudy chaos profile",
        "A 'chaos:' mapping, or its fields: probability, seed and the faults to pick from.",
        key="chaos",
    )
