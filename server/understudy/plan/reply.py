"""The neutral reply for one request, built from a scenario's reply.

Chunked by the delivery rule, cut by the request's token limit or stop sequences, with
the finish reason derived and the usage counted.
"""

from functools import lru_cache

from understudy.core.reply import Reply, ToolCall, Usage
from understudy.core.request import NeutralRequest
from understudy.core.tokens import count_tokens, split_chars, split_json, split_tokens
from understudy.plan import follow
from understudy.scenarios.schema import AUTO, Delivery, JsonContent, ReplySpec

# Per-message and per-tool framing overhead, roughly what chat templates add.
_MESSAGE_OVERHEAD = 4
_REPLY_PRIMING = 3
_TOOL_CALL_OVERHEAD = 3


@lru_cache(maxsize=256)
def _tokens(text: str) -> tuple[str, ...]:
    """The tokens of a scenario's text, split once: the same reply text is counted and
    chunked on every request that serves it."""
    return tuple(split_tokens(text))


def _count(text: str) -> int:
    return len(_tokens(text))


def _text(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else "".join(value)


def chunk(
    text: str, value: str | list[str] | None, chunking: object, splitter=_tokens
) -> list[str]:
    """Split ``text`` (a prefix of the spec's full text) into stream pieces."""
    if isinstance(value, list):
        pieces = value
    elif isinstance(chunking, list):
        pieces = chunking
    elif chunking == "none":
        pieces = [_text(value)] if _text(value) else []
    elif isinstance(chunking, dict):
        pieces = split_chars(_text(value), chunking["chars"])
    else:
        pieces = list(splitter(_text(value)))
    return _cut(pieces, len(text))


def _cut(pieces: list[str], length: int) -> list[str]:
    """The leading pieces covering exactly ``length`` characters."""
    if sum(map(len, pieces)) <= length:
        return [piece for piece in pieces if piece]
    out: list[str] = []
    remaining = length
    for piece in pieces:
        if remaining <= 0:
            break
        if not piece:
            continue
        out.append(piece[:remaining])
        remaining -= len(piece)
    return out


def _take_tokens(text: str, budget: int) -> tuple[str, int]:
    """The prefix of ``text`` holding at most ``budget`` tokens, and the tokens used."""
    tokens = _tokens(text)
    if len(tokens) <= budget:
        return text, len(tokens)
    return "".join(tokens[:budget]), budget


def count_input_tokens(request: NeutralRequest) -> int:
    total = _REPLY_PRIMING + count_tokens(request.system)
    for message in request.messages:
        total += _MESSAGE_OVERHEAD + count_tokens(message.text)
    return total + sum(count_tokens(name) + _MESSAGE_OVERHEAD for name in request.tools)


def build_reply(
    request: NeutralRequest,
    spec: ReplySpec,
    delivery: Delivery,
    budget: int = follow.DEFAULT_BUDGET,
) -> Reply:
    """Turn a scenario reply into the neutral reply for this request.

    ``budget`` bounds each value generated for ``auto`` arguments and ``{json: auto}``.
    """
    # The seed hashes the conversation: only worth it when something is generated.
    generated = isinstance(spec.content, JsonContent) or any(
        call.arguments == AUTO for call in spec.tool_calls
    )
    seed = follow.seed_of(request, delivery.seed) if generated else 0
    chunking = delivery.chunking
    spec_reasoning = follow.render(request, spec.reasoning)
    spec_refusal = follow.render(request, spec.refusal)
    if isinstance(spec.content, JsonContent):
        spec_content: str | list[str] | None = follow.json_content(request, seed, budget)
        if chunking == "words":
            spec_content = split_json(spec_content)
    else:
        spec_content = follow.render(request, spec.content)
        if isinstance(chunking, list) and spec_content != spec.content:
            chunking = "words"  # the scripted chunks split the template, not its rendering
    reasoning = _text(spec_reasoning)
    content = _text(spec_content)
    refusal = _text(spec_refusal)
    finish = spec.finish_reason
    stop_sequence = spec.stop_sequence

    for stop in request.stop:
        if stop and stop in content:
            content = content[: content.index(stop)]
            finish, stop_sequence = "stop_sequence", stop
            break

    truncated = False
    tokens = request.max_tokens
    calls = []
    for index, call in enumerate(spec.tool_calls):
        name = follow.tool_name(request, call)
        text = follow.arguments(request, call, name, seed + index + 1, budget)
        calls.append(ToolCall(name, text, [], call.id))
    if tokens is not None:
        reasoning, used = _take_tokens(reasoning, tokens)
        tokens -= used
        before = content
        content, used = _take_tokens(content, tokens)
        tokens -= used
        truncated = content != before or reasoning != _text(spec_reasoning)
        kept = []
        for call in calls:
            cost = _count(call.arguments) + _TOOL_CALL_OVERHEAD
            if truncated or cost > tokens:
                truncated = True
                break
            tokens -= cost
            kept.append(call)
        calls = kept

    for call, call_spec in zip(calls, spec.tool_calls, strict=False):
        if call_spec.fragments is not None and call_spec.arguments != "auto":
            call.fragments = list(call_spec.fragments)
        elif delivery.chunking == "none":
            call.fragments = [call.arguments]
        elif isinstance(delivery.chunking, dict):
            call.fragments = split_chars(call.arguments, delivery.chunking["chars"])
        else:
            call.fragments = split_json(call.arguments)

    if truncated:
        finish, stop_sequence = "length", None
    elif finish is None:
        if stop_sequence is not None:
            finish = "stop_sequence"
        elif calls:
            finish = "tool_calls"
        elif refusal:
            finish = "refusal"
        else:
            finish = "stop"

    reasoning_tokens = _count(reasoning)
    output_tokens = (
        reasoning_tokens
        + _count(content)
        + _count(refusal)
        + sum(_count(c.arguments) + _TOOL_CALL_OVERHEAD for c in calls)
    )
    given = spec.usage
    usage = Usage(
        input_tokens=count_input_tokens(request),
        output_tokens=max(output_tokens, 1),
        reasoning_tokens=reasoning_tokens,
    )
    if given is not None:
        for name in ("input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens"):
            value = getattr(given, name)
            if value is not None:
                setattr(usage, name, value)

    return Reply(
        model=spec.model or request.model,
        reasoning=chunk(
            reasoning, spec_reasoning, "words" if isinstance(chunking, list) else chunking
        ),
        content=chunk(content, spec_content, chunking),
        refusal=chunk(refusal, refusal, "words" if isinstance(chunking, list) else chunking),
        tool_calls=calls,
        finish_reason=finish,
        stop_sequence=stop_sequence if finish == "stop_sequence" else None,
        usage=usage,
    )
