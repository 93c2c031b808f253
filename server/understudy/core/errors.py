"""Provider-neutral API errors.

An ``ApiError`` says what went wrong once; each provider renders it in its own envelope
(OpenAI ``{"error": {...}}``, Anthropic ``{"type": "error", ...}``) and fills in its own
error ``type`` for the status when the error does not name one.
"""

from dataclasses import dataclass, field
from typing import Any

from understudy.core.ratelimits import RateLimits


@dataclass
class ApiError(Exception):
    """An error answered with a provider-shaped JSON body instead of a reply."""

    status: int
    message: str
    type: str | None = None
    """The provider's error type; None: the provider's default for ``status``."""
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    rate_limits: RateLimits | None = None
    """Rate-limit state to report in the provider's own header family."""
    details: dict[str, Any] | None = None
    """Machine-readable detail a provider sends with the error (Anthropic's
    ``error.details``, whose ``error_code`` the SDKs map to typed errors)."""

    def __post_init__(self) -> None:
        super().__init__(self.message)
