"""What an error spec means for one API: the provider's own status, body and headers.

Presets (``rate_limit``, ``overloaded``...) are each provider's data; this module only
looks them up through the registry and adds what the spec sets: overrides, retry
headers and rate-limit state.
"""

import math
from http import HTTPStatus

from understudy.core.errors import ApiError
from understudy.core.ratelimits import RateLimits, duration
from understudy.faults.specs import ErrorSpec, RateLimitSpec
from understudy.providers import APIS, ApiModule, Preset

DEFAULT_RETRY_AFTER = {"rate_limit": 1.0}
"""Presets that carry a retry delay unless the scenario gives one (seconds)."""


def resolve_error(spec: ErrorSpec, api: str, model: str, before_stream: bool = True) -> ApiError:
    """The ``ApiError`` a spec means for ``api``; headers only for an HTTP error."""
    retry = spec.retry_after_ms / 1000 if spec.retry_after_ms is not None else spec.retry_after
    if retry is None and spec.preset is not None:
        retry = DEFAULT_RETRY_AFTER.get(spec.preset)
    wait = duration(retry) if retry else "20s"
    budget = _budget(spec, retry)
    module = APIS[api]
    if spec.preset is not None:
        error = preset_error(module.preset(spec.preset), model, wait, budget)
    else:
        error = _status_error(spec.status or 500, module, model, wait, budget)
    if spec.status is not None:
        error.status = spec.status
    for name in ("message", "code", "param"):
        value = getattr(spec, name)
        if value is not None:
            setattr(error, name, value)
    error_type = getattr(spec, module.provider.error_type_field)
    if error_type is not None:
        error.type = error_type
    if not before_stream:
        return error
    headers: dict[str, str] = {}
    if retry is not None:
        headers["retry-after"] = str(max(math.ceil(retry), 0))
        headers["retry-after-ms"] = str(round(retry * 1000))
    headers["x-should-retry"] = "true" if spec.should_retry else "false"
    headers.update(spec.headers or {})
    error.headers = headers
    limits = spec.rate_limits
    if limits is None:
        limits = error.status == 429
    if limits is not False:
        error.rate_limits = budget
    return error


def _budget(spec: ErrorSpec, retry: float | None) -> RateLimits:
    """The rate-limit state of an error: what its headers report and its message quotes."""
    given = spec.rate_limits if not isinstance(spec.rate_limits, bool) else None
    given = given or RateLimitSpec()
    reset = given.reset_ms / 1000 if given.reset_ms is not None else retry or 1.0
    return RateLimits(
        requests_limit=given.requests_limit,
        requests_remaining=given.requests_remaining,
        tokens_limit=given.tokens_limit,
        tokens_remaining=given.tokens_remaining,
        reset_seconds=reset,
    )


def preset_error(
    preset: Preset, model: str = "", wait: str = "20s", budget: RateLimits | None = None
) -> ApiError:
    """A preset as an error for ``model``, retried after ``wait``; a message that quotes
    a request budget (``{limit}``, ``{used}``) quotes ``budget``, the one the rate-limit
    headers report."""
    budget = budget or RateLimits()
    message = preset.message.format(
        model=model or "the model",
        wait=wait,
        limit=budget.requests_limit,
        used=budget.requests_limit - budget.requests_remaining,
    )
    return ApiError(preset.status, message, preset.type, preset.code, preset.param)


def _status_error(
    status: int, api: ApiModule, model: str, wait: str, budget: RateLimits
) -> ApiError:
    """A bare status: the message of the API's preset with that status, else the HTTP
    phrase."""
    for name in api.provider.presets:
        preset = api.preset(name)
        if preset.status == status:
            return ApiError(status, preset_error(preset, model, wait, budget).message)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return ApiError(status, phrase)


def overloaded(api: str, model: str, retry_after: float = 1.0) -> ApiError:
    """The provider's own overloaded error (OpenAI 503, Anthropic 529), retryable after
    ``retry_after`` seconds: what a client gets when the server is at its stream limit."""
    spec = ErrorSpec(preset="overloaded", retry_after=retry_after, should_retry=True)
    return resolve_error(spec, api, model)
