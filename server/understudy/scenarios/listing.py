"""The catalog as a table for people: ``understudy scenarios`` prints it.

One row per scenario in the order requests are matched: its name, its ``match`` on one
line (``api=chat model=gpt-4* tools=get_weather``) and the ``file:line`` it starts at;
the default comes last, since it answers only what nothing else matches.
"""

import json

from understudy.core.words import plural
from understudy.scenarios.catalog import Catalog
from understudy.scenarios.schema import Match, Scenario


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _short(value: str) -> str:
    """One condition's value: quoted if it holds spaces, cut if long."""
    return _cut(json.dumps(value) if any(ch.isspace() for ch in value) else value, 24)


def _turns(turn: dict[str, int]) -> str:
    low, high = turn.get("min"), turn.get("max")
    if low == high:
        return f"={low}"
    if high is None:
        return f">={low}"
    return f"<={high}" if low is None else f"={low}..{high}"


def match_summary(match: Match) -> str:
    """The conditions of a ``match`` on one line: ``api=chat model=gpt-4* tools=get_weather``."""
    parts = []
    conditions = match.model_dump(exclude_none=True)
    if "api" in conditions:  # the API first: it splits a catalog most
        conditions = {"api": conditions.pop("api"), **conditions}
    for name, value in conditions.items():
        if name == "turn":
            parts.append(f"turn{_turns(value)}")
        elif name == "headers":
            parts.extend(f"headers.{header}={_short(v)}" for header, v in value.items())
        elif isinstance(value, list):
            parts.append(f"{name}={_short(','.join(value))}")
        elif isinstance(value, bool):
            parts.append(f"{name}={str(value).lower()}")
        else:
            parts.append(f"{name}={_short(str(value))}")
    return _cut(" ".join(parts), 60) if parts else "any request"


def table(located: list[tuple[Scenario, str]], catalog: Catalog) -> list[str]:
    """The lines to print for scenarios with their ``file:line``, and their catalog."""
    rows = [("NAME", "MATCH", "SOURCE")]
    fallback = None
    for scenario, where in located:
        if scenario is catalog.default:
            fallback = (f"{scenario.name} (default)", "when nothing else matches", where)
        else:
            rows.append((scenario.name, match_summary(scenario.match), where))
    if fallback is not None:
        rows.append(fallback)
    name_width = max(len(row[0]) for row in rows)
    match_width = max(len(row[1]) for row in rows)
    lines = [
        f"{name:<{name_width}}  {match:<{match_width}}  {where}" for name, match, where in rows
    ]
    if catalog.default is None:
        ending = "a request none matches gets a 404 (no default)"
    else:
        ending = f"a request none matches gets '{catalog.default.name}'"
    lines.append(f"{plural(len(located), 'scenario')}, matched in this order; {ending}")
    return lines
