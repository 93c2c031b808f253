"""Reading a Responses reply back into the neutral reply, for recording.

The inverse of ``responses_output`` and ``responses_stream``: reasoning summaries,
output text, refusals and function calls, the status as a finish reason, and usage.
"""

from typing import Any

import orjson

from understudy.core.reply import Reading, Reply, ToolCall, Usage
from understudy.providers.openai.responses_output import INCOMPLETE_REASONS
from understudy.stream.sse import SseEvent

READ_INCOMPLETE = {wire: neutral for neutral, wire in INCOMPLETE_REASONS.items()}
_TOKEN_DELTAS = {
    "response.reasoning_summary_text.delta": "reasoning",
    "response.output_text.delta": "content",
    "response.refusal.delta": "refusal",
}
_FAILED = ("error", "response.failed")


def read_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(
        input_tokens=raw.get("input_tokens") or 0,
        output_tokens=raw.get("output_tokens") or 0,
        reasoning_tokens=(raw.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
        cached_tokens=(raw.get("input_tokens_details") or {}).get("cached_tokens") or 0,
    )


def _finish(response: dict[str, Any], reply: Reply) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return READ_INCOMPLETE.get(reason, "length")
    if reply.tool_calls:
        return "tool_calls"
    return "refusal" if reply.refusal and not reply.content else "stop"


def read_response(response: dict[str, Any]) -> Reading:
    """A complete Response object (a body, or a stream's terminal event)."""
    reply = Reply(model=response.get("model") or "")
    for item in response.get("output") or ():
        kind = item.get("type")
        if kind == "reasoning":
            text = "".join(part.get("text") or "" for part in item.get("summary") or ())
            if text:
                reply.reasoning.append(text)
        elif kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text" and part.get("text"):
                    reply.content.append(part["text"])
                elif part.get("type") == "refusal" and part.get("refusal"):
                    reply.refusal.append(part["refusal"])
        elif kind == "function_call":
            arguments = item.get("arguments") or ""
            reply.tool_calls.append(
                ToolCall(item.get("name") or "", arguments, [arguments], item.get("call_id"))
            )
    reply.finish_reason = _finish(response, reply)
    usage = read_usage(response.get("usage"))
    if usage is not None:
        reply.usage = usage
    return Reading(reply, usage_reported=usage is not None)


def read_events(events: list[SseEvent]) -> Reading:
    """Summary, text, refusal and argument deltas are the token events; the terminal
    event's Response gives the model, the status and the usage."""
    reply = Reply(model="")
    times: list[float] = []
    final: dict[str, Any] | None = None
    calls: dict[str, ToolCall] = {}
    for event in events:
        payload = orjson.loads(event.data)
        kind = payload.get("type") or event.event
        if kind in _FAILED:
            raise ValueError("the stream reported an error")
        if kind in _TOKEN_DELTAS and payload.get("delta"):
            getattr(reply, _TOKEN_DELTAS[kind]).append(payload["delta"])
            times.append(event.at)
        elif kind == "response.output_item.added":
            item = payload.get("item") or {}
            if item.get("type") == "function_call":
                call = ToolCall(item.get("name") or "", "", [], item.get("call_id"))
                calls[item.get("id") or ""] = call
                reply.tool_calls.append(call)
        elif kind == "response.function_call_arguments.delta" and payload.get("delta"):
            call = calls.get(payload.get("item_id") or "")
            if call is not None:
                call.fragments.append(payload["delta"])
                call.arguments += payload["delta"]
                times.append(event.at)
        elif kind in ("response.completed", "response.incomplete"):
            final = payload.get("response") or {}
    if final is None:
        raise ValueError("the stream ended before its terminal event")
    finished = read_response(final)
    reply.model = finished.reply.model
    reply.finish_reason = _finish(final, reply)
    reply.usage = finished.reply.usage
    return Reading(reply, finished.usage_reported, times)
