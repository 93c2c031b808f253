"""Templated reply text: ``{{ name }}`` replaced by a value taken from the request.

Deliberately tiny and safe: a template is text with ``{{ variable }}`` holes, nothing
else (no expressions, filters, loops or code), so a scenario file cannot run anything.
Variable names are checked when the scenario loads; the text is rendered once per
request, before it is split into stream pieces.

Variables: ``last_user_message``, ``model``, ``turn``, ``namespace`` (the
``X-Understudy-Namespace`` header), ``tool_result`` (the text of the last tool result),
``api``, ``system``, and ``request.<field>`` for any field of the request body, dotted
for nested ones (``request.temperature``, ``request.metadata.user``,
``request.messages.0.role``). A value that is not a string is written as JSON; a
missing one as nothing.
"""

import re
from collections.abc import Callable
from typing import Any

HOLE = re.compile(r"\{\{([^{}]*)\}\}")
NAME = re.compile(r"[A-Za-z_]\w*(?:\.\w+)*")
VARIABLES = (
    "last_user_message",
    "model",
    "turn",
    "namespace",
    "tool_result",
    "api",
    "system",
    "request.<field>",
)


def check(text: str) -> str:
    """``text`` unchanged, or ``ValueError`` naming the first unknown variable."""
    for hole in HOLE.finditer(text):
        name = hole.group(1).strip()
        if NAME.fullmatch(name) is None:
            raise ValueError(
                f"template {hole.group(0)!r}: only {{{{ variable }}}} is allowed, "
                f"with a variable from: {', '.join(VARIABLES)}"
            )
        root = name.split(".", 1)[0]
        if name not in VARIABLES and not (root == "request" and "." in name):
            raise ValueError(
                f"template {hole.group(0)!r}: unknown variable '{name}' "
                f"(known: {', '.join(VARIABLES)})"
            )
    return text


def has_holes(text: str) -> bool:
    return "{{" in text and HOLE.search(text) is not None


def render(text: str, lookup: Callable[[str], str]) -> str:
    """``text`` with every hole replaced by ``lookup(name)``; one pass, so a value that
    itself holds ``{{ ... }}`` is never rendered again."""
    return HOLE.sub(lambda hole: lookup(hole.group(1).strip()), text)


def field_of(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` in a request body, or None."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
