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


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def split_chars(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
