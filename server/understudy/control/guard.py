"""The control plane answers test code, never a web page.

Everything under ``/_understudy/`` can read what clients sent (prompts, headers) and
change what every later request gets, so a page in a browser on the same machine must
not be able to reach it. Browsers mark their requests, and these checks refuse what they
mark as coming from elsewhere:

- an ``Origin`` other than the server's own (``scheme://Host`` of the request): 403;
- ``Sec-Fetch-Site`` other than ``same-origin`` or ``none`` (a typed URL): 403. Sites
  ignore ports, so ``same-site`` includes every other server on ``localhost``;
- a body whose ``Content-Type`` a page may send without asking first (``text/plain``, a
  form) or that has none: 415. ``application/json`` and YAML need a CORS preflight,
  which the control plane never grants: it sends no CORS headers at all.

SDKs, ``curl`` and the test helpers send no ``Origin`` and no ``Sec-Fetch-*``, so they
are unaffected. The ``Host`` header is checked before this, on every route
(``understudy.http.hosts``).
"""

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.responses import Response

from understudy.control.admin import error_response
from understudy.control.table import PREFIX

CONTROL_PREFIXES = (PREFIX,)
"""Paths of the control plane: the admin API and anything served beside it."""

SAFE_FETCH_SITES = frozenset({"same-origin", "none"})
BODY_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


_UNDER = tuple(prefix + "/" for prefix in CONTROL_PREFIXES)


def is_control_plane(path: str) -> bool:
    return path.startswith(_UNDER) or path in CONTROL_PREFIXES


def _origin(scheme: str, authority: str) -> str:
    """``scheme://host[:port]`` lowercased, without the scheme's default port."""
    scheme, authority = scheme.lower(), authority.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None:
        authority = authority.removesuffix(f":{default}")
    return f"{scheme}://{authority}"


def same_origin(origin: str, scheme: str, host: str | None) -> bool:
    """Whether an ``Origin`` header names this server as the request reached it."""
    if host is None:
        return False
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if not parts.scheme or not parts.netloc or parts.path not in ("", "/"):
        return False
    return _origin(parts.scheme, parts.netloc) == _origin(scheme, host)


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _has_body(headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length", "").strip()
    return "transfer-encoding" in headers or (length not in ("", "0"))


def refusal(method: str, scheme: str, headers: Mapping[str, str]) -> Response | None:
    """The admin-shaped refusal of a control-plane request a web page may have sent, or
    None when it may proceed."""
    origin = headers.get("origin")
    if origin is not None and not same_origin(origin, scheme, headers.get("host")):
        return error_response(
            403,
            "The admin API refuses requests from other origins (web pages): "
            f"Origin {origin!r} is not this server.",
        )
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in SAFE_FETCH_SITES:
        return error_response(
            403,
            f"The admin API refuses requests from web pages (Sec-Fetch-Site: {site}).",
        )
    if method in BODY_METHODS:
        media_type = _media_type(headers.get("content-type", ""))
        if (media_type or _has_body(headers)) and media_type not in BODY_TYPES:
            response = error_response(
                415,
                "Admin request bodies must be Content-Type application/json or "
                f"application/yaml, not {media_type or 'none'!r}.",
            )
            response.headers["accept-post"] = "application/json, application/yaml"
            return response
    return None
