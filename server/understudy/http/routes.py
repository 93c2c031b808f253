"""The ``/v1/`` routes around the model endpoints: models, token counting, and kept
Responses. Each answers in its provider's manner; the words come from the provider."""

from starlette.requests import Request
from starlette.responses import Response

from understudy.core.errors import ApiError
from understudy.core.request import NAMESPACE_HEADER
from understudy.http.body import parse_json
from understudy.http.pipeline import strictness
from understudy.http.responses import error_response, json_response
from understudy.plan.reply import count_input_tokens
from understudy.providers import dialect
from understudy.providers.anthropic import MESSAGES
from understudy.providers.anthropic.messages import count_tokens_request
from understudy.providers.openai import RESPONSES
from understudy.state import ServerState

DEFAULT_MODELS = ("understudy-mock",)


def model_names(state: ServerState, namespace: str = "") -> list[str]:
    """The models named by the scenarios a request in ``namespace`` can reach (runtime and
    file scenarios: an exact ``match.model``, a reply's ``model``), then the default."""
    catalog = state.runtime.catalog_for(namespace, state.catalog)
    return list(dict.fromkeys([*catalog.model_names(), *DEFAULT_MODELS]))


async def list_models(request: Request, state: ServerState) -> Response:
    """``GET /v1/models``: the models the catalog names, in the asking SDK's shape."""
    provider = dialect(request.url.path, request.headers)
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    return json_response(provider, provider.model_list(model_names(state, namespace)))


async def get_model(request: Request, state: ServerState) -> Response:
    provider = dialect(request.url.path, request.headers)
    return json_response(provider, provider.model_object(request.path_params["model"]))


async def count_tokens(request: Request, state: ServerState) -> Response:
    """``POST /v1/messages/count_tokens``: the input tokens a request would use."""
    provider = MESSAGES.provider
    try:
        body = await parse_json(provider, request, state.settings.max_body_bytes)
        neutral = count_tokens_request(
            body, request.headers, strictness(state.settings, request.headers)
        )
    except ApiError as error:
        return error_response(provider, error)
    return json_response(provider, {"input_tokens": count_input_tokens(neutral)})


async def get_response(request: Request, state: ServerState) -> Response:
    """``GET /v1/responses/{response_id}``: a kept Response object."""
    response_id = request.path_params["response_id"]
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    entry = await state.backend.get(namespace, RESPONSES.name, response_id)
    if entry is None:
        return error_response(RESPONSES.provider, RESPONSES.not_found(response_id))
    return json_response(RESPONSES.provider, entry.response)


async def delete_response(request: Request, state: ServerState) -> Response:
    """``DELETE /v1/responses/{response_id}``: forget a kept response."""
    response_id = request.path_params["response_id"]
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    if not await state.backend.delete(namespace, RESPONSES.name, response_id):
        return error_response(RESPONSES.provider, RESPONSES.not_found(response_id))
    return json_response(RESPONSES.provider, RESPONSES.deleted(response_id))
