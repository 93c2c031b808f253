"""Scenario regexes, run by RE2 so that no request can make matching backtrack.

Python's ``re`` backtracks: ``^(a+)+$`` against thirty ``a`` and a ``!`` takes seconds,
and ``weather.*time|time.*weather`` against a long prompt takes time growing with the
square of its length, all of it on the event loop that every stream shares. RE2 runs in
time linear in the text, whatever the pattern, and refuses the features that need
backtracking (backreferences, lookaround, possessive quantifiers and atomic groups), so
a pattern that loads can never freeze the server.

What users rely on from Python's ``re`` still holds: a pattern is *searched* anywhere in
the text, ``(?i)`` and the other inline flags RE2 knows (``i``, ``m``, ``s``, ``U``) work,
and both pattern and text are Unicode (case folding included). ``\\w``, ``\\d``, ``\\s``
and ``\\b`` are ASCII in RE2; ``\\p{L}`` and friends name Unicode classes.
"""

from collections.abc import Callable

import re2

Search = Callable[[str], bool]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr
_OPTIONS.never_capture = True  # a yes/no answer needs no groups, and runs faster without

HINT = (
    "RE2 has no backreferences, lookaround, possessive quantifiers, atomic groups or (?x); "
    "write \\z for \\Z"
)
"""Said when RE2 refuses syntax that Python's ``re`` would accept."""
_SYNTAX = ("invalid perl operator", "invalid escape sequence", "bad repetition operator")


def check(pattern: str) -> str:
    """``pattern`` itself, or ``ValueError`` saying why RE2 will not run it."""
    _compile(pattern)
    return pattern


def compile_search(pattern: str, limit: int) -> Search:
    """A test that ``pattern`` occurs in the first ``limit`` characters of a text.

    A longer text is cut, but the pattern still knows it goes on: RE2 is shown one more
    character as context, so ``$``, ``\\z`` and ``\\b`` never match at the cut as if the
    text ended there.
    """
    search = _compile(pattern)
    literal = _literal(pattern, limit)
    if literal is not None:
        return literal

    def found(text: str) -> bool:
        if len(text) <= limit:
            return search(_utf8(text)) is not None
        head = _utf8(text[:limit])
        return search(head + _utf8(text[limit]), 0, len(head)) is not None

    return found


_SPECIAL = frozenset("\\.^$*+?{}[]|()")


def _literal(pattern: str, limit: int) -> Search | None:
    """The same test without RE2 for a pattern that is plain text, optionally anchored
    at both ends (``weather``, ``^qa$``). Most scenario patterns are, and a substring
    test or a comparison costs a fraction of a call into the regex binding. (RE2's ``$``
    without ``(?m)`` matches only at the very end, so ``^qa$`` is plain equality.)
    """
    exact = len(pattern) > 1 and pattern.startswith("^") and pattern.endswith("$")
    body = pattern[1:-1] if exact else pattern
    if not body or any(char in _SPECIAL for char in body):
        return None
    if exact:
        return lambda text: len(text) <= limit and text == body
    return lambda text: body in (text if len(text) <= limit else text[:limit])


def _utf8(text: str) -> bytes:
    """RE2 works on UTF-8; handing it bytes spares the binding from mapping byte offsets
    back to characters. A lone surrogate (never valid UTF-8) becomes bytes that match
    nothing, rather than an exception."""
    return text.encode("utf-8", "surrogatepass")


def _compile(pattern: str) -> Callable[..., object]:
    try:
        return re2.compile(pattern, _OPTIONS).search
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""  # RE2's own words, as bytes
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    hint = f" ({HINT})" if reason.startswith(_SYNTAX) else ""
    raise ValueError(f"not a valid RE2 regular expression: {reason}{hint}")
