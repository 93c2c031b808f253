"""A small deterministic tokenizer.

Real tokenizers are model-specific; a mock needs only one that is stable, cheap and
plausible. A token here is a run of word characters or a single other character, with
any whitespace before it attached (``"Once"``, ``" upon"``, ``","``), which is roughly
how BPE vocabularies split English text.
"""

import re

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")
# JSON text is split so that an escape sequence never straddles two pieces.
_JSON_TOKEN = re.compile(r"\s*(?:\\u[0-9a-fA-F]{4}|\\.|\w+|[^\w\s\\]+)|\s+$")


def split_tokens(text: str) -> list[str]:
    """Split text into tokens whose concatenation is exactly ``text``."""
    return _TOKEN.findall(text)


def split_json(text: str) -> list[str]:
    """Split JSON text into tokens, never inside an escape sequence."""
    return _JSON_TOKEN.findall(text)


EXACT_COUNT_CHARS = 64 * 1024
"""Text up to this long is counted token by token; longer text is estimated from it."""


def count_tokens(text: str) -> int:
    """How many tokens ``text`` holds; a long text is estimated from its first
    ``EXACT_COUNT_CHARS`` characters.

    Counting every token of a prompt near the 32 MiB body limit held the event loop for
    over a second and built a list of millions of strings, for a usage number.
    """
    if len(text) <= EXACT_COUNT_CHARS:
        return len(_TOKEN.findall(text))
    head = len(_TOKEN.findall(text, 0, EXACT_COUNT_CHARS))
    return round(head * len(text) / EXACT_COUNT_CHARS)


def split_chars(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
