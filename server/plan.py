"""The reply plan: everything a renderer and the writer need for one request."""

import time
from dataclasses import dataclass

from server.pacing import Timing
from server.reply import Reply, build_reply
from server.request import NeutralRequest
from server.scenarios import Delivery, Selection
from server.settings import Settings


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


def build_plan(
    request: NeutralRequest, selection: Selection, settings: Settings, request_id: str
) -> ReplyPlan:
    scenario, spec = selection.scenario, selection.reply
    delivery = scenario.delivery or Delivery()
    if spec.delivery is not None:
        delivery = spec.delivery.merged_over(delivery)
    return ReplyPlan(
        request=request,
        reply=build_reply(request, spec, delivery),
        timing=Timing.from_delivery(delivery, settings.time_scale),
        scenario=scenario.name,
        reply_index=selection.reply_index,
        request_id=request_id,
        created=int(time.time()),
        settings=settings,
    )
