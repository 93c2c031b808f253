"""Anthropic message threads (beta ``message-threads-2026-08-12``): the server holds a
conversation between turns, so each request sends only its new messages.

``thread: {"type": "create"}`` asks the server to keep the conversation under the
reply's ``id``. ``{"type": "continue", "previous_message_id": id}`` sends only the new
turn and leaves out ``system`` and ``tools``: the thread has them. Each reply can be
continued once. Refusals carry ``error.details.error_code``, which anthropic-python maps
to typed errors (``ThreadNotFoundError``, ...) and recovers from by replaying the whole
conversation under a new thread. The response looks the same with or without a thread.

The messages below follow the SDK's descriptions of these errors; the live API's exact
wording is not confirmed.
"""

from typing import TYPE_CHECKING, Any

from understudy.core.errors import ApiError
from understudy.core.request import Message, NeutralRequest
from understudy.providers.base import Stored

if TYPE_CHECKING:
    from understudy.plan import ReplyPlan

FIXED_FIELDS = ("system", "tools")
"""What a thread keeps from the request that created it; a continue may only repeat them."""
UNSUPPORTED_FIELDS = ("cache_control", "context_management", "fallbacks", "thinking")
"""Request fields threads cannot be combined with (the SDK's ``ThreadUnsupportedFeatureName``
also names organisation settings, which a mock does not have)."""


def _refusal(status: int, code: str, message: str, **details: Any) -> ApiError:
    return ApiError(status, message, details={"error_code": code, **details})


def not_found(reference: str) -> ApiError:
    """Unknown, expired or forgotten (reset) ``previous_message_id``."""
    return _refusal(
        404,
        "thread_not_found",
        f"No usable thread state was found for previous_message_id '{reference}'. Replay "
        'the full conversation with `thread: {"type": "create"}` to start a new thread.',
    )


def taken(reference: str, in_flight: bool) -> ApiError:
    """A second continue of the same reply, while the first is answered or after."""
    if in_flight:
        return _refusal(
            400,
            "thread_continue_in_flight",
            f"Another request is still continuing from previous_message_id '{reference}'. "
            "Wait for it to complete and continue from its response id.",
        )
    return _refusal(
        400,
        "thread_already_continued",
        f"The response previous_message_id '{reference}' names has already been continued, "
        "and each response can be continued only once. Continue from the thread's most "
        "recent response id.",
    )


def check_supported(body: dict[str, Any]) -> None:
    """Refuse ``thread`` combined with a field threads do not support."""
    if body.get("thread") is None:
        return
    unsupported = [name for name in UNSUPPORTED_FIELDS if body.get(name) is not None]
    if unsupported:
        raise _refusal(
            400,
            "thread_unsupported_request",
            f"`thread` cannot be combined with: {', '.join(unsupported)}. Send the full "
            "conversation without `thread`, or leave these out.",
            unsupported=unsupported,
        )


def resume(request: NeutralRequest, kept: Stored) -> None:
    """Continue ``kept``: the thread's turns come first, and its system prompt and tools
    apply, as if the client had sent them again. A continue that sends a different
    system prompt or other tools does not fit the thread."""
    body = request.body
    sent = {"system": request.system, "tools": request.tools}
    held = {"system": kept.system, "tools": kept.tools}
    differing = [
        name for name in FIXED_FIELDS if body.get(name) is not None and sent[name] != held[name]
    ]
    if differing:
        names = " and ".join(f"`{name}`" for name in differing)
        raise _refusal(
            400,
            "thread_fingerprint_mismatch",
            f"{names} differ from the values stored with the thread. Send the stored values, "
            'or replay the full conversation with `thread: {"type": "create"}` to change them.',
        )
    request.messages = [*kept.conversation, *request.messages]
    request.system = kept.system
    request.tools = kept.tools
    request.thread_id = kept.thread_id


def kept_turn(plan: "ReplyPlan", message_id: str) -> Stored | None:
    """What the server keeps of a threaded reply: the whole thread so far, this reply
    included, under the reply's id; None for a request without ``thread``."""
    request = plan.request
    if request.body.get("thread") is None:
        return None
    reply = plan.reply
    names = tuple(call.name for call in reply.tool_calls)
    # The assistant turn as a client resending history would send it back.
    turn = Message("assistant", reply.content_text + reply.refusal_text, tool_calls=names)
    return Stored(
        message_id,
        {},
        [*request.messages, turn],
        system=request.system,
        tools=request.tools,
        thread_id=request.thread_id or message_id,
    )
