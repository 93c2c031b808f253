"""Does a scenario's ``match`` block hold for a request, and if not, why not?

A ``Match`` is compiled once into a table of the conditions it sets, with its regexes and
model glob compiled up front. ``matches`` is on every request's path, so it only runs the
table's tests and stops at the first that fails; ``mismatches`` runs when no scenario
answered, and explains each failed condition so the 404 and the journal can say how close
each scenario came (a near miss).

Regexes run on RE2 (``patterns``) over the first ``text_limit`` characters of their text,
so matching a request costs time linear in at most that many characters per pattern, however
large the request and whatever the pattern.
"""

import fnmatch
import operator
import re
import weakref
from collections.abc import Callable, Iterator
from typing import NamedTuple

from understudy.core.request import NeutralRequest
from understudy.scenarios.patterns import compile_search
from understudy.scenarios.schema import Match
from understudy.settings import Settings

Test = Callable[[NeutralRequest], bool]
Explain = Callable[[NeutralRequest], str]

GLOB_CHARS = "*?["
"""Characters that make a model pattern a glob; without them it is an exact name."""
TEXT_LIMIT = Settings.match_text_limit
"""How many characters of a text a pattern sees, unless the catalog says otherwise."""


class Condition(NamedTuple):
    """One thing a ``match`` block asks of a request."""

    name: str
    holds: Test
    why: Explain
    """Why the condition fails; asked only once ``holds`` has said no."""


_TABLES: dict[tuple[int, int], tuple[Condition, ...]] = {}


def matches(match: Match, request: NeutralRequest, text_limit: int = TEXT_LIMIT) -> bool:
    """True when every condition that ``match`` gives holds for ``request``."""
    table = _TABLES.get((id(match), text_limit))
    if table is None:
        table = conditions(match, text_limit)
    # A plain loop, not all(<generator>): no generator to build on every request.
    for condition in table:  # noqa: SIM110
        if not condition.holds(request):
            return False
    return True


def mismatches(match: Match, request: NeutralRequest, text_limit: int = TEXT_LIMIT) -> list[str]:
    """Each condition of ``match`` that fails for ``request``, as ``"name: why"``.

    Empty exactly when ``matches`` is true.
    """
    return [
        f"{condition.name}: {condition.why(request)}"
        for condition in conditions(match, text_limit)
        if not condition.holds(request)
    ]


def conditions(match: Match, text_limit: int = TEXT_LIMIT) -> tuple[Condition, ...]:
    """``match``'s conditions in field order, compiled on first use.

    The table is kept by the match's identity (and the text limit its regexes were
    compiled with) rather than on the frozen model: a pydantic private attribute is slow
    to read and would make equal matches compare unequal. A finaliser drops the entry
    when the match is collected, so an object that later gets the same id never sees a
    stale table.
    """
    key = (id(match), text_limit)
    table = _TABLES.get(key)
    if table is None:
        table = tuple(_compile(match, text_limit))
        _TABLES[key] = table
        weakref.finalize(match, _TABLES.pop, key, None).atexit = False
    return table


def _compile(match: Match, limit: int) -> Iterator[Condition]:
    """The conditions ``match`` sets; one that cannot fail (no tools, no bounds) is left out."""
    if match.api is not None:
        yield _api(match.api)
    if match.model is not None:
        yield _model(match.model)
    if match.last_user_message is not None:
        yield _regex("last_user_message", match.last_user_message, _last_user_message, limit)
    if match.contains is not None:
        yield _contains(match.contains)
    if match.system is not None:
        yield _regex("system", match.system, _system, limit)
    for name, pattern in (match.headers or {}).items():
        yield _header(name, pattern, limit)
    if match.tools:
        yield _tools(match.tools)
    if match.tool_result is not None:
        yield _tool_result(match.tool_result)
    if match.turn is not None and (match.turn.min is not None or match.turn.max is not None):
        yield _turn(match.turn.min, match.turn.max)
    for name, test in _FLAGS.items():
        expected = getattr(match, name)
        if expected is not None:
            yield _flag(name, expected, test)


_last_user_message = operator.attrgetter("last_user_message")
_system = operator.attrgetter("system")


