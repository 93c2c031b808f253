"""``GET /v1/models``: the models the catalog names, in OpenAI's or Anthropic's shape.

Both SDKs call the same path; the Anthropic SDK always sends ``anthropic-version``, so
that header picks the shape.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from understudy.state import ServerState

DEFAULT_MODELS = ("understudy-mock",)
CREATED = 1735689600
CREATED_AT = "2025-01-01T00:00:00Z"


def model_names(state: ServerState) -> list[str]:
    return list(dict.fromkeys([*state.catalog.model_names(), *DEFAULT_MODELS]))


def _openai(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": "understudy"}


def _anthropic(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": CREATED_AT}


async def list_models(request: Request, state: ServerState) -> JSONResponse:
    names = model_names(state)
    if "anthropic-version" in request.headers:
        data = [_anthropic(name) for name in names]
        return JSONResponse(
            {
                "data": data,
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        )
    return JSONResponse({"object": "list", "data": [_openai(name) for name in names]})


async def get_model(request: Request, state: ServerState) -> JSONResponse:
    name = request.path_params["model"]
    anthropic = "anthropic-version" in request.headers
    return JSONResponse(_anthropic(name) if anthropic else _openai(name))
