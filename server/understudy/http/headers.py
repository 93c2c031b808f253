"""A model request's headers as a plain ``dict``, decoded once.

Starlette's ``Headers`` decodes and compares every header on each lookup; a model
request looks up half a dozen (namespace, key, strictness, content length, scenario,
the scenarios' own ``match.headers``), each a scan of the whole list. Names are
lower-case (ASGI servers send them so, and they are lowered again here); when a name
repeats, the first value counts, as with Starlette's ``Headers.get``.
"""


def header_map(scope: dict) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers
