"""Rate-limit state and each provider's header family for it (reference §1.3).

The state is neutral; OpenAI reports it as ``x-ratelimit-*`` headers with Go-style
durations (``1s``, ``6m0s``), Anthropic as ``anthropic-ratelimit-*`` headers with RFC 3339
reset times. An API module picks its family through ``ApiModule.rate_limit_headers``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class RateLimits:
    requests_limit: int = 60
    requests_remaining: int = 0
    tokens_limit: int = 150_000
    tokens_remaining: int = 150_000
    reset_seconds: float = 1.0
    """When the exhausted budget is back; also the token budget's reset."""


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``120ms``, ``1s``, ``17.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{round(rest, 3):g}s"
    return f"{int(minutes)}m{rest_text}" if minutes else rest_text


def openai_headers(limits: RateLimits) -> dict[str, str]:
    reset = duration(limits.reset_seconds)
    return {
        "x-ratelimit-limit-requests": str(limits.requests_limit),
        "x-ratelimit-limit-tokens": str(limits.tokens_limit),
        "x-ratelimit-remaining-requests": str(limits.requests_remaining),
        "x-ratelimit-remaining-tokens": str(limits.tokens_remaining),
        "x-ratelimit-reset-requests": reset,
        "x-ratelimit-reset-tokens": reset,
    }


def anthropic_headers(limits: RateLimits, now: datetime | None = None) -> dict[str, str]:
    moment = (now or datetime.now(UTC)) + timedelta(seconds=limits.reset_seconds)
    reset = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "anthropic-ratelimit-requests-limit": str(limits.requests_limit),
        "anthropic-ratelimit-requests-remaining": str(limits.requests_remaining),
        "anthropic-ratelimit-requests-reset": reset,
    }
    for family in ("tokens", "input-tokens", "output-tokens"):
        headers[f"anthropic-ratelimit-{family}-limit"] = str(limits.tokens_limit)
        headers[f"anthropic-ratelimit-{family}-remaining"] = str(limits.tokens_remaining)
        headers[f"anthropic-ratelimit-{family}-reset"] = reset
    return headers
