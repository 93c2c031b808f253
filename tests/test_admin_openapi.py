"""The admin routes and their OpenAPI document come from one table, so they agree.

These tests walk the routes of a real app (``create_app``), not the table, so a route
added to the app some other way, or a table entry the app does not serve, shows up here.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from understudy.app import create_app
from understudy.control.admin import openapi_document
from understudy.control.ui import PATH as DASHBOARD
from understudy.providers import API_NAMES
from understudy.settings import Settings

ADMIN = "/_understudy/"
TOKEN = "s3cret"


@pytest.fixture(scope="module")
def app() -> Starlette:
    return create_app(Settings(scenarios=[], reload=False, admin_token=TOKEN))


@pytest.fixture(scope="module")
def client(app: Starlette) -> Iterator[TestClient]:
    # Not TestClient's default Host, "testserver": the server answers loopback names.
    with TestClient(app, base_url="http://localhost") as client:
        yield client


def admin_routes(app: Starlette) -> list[Route]:
    """The admin API: every route under the prefix but the dashboard's static files, which
    hold no data and are loaded by a browser that cannot send the token (tests/test_ui.py)."""
    under = [
        route
        for route in app.routes
        if getattr(route, "path", "").startswith(ADMIN)
        and not getattr(route, "path", "").startswith(DASHBOARD)
    ]
    routes = [route for route in under if isinstance(route, Route)]
    assert routes == under, "an admin route that is not a plain Route"
    return routes


def served(app: Starlette) -> dict[tuple[str, str], Route]:
    """Every admin (path, method), the path in OpenAPI's syntax (``{name}``, not
    ``{name:path}``). HEAD is left out: Starlette answers it wherever it answers GET."""
    return {
        (route.path_format, method.lower()): route
        for route in admin_routes(app)
        for method in route.methods or ()
        if method != "HEAD"
    }


def documented(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def test_every_admin_route_is_documented_and_every_documented_route_is_served(
    app: Starlette,
) -> None:
    routes = served(app)
    operations = documented(openapi_document())
    assert routes, "no admin routes found"
    assert set(routes) == set(operations)
    for key, route in routes.items():
        in_path = {p["name"] for p in operations[key].get("parameters", []) if p["in"] == "path"}
        assert in_path == set(route.param_convertors), key


def test_the_served_document_is_valid_openapi_3_1(client: TestClient) -> None:
    response = client.get(f"{ADMIN}openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    document = response.json()
    assert document == openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_admin_route_needs_the_admin_token_and_says_so(
    app: Starlette, client: TestClient
) -> None:
    operations = documented(openapi_document())
    for (path, method), route in served(app).items():
        url = path.format(**{name: "x" for name in route.param_convertors})
        response = client.request(method, url)
        assert response.status_code == 401, (method, path)
        assert "401" in operations[path, method]["responses"], (method, path)


def test_api_names_are_the_scenario_formats() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["ApiName"]["enum"] == list(API_NAMES)
    journal = openapi_document()["paths"]["/_understudy/journal"]["get"]
    api = next(p for p in journal["parameters"] if p["name"] == "api")
    assert api["schema"] == {"$ref": "#/components/schemas/ApiName"}