def _api(apis: list[str]) -> Condition:
    allowed = frozenset(apis)

    def holds(request: NeutralRequest) -> bool:
        return request.api in allowed

    def why(request: NeutralRequest) -> str:
        return f"{request.api} is not one of [{', '.join(apis)}]"

    return Condition("api", holds, why)


def _model(pattern: str) -> Condition:
    """``fnmatchcase`` semantics, with the glob compiled once and exact names compared.

    Python's ``re`` is safe here: ``fnmatch.translate`` makes every ``*`` an atomic group
    anchored at both ends, which cannot backtrack.
    """
    if any(char in pattern for char in GLOB_CHARS):
        glob = re.compile(fnmatch.translate(pattern)).match

        def holds(request: NeutralRequest) -> bool:
            return glob(request.model) is not None
    else:

        def holds(request: NeutralRequest) -> bool:
            return request.model == pattern

    def why(request: NeutralRequest) -> str:
        return f"'{request.model}' does not match '{pattern}'"

    return Condition("model", holds, why)


def _regex(name: str, pattern: str, text: Callable[[NeutralRequest], str], limit: int) -> Condition:
    """A regex searched anywhere in (the start of) one text of the request."""
    found = compile_search(pattern, limit)

    def holds(request: NeutralRequest) -> bool:
        return found(text(request))

    def why(request: NeutralRequest) -> str:
        return f"no match for '{pattern}'{_seen(text(request), limit)}"

    return Condition(name, holds, why)


def _seen(text: str, limit: int) -> str:
    """What a failed pattern saw, when that is not simply the whole text."""
    if not text:
        return " (it is empty)"
    if len(text) > limit:
        return f" (in its first {limit} characters)"
    return ""


def _contains(needle: str) -> Condition:
    lowered = needle.lower()

    def holds(request: NeutralRequest) -> bool:
        return lowered in request.conversation_text().lower()

    def why(request: NeutralRequest) -> str:
        return f"'{needle}' is not in the conversation"

    return Condition("contains", holds, why)


def _header(name: str, pattern: str, limit: int) -> Condition:
    found = compile_search(pattern, limit)
    key = name.lower()  # a request's headers are a dict of lower-case names

    def holds(request: NeutralRequest) -> bool:
        value = request.headers.get(key)
        return value is not None and found(value)

    def why(request: NeutralRequest) -> str:
        value = request.headers.get(key)
        return "missing" if value is None else f"no match for '{pattern}'{_seen(value, limit)}"

    return Condition(f"headers.{name}", holds, why)


def _tools(tools: list[str]) -> Condition:
    required = frozenset(tools)

    def holds(request: NeutralRequest) -> bool:
        return required.issubset(request.tools)

    def why(request: NeutralRequest) -> str:
        missing = [tool for tool in dict.fromkeys(tools) if tool not in request.tools]
        return f"{', '.join(missing)} not offered"

    return Condition("tools", holds, why)


def _tool_result(expected: bool) -> Condition:
    def holds(request: NeutralRequest) -> bool:
        return request.ends_with_tool_result == expected

    def why(request: NeutralRequest) -> str:
        return f"expected {'true' if expected else 'false'}"

    return Condition("tool_result", holds, why)


_FLAGS: dict[str, Test] = {
    "tools_offered": operator.attrgetter("tools_callable"),
    "tool_forced": operator.attrgetter("tool_forced"),
    "structured_output": lambda request: request.output is not None,
}
"""Yes/no properties of what the request lets or makes the model do."""


def _flag(name: str, expected: bool, test: Test) -> Condition:
    def holds(request: NeutralRequest) -> bool:
        return test(request) == expected

    def why(request: NeutralRequest) -> str:
        return f"expected {'true' if expected else 'false'}"

    return Condition(name, holds, why)


def _turn(low: int | None, high: int | None) -> Condition:
    """Assistant turns so far within ``[low, high]``; either bound may be open."""

    def holds(request: NeutralRequest) -> bool:
        turn = request.turn
        return (low is None or turn >= low) and (high is None or turn <= high)

    def why(request: NeutralRequest) -> str:
        turn = request.turn
        if low is not None and turn < low:
            return f"{turn} is below min {low}"
        return f"{turn} is above max {high}"

    return Condition("turn", holds, why)
