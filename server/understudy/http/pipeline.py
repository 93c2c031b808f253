"""The one path every model request takes, whichever API it speaks.

request → neutral request → scenario match → reply plan → API renderer → paced writer.
Everything here is shared; only the ``ApiModule`` passed in knows the wire format.
"""

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from understudy.core.errors import ApiError
from understudy.core.request import LENIENT_HEADER, NAMESPACE_HEADER, Strictness
from understudy.engine import Engine, Slot
from understudy.faults.errors import overloaded
from understudy.http import keys, proxy
from understudy.http.body import parse_json
from understudy.http.headers import RawHeaders
from understudy.http.kept import Kept
from understudy.http.responses import error_response
from understudy.plan import ReplyPlan, build_plan
from understudy.providers import ApiModule, Stored
from understudy.record.journal import Call
from understudy.scenarios.catalog import Selection
from understudy.settings import Settings
from understudy.state import ServerState
from understudy.stream.frames import SSE_HEADERS
from understudy.stream.writer import CutResponse, StreamOutcome, StreamResponse


def strictness(settings: Settings, headers: Mapping[str, str]) -> Strictness:
    """The server's strictness, or the one this request's lenient header asks for."""
    header = headers.get(LENIENT_HEADER)
    if header is None:
        lenient = settings.lenient
    else:
        lenient = header.strip().lower() in ("1", "true", "yes", "on")
    return Strictness(lenient, settings.max_output_tokens)


async def handle(api: ApiModule, request: Request, state: ServerState) -> Any:
    """Answer one model request: an error, a JSON body, or a paced stream."""
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    provider = api.provider
    request_id = provider.new_request_id()
    settings = state.settings
    headers = RawHeaders(request.scope["headers"])
    namespace = headers.get(NAMESPACE_HEADER, "")
    call = state.journal.begin(api.name, request.scope, namespace, request_id, started_at)
    kept = Kept(api, state, namespace, call)
    try:
        if settings.api_keys:
            keys.check_key(provider, headers, settings.api_keys)
        body = await parse_json(provider, request, settings.max_body_bytes, call, headers)
        neutral = api.parse(body, headers, strictness(settings, headers))
        if neutral.stream and state.at_stream_limit:
            raise overloaded(api.name, neutral.model)
        if neutral.continues is not None:
            try:
                await kept.resume(neutral)
            except ApiError:
                # While recording, the upstream holds the replies it continues.
                if state.recorder is None or not state.recorder.proxying:
                    raise
        catalog = state.runtime.catalog_for(namespace, state.catalog)
        if proxy.wanted(state, neutral, catalog):
            await kept.end(answered=False)
            return await proxy.forward(api, request, body, neutral, state, call, started_at)
        scenario = catalog.choose(neutral)
        selection = Selection.at(scenario, await state.backend.take(namespace, scenario.name))
        call.scenario, call.reply_index = selection.scenario.name, selection.reply_index
        plan = build_plan(neutral, selection, settings, request_id, state.chaos)
        faults = plan.faults
        if faults is not None:
            call.fault, call.fault_kinds = faults.label, faults.kinds
            if faults.error is not None:
                raise faults.error
        slot = None if state.engine is None else await _admit(state.engine, plan, started_at)
    except ApiError as error:
        await kept.end(answered=False)
        call.error = error.message
        call.near_misses = getattr(error, "near_misses", None)
        state.record(call, error.status)
        return error_response(provider, error, request_id)

    id_header = (provider.request_id_header.encode(), request_id.encode())
    if neutral.stream:
        call.stream = True
        state.stream_opened(api.name)
        stream = api.render_stream(plan)
        await kept.keep(stream.stored)
        return StreamResponse(
            stream.frames(),
            headers=[*SSE_HEADERS, id_header],
            timing=plan.timing,
            started_at=started_at,
            on_close=partial(_stream_closed, kept, stream.stored, state, call, slot, plan),
            script=None if faults is None else faults.script(stream),
            timeline_events=settings.timeline_events if state.journal.size else 0,
        )

    reply = plan.reply
    tokens = len(reply.reasoning) + len(reply.content) + len(reply.refusal)
    tokens += sum(len(tool.fragments) + 1 for tool in reply.tool_calls)
    wait = started_at + plan.timing.total(tokens) - loop.time()
    if wait > 0:
        try:
            await asyncio.sleep(wait)
        except BaseException:  # cancelled (shutdown) before the reply was made
            kept.end_soon(answered=False)
            if slot is not None:
                slot.release(loop.time(), 0, 0, None)
            raise
    if slot is not None:
        _release(slot, plan, None, loop.time())
    rendered = api.render_body(plan)
    await kept.keep(api.stored(plan, rendered))
    await kept.end(answered=True)
    body = orjson.dumps(rendered)
    if faults is not None:
        await faults.hold(request)
        keep = faults.cut_at(len(body))
        if keep is not None:
            state.record(call, 200)
            return CutResponse(body, keep, [id_header])
    headers = {provider.request_id_header: request_id}
    response = Response(body, media_type="application/json", headers=headers)
    state.record(call, 200)
    return response


def _stream_closed(
    kept: Kept,
    stored: Stored | None,
    state: ServerState,
    call: Call,
    slot: Slot | None,
    plan: ReplyPlan,
    outcome: StreamOutcome,
) -> None:
    """What a stream leaves behind when it ends: its stored reply, its journal entry, its
    engine slot. A partial rather than a closure: a closure would give every request's
    frame a cell per variable it captures, streaming or not."""
    kept.stream_closed(stored, outcome)
    state.record(call, 200, outcome)
    if slot is not None:
        _release(slot, plan, outcome, outcome.finished_at)


async def _admit(engine: Engine, plan: ReplyPlan, arrived_at: float) -> Slot:
    """Wait for an engine slot; the reply is then paced by the engine unless its scenario
    sets a pace, and the time queued counts toward its time to first token."""
    slot = await engine.admit(plan.request.api, plan.request.model, arrived_at)
    if plan.timed:
        plan.timing = engine.paced(plan.timing, slot)
    else:
        plan.timing = engine.timing(slot, plan.reply.usage.input_tokens)
    return slot


def _release(slot: Slot, plan: ReplyPlan, outcome: StreamOutcome | None, now: float) -> None:
    """Free a request's engine slot, counting what it sent."""
    usage = plan.reply.usage
    if outcome is None:
        slot.release(now, usage.input_tokens, usage.output_tokens, plan.timing.ttft)
        return
    ttft = outcome.ttft if outcome.first_token_at is not None else None
    sent = usage.output_tokens if outcome.completed else max(outcome.events_sent - 1, 0)
    slot.release(outcome.finished_at, usage.input_tokens, sent, ttft)
