"""The timing model: TTFT, ITL or tokens per second, jitter distributions, scripted
waits, seeds and the time scale.

Schedules are checked directly (``Timing.schedule``). Over the wire only safe bounds
are asserted: a token is never sent before its absolute deadline, so its arrival,
measured from before the request was sent, is at least the sum of the scheduled delays;
upper bounds only where the difference is seconds, so a loaded machine cannot flake.
"""

import statistics
import time

import httpx
import pytest

from understudy.scenarios import load_text
from understudy.scenarios.schema import Delivery
from understudy.stream.pacing import Timing

TEXT = "alpha beta gamma delta epsilon zeta eta theta"


def delivery(**fields: object) -> Delivery:
    return Delivery.model_validate(fields)


def test_same_seed_same_schedule_for_every_distribution() -> None:
    for jitter in (5, {"distribution": "normal", "ms": 4}, {"distribution": "fixed", "ms": 3}):
        spec = delivery(ttft_ms=100, itl_ms=20, jitter=jitter, seed=11)
        first = Timing.from_delivery(spec).schedule(200)
        assert first == Timing.from_delivery(spec).schedule(200)
    other = Timing.from_delivery(delivery(itl_ms=20, jitter_ms=5, seed=12)).schedule(50)
    assert other != Timing.from_delivery(delivery(itl_ms=20, jitter_ms=5, seed=11)).schedule(50)


def test_unseeded_jitter_differs_between_requests() -> None:
    spec = delivery(itl_ms=20, jitter_ms=5)
    assert Timing.from_delivery(spec).schedule(50) != Timing.from_delivery(spec).schedule(50)


def test_uniform_jitter_stays_within_plus_minus() -> None:
    gaps = Timing.from_delivery(delivery(itl_ms=20, jitter=5, seed=1)).schedule(2000)[1:]
    assert all(0.015 <= gap <= 0.025 for gap in gaps)
    assert statistics.pstdev(gaps) > 0.002  # spread over the range, not a constant


def test_normal_jitter_is_clamped_to_its_bounds() -> None:
    spec = delivery(
        itl_ms=20, jitter={"distribution": "normal", "ms": 6, "min_ms": -4, "max_ms": 8}, seed=3
    )
    gaps = Timing.from_delivery(spec).schedule(5000)[1:]
    assert min(gaps) == pytest.approx(0.016) and max(gaps) == pytest.approx(0.028)
    assert abs(statistics.median(gaps) - 0.020) < 0.001


def test_fixed_jitter_is_a_constant_offset() -> None:
    timing = Timing.from_delivery(
        delivery(ttft_ms=50, itl_ms=20, jitter={"distribution": "fixed", "ms": 5})
    )
    assert timing.schedule(4) == pytest.approx([0.055, 0.025, 0.025, 0.025])


def test_gaps_never_go_negative() -> None:
    gaps = Timing.from_delivery(delivery(itl_ms=2, jitter=10, seed=5)).schedule(500)
    assert min(gaps) == 0.0


def test_tokens_per_second_is_another_way_to_give_itl() -> None:
    timing = Timing.from_delivery(delivery(ttft_ms=10, tokens_per_second=50))
    assert timing.schedule(3) == pytest.approx([0.010, 0.020, 0.020])
    with pytest.raises(ValueError, match="itl_ms or tokens_per_second"):
        delivery(itl_ms=20, tokens_per_second=50)


def test_reply_delivery_replaces_the_scenarios_rate_form() -> None:
    """A reply's ``itl_ms`` overrides a scenario's ``tokens_per_second`` and vice versa."""
    base = delivery(tokens_per_second=10, jitter_ms=3)
    merged = delivery(itl_ms=5, jitter={"distribution": "normal", "ms": 1}).merged_over(base)
    assert (merged.itl_ms, merged.tokens_per_second, merged.jitter_ms) == (5, None, None)
    assert (
        Timing.from_delivery(delivery(tokens_per_second=4).merged_over(delivery(itl_ms=9))).itl
        == 0.25
    )


def test_time_scale_scales_everything_and_zero_means_no_waits() -> None:
    spec = delivery(
        ttft_ms=100,
        itl_ms=20,
        jitter={"distribution": "normal", "ms": 5, "min_ms": 1},
        waits=[{"after_events": 3, "ms": 2000}],
        seed=1,
    )
    half = Timing.from_delivery(spec, time_scale=0.5)
    assert half.waits == ((3, 1.0),)
    assert half.schedule(1)[0] >= 0.0505
    instant = Timing.from_delivery(spec, time_scale=0)
    assert instant.is_instant
    assert instant.schedule(10) == [0.0] * 10
    assert instant.waits == ()


