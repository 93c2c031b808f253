"""Opt-in credential checks: API keys on model routes, a token on admin routes.

Off unless configured. With API keys set, a ``/v1/`` request must carry one of them as
``Authorization: Bearer``, ``x-api-key`` (Anthropic SDK) or ``api-key`` (Azure style);
otherwise it gets its provider's own 401. Every comparison takes constant time.
"""

import hmac
from collections.abc import Mapping, Sequence

from understudy.providers import Provider


def bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a client sent, from whichever header its SDK uses."""
    return bearer(headers) or headers.get("x-api-key") or headers.get("api-key") or None


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def check_key(provider: Provider, headers: Mapping[str, str], keys: Sequence[str]) -> None:
    """Raise the provider's 401 unless the request carries one of ``keys``."""
    key = presented_key(headers)
    # Compare with every key, so the time taken does not tell which one came close.
    if key is None or not sum(_equal(key, candidate) for candidate in keys):
        raise provider.unauthorized(key)


def admin_allowed(headers: Mapping[str, str], token: str | None) -> bool:
    """Whether an admin request may proceed: no token configured, or the right bearer."""
    if not token:
        return True
    given = bearer(headers)
    return given is not None and _equal(given, token)
