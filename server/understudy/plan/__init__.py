"""The reply plan: everything a renderer and the writer need for one request.

The step between a scenario match and the API renderer: the neutral reply is built,
the delivery becomes a timing, and the faults are resolved, once per request.
"""

import time
from dataclasses import dataclass

from understudy.core.reply import Reply
from understudy.core.request import NeutralRequest
from understudy.faults.chaos import Chaos
from understudy.faults.plan import FaultPlan, plan_faults
from understudy.plan.reply import build_reply
from understudy.scenarios import Selection
from understudy.settings import Settings
from understudy.stream.pacing import Timing


@dataclass(slots=True)
class ReplyPlan:
    request: NeutralRequest
    reply: Reply
    timing: Timing
    scenario: str
    reply_index: int
    request_id: str
    created: int
    settings: Settings
    faults: FaultPlan | None = None
    """What goes wrong with this reply (``understudy.faults``); None almost always."""
    timed: bool = True
    """The scenario sets its own pace (``ttft_ms``, ``itl_ms`` or ``tokens_per_second``);
    otherwise a simulated engine may pace it."""


def build_plan(
    request: NeutralRequest,
    selection: Selection,
    settings: Settings,
    request_id: str,
    chaos: Chaos | None = None,
) -> ReplyPlan:
    """``chaos`` is the server-wide chaos profile; it may raise ``ApiError`` for a fault
    the scenario scripts but the called API cannot show."""
    scenario, spec = selection.scenario, selection.reply
    delivery = scenario.delivery_for(selection.reply_index)
    timing = scenario.timing_for(selection.reply_index, settings.time_scale)
    return ReplyPlan(
        request=request,
        reply=build_reply(request, spec, delivery, settings.auto_max_size),
        timing=timing,
        scenario=scenario.name,
        reply_index=selection.reply_index,
        request_id=request_id,
        created=int(time.time()),
        settings=settings,
        faults=plan_faults(
            request,
            selection,
            timing.waits,
            delivery.seed,
            settings.time_scale,
            chaos,
            settings.max_stall_seconds,
        ),
        timed=any(
            value is not None
            for value in (delivery.ttft_ms, delivery.itl_ms, delivery.tokens_per_second)
        ),
    )
