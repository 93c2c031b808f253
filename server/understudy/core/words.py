"""Small wording helpers for messages people read (logs, command output)."""


def plural(count: int, noun: str) -> str:
    """``1 scenario``, ``3 scenarios``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