def test_waits_are_validated_and_sorted() -> None:
    timing = Timing.from_delivery(
        delivery(waits=[{"after_events": 5, "ms": 10}, {"after_events": 2, "ms": 30}])
    )
    assert timing.waits == ((2, 0.03), (5, 0.01))
    with pytest.raises(ValueError):
        delivery(waits=[{"after_events": -1, "ms": 10}])


def test_jitter_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="min_ms"):
        delivery(jitter={"distribution": "normal", "ms": 1, "min_ms": 5, "max_ms": 1})


def test_a_plain_reply_has_no_fault_plan() -> None:
    """The hot path stays plain: no waits, no faults → no fault plan, no script."""
    from understudy.core.request import Message, NeutralRequest
    from understudy.plan import build_plan
    from understudy.scenarios.catalog import Catalog, Counters
    from understudy.settings import Settings

    catalog = Catalog(load_text(f"name: s\ndefault: true\nreply: {{content: {TEXT}}}\n"))
    request = NeutralRequest("chat", "m", [Message("user", "hi")], stream=True)
    selection = catalog.select(request, Counters())
    assert build_plan(request, selection, Settings(), "req").faults is None


# ----------------------------------------------------------------------------- over the wire


def token_arrivals(base_url: str, marker: bytes = b'"content":"') -> tuple[float, list[float]]:
    """Seconds from just before the request to each content chunk's arrival."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    arrivals = []
    buffer = b""
    started = time.monotonic()
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=30) as r:
        for chunk in r.iter_raw():
            buffer += chunk
            *events, buffer = buffer.split(b"\n\n")
            now = time.monotonic() - started
            arrivals.extend(
                now for event in events if marker in event and b'"content":""' not in event
            )
    return time.monotonic() - started, arrivals


def test_seeded_jitter_over_the_wire_follows_the_schedule(serve) -> None:
    """Two runs of a seeded scenario: each token arrives no earlier than the cumulative
    schedule, which is the same for both runs."""
    yaml_text = (
        f"name: s\ndefault: true\nreply:\n  content: {TEXT}\n"
        "  delivery: {ttft_ms: 30, itl_ms: 25, jitter: {distribution: normal, ms: 15, "
        "min_ms: -20, max_ms: 40}, seed: 99}\n"
    )
    scenario = load_text(yaml_text)[0]
    schedule = Timing.from_delivery(scenario.reply.delivery).schedule(len(TEXT.split()))
    deadlines = [sum(schedule[: i + 1]) for i in range(len(schedule))]
    base_url = serve(yaml_text)
    for _ in range(2):
        _, arrivals = token_arrivals(base_url)
        assert len(arrivals) == len(deadlines)
        for arrival, deadline in zip(arrivals, deadlines, strict=True):
            assert arrival >= deadline - 0.001


def test_scripted_wait_delays_one_event_and_keeps_later_gaps(serve) -> None:
    """``waits: [{after_events: 4, ms: 400}]``: the fifth event (the fourth token) comes
    at least 400 ms after the schedule, and the tokens after it are still paced: they do
    not burst to catch up."""
    base_url = serve(
        f"name: s\ndefault: true\nreply:\n  content: {TEXT}\n"
        "  delivery: {itl_ms: 60, waits: [{after_events: 4, ms: 400}]}\n"
    )
    _, arrivals = token_arrivals(base_url)
    # Event 0 is the role chunk, so after 4 events the fourth token (index 3) is next.
    assert arrivals[3] >= 3 * 0.060 + 0.400 - 0.001
    for index in range(4, len(arrivals)):
        assert arrivals[index] >= 0.400 + index * 0.060 - 0.001


def test_time_scale_zero_serves_a_slow_scenario_at_once(serve) -> None:
    """``--time-scale 0``: a reply scripted to take over 20 s arrives in well under 5."""
    base_url = serve(
        f"name: s\ndefault: true\nreply:\n  content: {TEXT}\n"
        "  delivery: {ttft_ms: 5000, itl_ms: 2000, waits: [{after_events: 2, ms: 5000}]}\n"
        "  fault: {kind: stall, after_events: 3, seconds: 5}\n",
        time_scale=0,
    )
    elapsed, arrivals = token_arrivals(base_url)
    assert len(arrivals) == len(TEXT.split())
    assert elapsed < 5
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.json()["choices"][0]["message"]["content"] == TEXT


def test_time_scale_stretches_a_scripted_wait(serve) -> None:
    base_url = serve(
        f"name: s\ndefault: true\nreply:\n  content: {TEXT}\n"
        "  delivery: {waits: [{after_events: 1, ms: 100}]}\n",
        time_scale=3,
    )
    _, arrivals = token_arrivals(base_url)
    assert arrivals[0] >= 0.3 - 0.001
