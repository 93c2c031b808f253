"""The one path every model request takes, whichever API it speaks.

request → neutral request → scenario match → reply plan → API renderer → paced writer.
Everything here is shared; only the ``ApiModule`` passed in knows the wire format.
"""

import asyncio
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from understudy.core.errors import ApiError
from understudy.core.request import NAMESPACE_HEADER, NeutralRequest
from understudy.engine import Engine, Slot
from understudy.http import keys
from understudy.http.body import parse_json
from understudy.http.responses import error_response
from understudy.plan import ReplyPlan, build_plan
from understudy.providers import ApiModule
from understudy.record.journal import Call
from understudy.state import ServerState
from understudy.stream.frames import SSE_HEADERS
from understudy.stream.writer import CutResponse, StreamOutcome, StreamResponse


def _continue(api: ApiModule, request: NeutralRequest, state: ServerState, namespace: str) -> None:
    """Put the kept conversation a request continues before its own turns."""
    previous = state.responses.get(namespace, request.continues or "")
    if previous is None:
        raise api.continuation_not_found(request.continues or "")
    request.messages = [*previous.conversation, *request.messages]


async def handle(api: ApiModule, request: Request, state: ServerState) -> Any:
    """Answer one model request: an error, a JSON body, or a paced stream."""
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    provider = api.provider
    request_id = provider.new_request_id()
    settings = state.settings
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    call = state.journal.begin(api.name, request.scope, namespace, request_id, started_at)
    try:
        if settings.api_keys:
            keys.check_key(provider, request.headers, settings.api_keys)
        body = await parse_json(provider, request, settings.max_body_bytes, call)
        neutral = api.parse(body, request.headers)
        if neutral.continues is not None:
            _continue(api, neutral, state, namespace)
        catalog = state.runtime.catalog_for(namespace, state.catalog)
        selection = catalog.select(neutral, state.counters, namespace)
        call.scenario, call.reply_index = selection.scenario.name, selection.reply_index
        plan = build_plan(neutral, selection, settings, request_id, state.chaos)
        faults = plan.faults
        if faults is not None:
            call.fault, call.fault_kinds = faults.label, faults.kinds
            if faults.error is not None:
                raise faults.error
        slot = None
        if state.engine is not None:
            slot = await _admit(state.engine, plan, started_at)
    except ApiError as error:
        call.error = error.message
        call.near_misses = getattr(error, "near_misses", None)
        state.record(call, error.status)
        return error_response(provider, error, request_id)

    if slot is None:
        return await _answer(api, request, state, plan, call, started_at)
    try:
        response = await _answer(api, request, state, plan, call, started_at, slot)
    except BaseException:
        slot.release(loop.time(), 0, 0, None)
        raise
    if not isinstance(response, StreamResponse):
        _release(slot, plan, None, loop.time())
    return response


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
    tokens = plan.reply.usage.output_tokens
    if outcome is None:
        slot.release(now, plan.reply.usage.input_tokens, tokens, plan.timing.ttft)
    else:
        ttft = outcome.ttft if outcome.first_token_at is not None else None
        sent = tokens if outcome.completed else max(outcome.events_sent - 1, 0)
        slot.release(outcome.finished_at, plan.reply.usage.input_tokens, sent, ttft)


async def _answer(
    api: ApiModule,
    request: Request,
    state: ServerState,
    plan: ReplyPlan,
    call: Call,
    started_at: float,
    slot: Slot | None = None,
) -> Any:
    """The reply itself: a paced stream, or a JSON body once it would be generated."""
    loop = asyncio.get_running_loop()
    provider, faults, namespace = api.provider, plan.faults, call.namespace
    id_header = (provider.request_id_header.encode(), plan.request_id.encode())
    if plan.request.stream:
        call.stream = True
        state.metrics.stream_opened(api.name)
        stream = api.render_stream(plan)
        if stream.stored is not None:
            state.responses.put(namespace, stream.stored)
        on_close = partial(state.record, call, 200)
        if slot is not None:

            def on_close(outcome: StreamOutcome) -> None:
                state.record(call, 200, outcome)
                _release(slot, plan, outcome, outcome.finished_at)

        return StreamResponse(
            stream.frames(),
            headers=[*SSE_HEADERS, id_header],
            timing=plan.timing,
            started_at=started_at,
            on_close=on_close,
            script=None if faults is None else faults.script(stream),
        )

    reply = plan.reply
    tokens = len(reply.reasoning) + len(reply.content) + len(reply.refusal)
    tokens += sum(len(tool.fragments) + 1 for tool in reply.tool_calls)
    wait = started_at + plan.timing.total(tokens) - loop.time()
    if wait > 0:
        await asyncio.sleep(wait)
    rendered = api.render_body(plan)
    stored = api.stored(plan, rendered)
    if stored is not None:
        state.responses.put(namespace, stored)
    body = orjson.dumps(rendered)
    if faults is not None:
        await faults.hold(request)
        keep = faults.cut_at(len(body))
        if keep is not None:
            state.record(call, 200)
            return CutResponse(body, keep, [id_header])
    headers = {provider.request_id_header: plan.request_id}
    response = Response(body, media_type="application/json", headers=headers)
    state.record(call, 200)
    return response
