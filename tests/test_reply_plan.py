"""The neutral reply and timing built from a scenario: pure functions, no server."""

from understudy.core.request import Message, NeutralRequest
from understudy.core.tokens import count_tokens, split_json, split_tokens
from understudy.plan.reply import build_reply
from understudy.scenarios import load_text
from understudy.scenarios.schema import Delivery
from understudy.stream.pacing import Timing


def reply_for(yaml_text: str, **request: object):
    scenario = load_text(yaml_text)[0]
    neutral = NeutralRequest(
        api="chat",
        model="m",
        messages=[Message("user", "hello there")],
        **request,  # type: ignore[arg-type]
    )
    delivery = scenario.reply.delivery or Delivery()
    return build_reply(neutral, scenario.reply, delivery)


def test_tokens_concatenate_back_to_the_text() -> None:
    text = "Once upon a time, in 2024 — naïve café!\n\nEnd."
    assert "".join(split_tokens(text)) == text
    assert split_tokens("Once upon a time,") == ["Once", " upon", " a", " time", ","]
    assert count_tokens("Once upon a time,") == 5


def test_json_tokens_never_split_an_escape() -> None:
    text = '{"q": "say \\"hi\\" \\u00e9"}'
    pieces = split_json(text)
    assert "".join(pieces) == text
    assert not any(piece.endswith("\\") for piece in pieces)
    assert any(piece.endswith('\\"') for piece in pieces)
    assert any(piece.endswith("\\u00e9") for piece in pieces)


def test_finish_reason_is_derived() -> None:
    assert reply_for("name: t\nreply: {content: hi}").finish_reason == "stop"
    assert reply_for("name: t\nreply: {tool_calls: [{name: f}]}").finish_reason == "tool_calls"
    assert reply_for("name: t\nreply: {refusal: nope}").finish_reason == "refusal"
    explicit = "name: t\nreply: {content: hi, finish_reason: content_filter}"
    assert reply_for(explicit).finish_reason == "content_filter"


def test_max_tokens_cuts_reasoning_first_then_content_and_drops_tool_calls() -> None:
    reply = reply_for(
        "name: t\nreply:\n  reasoning: one two three\n  content: four five\n"
        "  tool_calls: [{name: f, arguments: {a: 1}}]\n",
        max_tokens=4,
    )
    assert reply.reasoning_text == "one two three"
    assert reply.content_text == "four"
    assert reply.tool_calls == []
    assert reply.finish_reason == "length"
    assert reply.usage.output_tokens == 4


def test_usage_is_counted_and_can_be_overridden() -> None:
    reply = reply_for("name: t\nreply: {content: Hello there friend}")
    assert reply.usage.output_tokens == 3
    assert reply.usage.input_tokens > 0
    given = reply_for("name: t\nreply: {content: x, usage: {input_tokens: 7, cached_tokens: 2}}")
    assert (given.usage.input_tokens, given.usage.cached_tokens) == (7, 2)


def test_request_stop_sequence_cuts_content() -> None:
    reply = reply_for("name: t\nreply: {content: keep this END not this}", stop=("END",))
    assert reply.content_text == "keep this "
    assert (reply.finish_reason, reply.stop_sequence) == ("stop_sequence", "END")


def test_same_seed_same_schedule() -> None:
    delivery = Delivery(ttft_ms=100, itl_ms=20, jitter_ms=5, seed=42)
    first = Timing.from_delivery(delivery).delays()
    second = Timing.from_delivery(delivery).delays()
    a = [next(first) for _ in range(50)]
    assert a == [next(second) for _ in range(50)]
    assert a[0] != a[1]
    assert all(0.015 <= gap <= 0.025 for gap in a[1:])


def test_time_scale_zero_removes_every_wait() -> None:
    timing = Timing.from_delivery(Delivery(ttft_ms=100, itl_ms=20, jitter_ms=5), time_scale=0)
    assert timing.is_instant
