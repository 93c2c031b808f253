"""Recording: forward a model request to the real API and relay its answer as it comes.

The upstream's status, headers and body bytes go to the client unchanged and at the
upstream's own pace; hop-by-hop headers aside, nothing is added. Meanwhile the stream's
events are parsed with their arrival times, and once the answer is complete the
exchange becomes a scenario in the session's file (``understudy.record``), which the
catalog then serves. The client's API key goes to the upstream and nowhere else: the
recording keeps no request headers, and any copy of the key in what it keeps is
replaced.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from starlette.requests import Request

from understudy.core.errors import ApiError
from understudy.core.request import SCENARIO_HEADER, NeutralRequest
from understudy.http.keys import presented_key
from understudy.http.responses import error_response
from understudy.providers import ApiModule
from understudy.record.cassette import Exchange, match_of, reply_for, scrub
from understudy.record.journal import Call
from understudy.scenarios import Catalog, ScenarioError, load_paths
from understudy.state import ServerState
from understudy.stream.sse import SseEvent, SseParser
from understudy.stream.writer import RAW_SEND, cut_connection

logger = logging.getLogger("understudy.record")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
"""Headers that describe one connection, not the message: never forwarded either way."""
_OWN_PREFIX = "x-understudy-"
"""Understudy's own request headers (namespace, scenario) stay here."""


def wanted(state: ServerState, request: NeutralRequest, catalog: Catalog) -> bool:
    """Whether this request goes to the upstream: always while recording everything,
    else when no scenario of its own answers it (a default scenario does not count)."""
    recorder = state.recorder
    if recorder is None or not recorder.proxying:
        return False
    if recorder.proxy_all:
        return True
    if request.headers.get(SCENARIO_HEADER):
        return False
    return catalog.find(request) in (None, catalog.default)


def upstream_for(api: ApiModule, state: ServerState) -> str | None:
    settings = state.settings
    own = {"openai": settings.upstream_openai, "anthropic": settings.upstream_anthropic}
    return own.get(api.provider.name) or settings.upstream


def _url(base: str, path: str, query: bytes) -> str:
    """``base`` may name the API root with or without its ``/v1``."""
    base = base.rstrip("/").removesuffix("/v1")
    url = base + path
    return f"{url}?{query.decode('latin-1')}" if query else url


def _request_headers(request: Request) -> list[tuple[str, str]]:
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name not in HOP_BY_HOP and name != "accept-encoding" and not name.startswith(_OWN_PREFIX)
    ]
    # Identity, so the bytes relayed are the bytes parsed.
    return [*headers, ("accept-encoding", "identity")]


def _client(state: ServerState) -> httpx.AsyncClient:
    """One connection pool per recording server, made on its event loop."""
    recorder = state.recorder
    assert recorder is not None
    client = getattr(recorder, "client", None)
    if client is None:
        timeout = state.settings.upstream_timeout
        client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)))
        recorder.client = client  # type: ignore[attr-defined]
    return client


async def forward(
    api: ApiModule,
    request: Request,
    body: Any,
    neutral: NeutralRequest,
    state: ServerState,
    call: Call,
    started_at: float,
) -> Any:
    """Send the request upstream; answer with the upstream's answer, or the provider's
    own error when the upstream cannot be reached."""
    provider = api.provider
    upstream = upstream_for(api, state)
    call.scenario = "(upstream)"
    if upstream is None:
        error = ApiError(
            502,
            f"Understudy is recording but has no upstream for {provider.name}: "
            f"give --upstream or --upstream-{provider.name}.",
            code="upstream_not_configured",
        )
        return _failed(state, call, provider, error)
    client = _client(state)
    url = _url(upstream, request.url.path, request.scope.get("query_string", b""))
    outgoing = client.build_request(
        "POST", url, headers=_request_headers(request), content=orjson.dumps(body)
    )
    try:
        answer = await client.send(outgoing, stream=True)
    except httpx.TimeoutException as exc:
        logger.warning("upstream %s timed out: %r", url, exc)
        error = ApiError(504, f"The upstream API did not answer in time ({type(exc).__name__}).")
        return _failed(state, call, provider, error)
    except httpx.HTTPError as exc:
        logger.warning("upstream %s failed: %r", url, exc)
        error = ApiError(502, f"The upstream API could not be reached ({type(exc).__name__}).")
        return _failed(state, call, provider, error)
    secret = presented_key(request.headers)
    return Relay(answer, state, call, neutral, started_at, (secret,) if secret else ())


