"""The dashboard at ``/_understudy/ui``: static files that read the admin API.

The page and its scripts hold no data, so they are served without the admin token: a
browser cannot send a bearer token when it navigates. Everything the page shows comes
from the admin routes, which still require the token. The page takes it from the URL
fragment (``/_understudy/ui#token=...``, never sent to the server, nor in a Referer) or
asks for it, keeps it in the tab's ``sessionStorage``, and sends it as
``Authorization: Bearer`` on its own same-origin fetches (docs/dashboard.md).

The files are package data, read once; only names in that folder are served, so no path
reaches anything else. The Content-Security-Policy lets the page load and fetch only
from its own origin and run no inline script, so a hostile request body shown in the
journal cannot become code, and nothing is fetched from the internet.
"""

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from understudy.control.table import PREFIX

FILES = Path(__file__).resolve().parent / "static"
PATH = PREFIX + "/ui"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")

HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
    "x-frame-options": "DENY",
}


def _load() -> dict[str, tuple[bytes, str]]:
    return {
        path.name: (path.read_bytes(), _TYPES[path.suffix])
        for path in sorted(FILES.iterdir())
        if _NAME.match(path.name)
    }


def routes() -> list[Route]:
    files = _load()

    def serve(name: str) -> Response:
        found = files.get(name)
        if found is None:
            return Response("Not found", 404, headers=HEADERS, media_type="text/plain")
        body, media_type = found
        return Response(body, headers=HEADERS, media_type=media_type)

    async def page(request: Request) -> Response:
        return serve("index.html")

    async def asset(request: Request) -> Response:
        return serve(request.path_params["name"])

    async def slash(request: Request) -> Response:
        return RedirectResponse(PATH, 308)

    return [
        Route(PATH, page, methods=["GET", "HEAD"], name="dashboard"),
        Route(PATH + "/", slash, methods=["GET", "HEAD"]),
        Route(PATH + "/{name}", asset, methods=["GET", "HEAD"], name="dashboard_file"),
    ]
