"""Rate-limit state, neutral: each provider reports it in its own header family."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimits:
    requests_limit: int = 60
    requests_remaining: int = 0
    tokens_limit: int = 150_000
    tokens_remaining: int = 150_000
    reset_seconds: float = 1.0
    """When the exhausted budget is back; also the token budget's reset."""


def duration(seconds: float) -> str:
    """A delay as Go-style text (``120ms``, ``1s``, ``17.5s``, ``6m0s``): OpenAI's reset
    headers and its rate-limit messages use it."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{round(rest, 3):g}s"
    return f"{int(minutes)}m{rest_text}" if minutes else rest_text