def _failed(state: ServerState, call: Call, provider: Any, error: ApiError) -> Any:
    call.error = error.message
    state.record(call, error.status)
    return error_response(provider, error)


class Relay:
    """The upstream's answer, relayed chunk by chunk as it arrives, then recorded."""

    def __init__(
        self,
        answer: httpx.Response,
        state: ServerState,
        call: Call,
        request: NeutralRequest,
        started_at: float,
        secrets: tuple[str, ...],
    ) -> None:
        self.answer = answer
        self.state = state
        self.call = call
        self.request = request
        self.started_at = started_at
        self.secrets = secrets

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Relay, then record, then end the body: a client that reads its answer to the
        end finds the recording already served. A client that leaves early does not stop
        the relay: the upstream's answer is still read and recorded whole."""
        answer = self.answer
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers.multi_items()
            if name.lower() not in HOP_BY_HOP
        ]
        start = {"type": "http.response.start", "status": answer.status_code, "headers": headers}
        await send(start)
        send = scope.get(RAW_SEND, send)
        try:
            exchange = await self._relay(send, asyncio.get_running_loop())
        finally:
            await answer.aclose()
        self.state.record(self.call, answer.status_code)
        if exchange is None:
            cut_connection()  # the upstream broke off: so does the answer to the client
            return
        if exchange.status == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        try:
            await self._keep(exchange)
        except Exception:
            logger.exception("could not record the upstream's answer")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _relay(self, send: Callable, loop: asyncio.AbstractEventLoop) -> Exchange | None:
        """Relay every chunk; the exchange, or None if the upstream broke off."""
        answer = self.answer
        streamed = answer.headers.get("content-type", "").startswith("text/event-stream")
        parser = SseParser() if streamed else None
        events: list[SseEvent] = []
        body = bytearray()
        limit = self.state.settings.max_body_bytes
        size = 0
        try:
            async for chunk in answer.aiter_raw():
                at = loop.time() - self.started_at
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                size += len(chunk)
                if size > limit:
                    parser = None  # too big to keep: relayed, not recorded
                elif parser is not None:
                    events.extend(parser.feed(chunk, at))
                else:
                    body += chunk
        except httpx.HTTPError as exc:
            logger.warning("upstream broke off its answer (%r); not recorded", exc)
            self.call.error = f"the upstream broke off: {type(exc).__name__}"
            return None
        if size > limit:
            logger.warning("the upstream's answer is over %d bytes; relayed, not recorded", limit)
            self.call.error = "the upstream's answer was too large to record"
            return Exchange(self.request, 0, {})  # status 0: complete, but not kept
        return Exchange(
            self.request,
            answer.status_code,
            {name.lower(): value for name, value in answer.headers.items()},
            bytes(body),
            events if streamed and answer.status_code < 400 else None,
            loop.time() - self.started_at,
        )

    async def _keep(self, exchange: Exchange) -> None:
        """Turn the exchange into a scenario, write it, and serve it from now on."""
        state = self.state
        recorder = state.recorder
        assert recorder is not None
        if exchange.status < 400 and exchange.status >= 300:
            return
        try:
            reply = reply_for(exchange, state.settings)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            logger.warning("could not read the upstream's answer; not recorded: %s", exc)
            return
        match = scrub(match_of(exchange.request), self.secrets)
        reply = scrub(reply, self.secrets)
        name = await asyncio.to_thread(recorder.add, match, reply)
        self.call.scenario = name
        served = state.settings.scenarios
        if str(recorder.target) not in served:  # a cassette file that did not exist yet
            served.append(str(recorder.target))
        try:
            state.catalog = await asyncio.to_thread(lambda: Catalog(load_paths(served)))
        except (ScenarioError, ValueError) as exc:
            logger.error("recorded %s, but the catalog did not reload:\n%s", name, exc)
