"""Opt-in credential checks: API keys on model endpoints, a token on admin routes.

Off unless configured. With ``api_keys`` set, a model request must carry one of them as
``Authorization: Bearer``, ``x-api-key`` (Anthropic SDK) or ``api-key`` (Azure style);
otherwise it gets the provider's own 401 (wire-format reference §2.8 for OpenAI,
§3.8 for Anthropic), rendered by the API module like any other ``ApiError``.
"""

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from understudy.core.errors import ApiError

if TYPE_CHECKING:
    from understudy.providers.base import ApiModule

PIPELINE_ROUTES = frozenset({"chat", "messages", "responses"})
"""Route names of the model endpoints whose key check happens (and is journaled) in the
shared pipeline."""

ANTHROPIC_APIS = frozenset({"messages"})

OPENAI_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
    "field (with blank username) if you're accessing the API from your browser and are "
    "prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
OPENAI_WRONG_KEY = (
    "Incorrect API key provided: {key}. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)
ANTHROPIC_MISSING_KEY = "x-api-key header is required"
ANTHROPIC_WRONG_KEY = "invalid x-api-key"


def bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a client sent, from whichever header its SDK uses."""
    return bearer(headers) or headers.get("x-api-key") or headers.get("api-key") or None


def mask(key: str) -> str:
    """Show a long key the way OpenAI does: its start and last four characters."""
    if len(key) <= 12:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def unauthorized(api: str, key: str | None) -> ApiError:
    """The 401 a real provider gives for a missing or wrong key."""
    if api in ANTHROPIC_APIS:
        message = ANTHROPIC_MISSING_KEY if key is None else ANTHROPIC_WRONG_KEY
        return ApiError(401, message, anthropic_type="authentication_error")
    if key is None:
        return ApiError(401, OPENAI_MISSING_KEY)
    return ApiError(401, OPENAI_WRONG_KEY.format(key=mask(key)), code="invalid_api_key")


def check_key(api: str, headers: Mapping[str, str], keys: Sequence[str]) -> None:
    """Raise the provider's 401 unless the request carries one of ``keys``."""
    key = presented_key(headers)
    if key is None or key not in keys:
        raise unauthorized(api, key)


def admin_allowed(headers: Mapping[str, str], token: str | None) -> bool:
    """Whether an admin request may proceed: no token configured, or the right bearer."""
    if not token:
        return True
    given = bearer(headers)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def guard_routes(
    routes: list[BaseRoute],
    keys: Sequence[str],
    *,
    openai: "ApiModule",
    anthropic: "ApiModule",
) -> list[BaseRoute]:
    """Require a key on the other ``/v1/`` routes too (models, count_tokens, stored
    responses), answering in Anthropic's shape for ``/v1/messages/...`` and for requests
    that carry ``anthropic-version``, and in OpenAI's otherwise."""
    if not keys:
        return routes
    guarded: list[BaseRoute] = []
    for route in routes:
        if (
            isinstance(route, Route)
            and route.path.startswith("/v1/")
            and route.name not in PIPELINE_ROUTES
        ):
            route = Route(
                route.path,
                _checked(route.endpoint, keys, openai, anthropic),
                methods=list(route.methods or ()),
                name=route.name,
            )
        guarded.append(route)
    return guarded


def _checked(
    endpoint: Callable[[Request], Awaitable[Any]],
    keys: Sequence[str],
    openai: "ApiModule",
    anthropic: "ApiModule",
) -> Callable[[Request], Awaitable[Any]]:
    from understudy.http.pipeline import error_response

    async def checked(request: Request) -> Any:
        side = request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers
        api = anthropic if side else openai
        try:
            check_key(api.name, request.headers, keys)
        except ApiError as error:
            return error_response(api, error, api.new_request_id())
        return await endpoint(request)

    return checked
