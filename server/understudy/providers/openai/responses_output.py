"""The Responses ``Response`` object and its output items.

One reply always becomes the same items in the same order: a ``reasoning`` item (its
text as one summary part), a ``message`` item (an ``output_text`` part, then a
``refusal`` part), then one ``function_call`` item per tool call. The JSON body, the
stream and the store all use these, so they can never disagree.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from understudy.core import ids
from understudy.core.reply import Reply, Usage
from understudy.core.request import Message
from understudy.providers.openai.responses_input import echo_tools

if TYPE_CHECKING:
    from understudy.plan import ReplyPlan

# Neutral finish reasons that end a response as ``incomplete``.
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def _default(body: dict[str, Any], key: str, default: Any) -> Any:
    value = body.get(key)
    return default if value is None else value


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def status_of(reply: Reply) -> tuple[str, dict[str, str] | None]:
    """``completed``, or ``incomplete`` with its ``incomplete_details``."""
    reason = INCOMPLETE_REASONS.get(reply.finish_reason)
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


class ResponseShape:
    """The Response object for one request: what it echoes is fixed, the rest varies.

    Field order is the live API's. ``service_tier`` is the requested value while
    in progress and the resolved tier (``default`` for ``auto``) once finished.
    """

    def __init__(self, plan: "ReplyPlan", response_id: str) -> None:
        body = plan.request.body
        self.id = response_id
        self.created_at = plan.created
        self.model = plan.reply.model
        reasoning = {"effort": None, "summary": None}
        reasoning.update(body.get("reasoning") or {})
        text: dict[str, Any] = {"format": {"type": "text"}, "verbosity": "medium"}
        text.update(body.get("text") or {})
        self.tier = _default(body, "service_tier", "auto")
        self.body = body
        self.reasoning = reasoning
        self.text = text
        self.tools = echo_tools(body.get("tools"))
        self.store = _default(body, "store", True)

    @property
    def stored(self) -> bool:
        return self.store is True

    def build(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        *,
        error: dict[str, Any] | None = None,
        incomplete: dict[str, str] | None = None,
        final: bool = True,
    ) -> dict[str, Any]:
        body = self.body
        tier = ("default" if self.tier == "auto" else self.tier) if final else self.tier
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": _default(body, "background", False),
            "error": error,
            "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": _default(body, "parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": self.reasoning,
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": tier,
            "store": self.store,
            "temperature": _default(body, "temperature", 1),
            "text": self.text,
            "tool_choice": _default(body, "tool_choice", "auto"),
            "tools": self.tools,
            "top_logprobs": _default(body, "top_logprobs", 0),
            "top_p": _default(body, "top_p", 1),
            "truncation": _default(body, "truncation", "disabled"),
            "usage": usage,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }


@dataclass(slots=True)
class OutputItem:
    """One output item: its final form, its opening form, and the pieces that stream
    into it (one list per summary or content part, or the argument fragments)."""

    kind: str
    id: str
    final: dict[str, Any]
    added: dict[str, Any]
    pieces: list[list[str]]


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _function_call(
    item_id: str, status: str, arguments: str, call_id: str, name: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def output_items(reply: Reply, body: Mapping[str, Any]) -> list[OutputItem]:
    """The reply as Responses output items, in stream order."""
    items: list[OutputItem] = []
    if reply.reasoning:
        item_id = ids.response_item_id("rs")
        opening: dict[str, Any] = {"id": item_id, "type": "reasoning"}
        if "reasoning.encrypted_content" in (body.get("include") or ()):
            opening["encrypted_content"] = "gAAAAAB" + ids.obfuscation(96)
        summary = [{"type": "summary_text", "text": reply.reasoning_text}]
        final = {**opening, "summary": summary}
        items.append(
            OutputItem("reasoning", item_id, final, {**opening, "summary": []}, [reply.reasoning])
        )
    parts: list[dict[str, Any]] = []
    pieces: list[list[str]] = []
    if reply.content:
        parts.append(text_part(reply.content_text))
        pieces.append(reply.content)
    if reply.refusal:
        parts.append({"type": "refusal", "refusal": reply.refusal_text})
        pieces.append(reply.refusal)
    if parts:
        item_id = ids.response_item_id("msg")
        final = _message(item_id, "completed", parts)
        items.append(
            OutputItem("message", item_id, final, _message(item_id, "in_progress", []), pieces)
        )
    for call in reply.tool_calls:
        item_id = ids.response_item_id("fc")
        call_id = call.id or ids.openai_tool_call_id()
        final = _function_call(item_id, "completed", call.arguments, call_id, call.name)
        added = _function_call(item_id, "in_progress", "", call_id, call.name)
        items.append(OutputItem("function_call", item_id, final, added, [call.fragments]))
    if status_of(reply)[0] == "incomplete" and items and items[-1].kind == "message":
        items[-1].final["status"] = "incomplete"
    return items


def conversation_after(plan: "ReplyPlan", has_output: bool) -> list[Message]:
    """The neutral conversation a follow-up request continues: this request's turns plus
    the reply as an assistant turn (``previous_response_id``)."""
    turns = list(plan.request.messages)
    if has_output:
        reply = plan.reply
        names = tuple(call.name for call in reply.tool_calls)
        turns.append(Message("assistant", reply.content_text, tool_calls=names))
    return turns
