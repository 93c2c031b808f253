"""The simulated inference engine: slots, a queue, and latency that grows with load.

Real servers on loopback, timing bounds with generous slack (not benchmarks).
"""

import threading
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from understudy.engine import EngineProfile, load_profile

WORDS = " ".join(f"w{i}" for i in range(10))
SCENARIO = f"name: plain\ndefault: true\nreply: {{content: {WORDS}}}\n"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def profile(tmp_path: Path, text: str) -> str:
    path = tmp_path / "engine.yaml"
    path.write_text(text)
    return str(path)


def stream_times(url: str, body: dict, results: list, index: int) -> None:
    """(first event, last event) arrival times of one chat stream, in monotonic seconds."""
    first = None
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        for _chunk in response.iter_raw():
            first = first or time.monotonic()
    results[index] = (first, time.monotonic())


def test_two_slots_serve_six_streams_in_three_waves(serve, tmp_path: Path) -> None:
    engine = profile(
        tmp_path,
        "max_running: 2\nmax_waiting: 10\nprefill_tokens_per_second: 100000\n"
        "decode_tokens_per_second: 20\ndecode_tokens_per_second_at_max: 20\n",
    )
    url = serve(SCENARIO, engine=engine)
    stream_times(url, CHAT, [None], 0)  # a first request warms the server up
    results: list = [None] * 6
    threads = [
        threading.Thread(target=stream_times, args=(url, CHAT, results, i)) for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    firsts = sorted(first for first, _ in results)
    offsets = [first - firsts[0] for first in firsts]
    # One stream: 10 tokens at 20 tokens/s, 0.45 s from its first token to its last. A
    # slot takes its next stream when one ends, so the waves are a stream's time apart.
    duration, slack = 9 / 20, 0.1
    assert offsets[1] < duration - slack  # the first wave: both slots at once
    assert min(offsets[2:4]) >= duration - slack  # the second when the first is done
    assert min(offsets[4:]) >= 2 * duration - slack  # the third after two streams' time
    assert offsets[5] < 3 * duration + 0.5


def test_a_full_queue_answers_each_providers_overload_error(serve, tmp_path: Path) -> None:
    engine = profile(
        tmp_path,
        "max_running: 1\nmax_waiting: 1\ndecode_tokens_per_second: 20\nretry_after: 2\n",
    )
    url = serve(SCENARIO, engine=engine)
    results: list = [None] * 2
    threads = [
        threading.Thread(target=stream_times, args=(url, CHAT, results, i)) for i in range(2)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.15)  # one stream running, one waiting
    refused = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert refused.json()["error"]["type"] == "server_error"
    with pytest.raises(anthropic.InternalServerError) as info:
        anthropic.Anthropic(base_url=url, api_key="k", max_retries=0).messages.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"
    for thread in threads:
        thread.join(30)
    assert all(result is not None for result in results)  # the queued one was served


def test_time_to_first_token_grows_with_the_prompt(serve, tmp_path: Path) -> None:
    engine = profile(tmp_path, "prefill_tokens_per_second: 2000\ndecode_tokens_per_second: 500\n")
    url = serve(SCENARIO, engine=engine)

    def ttft(words: int) -> float:
        body = {**CHAT, "messages": [{"role": "user", "content": " ".join(["x"] * words)}]}
        results: list = [None]
        started = time.monotonic()
        stream_times(url, body, results, 0)
        return results[0][0] - started

    ttft(5)  # a first request warms the server up
    short, long = ttft(5), ttft(1000)  # about 10 and 1010 prompt tokens
    assert long >= 1000 / 2000 - 0.01
    assert long - short >= 0.45  # 1,000 more prompt tokens at 2,000 tokens/s
    assert long < 1.5


def test_a_scenario_with_its_own_pace_keeps_it_but_still_queues(serve, tmp_path: Path) -> None:
    engine = profile(tmp_path, "max_running: 1\ndecode_tokens_per_second: 1\n")
    timed = (
        f"name: timed\ndefault: true\nreply: {{content: {WORDS}}}\n"
        "delivery: {ttft_ms: 50, itl_ms: 10}\n"
    )
    url = serve(timed, engine=engine)
    results: list = [None]
    started = time.monotonic()
    stream_times(url, CHAT, results, 0)
    first, last = results[0]
    assert 0.045 <= first - started < 0.5  # its own TTFT, not a 1 token/s engine's
    assert last - first < 0.5


def test_engine_metrics_use_vllm_names_and_move(serve, tmp_path: Path) -> None:
    engine = profile(tmp_path, "max_running: 1\nmax_waiting: 4\ndecode_tokens_per_second: 25\n")
    url = serve(SCENARIO, engine=engine)

    def sample(name: str) -> float:
        text = httpx.get(f"{url}/metrics").text
        for line in text.splitlines():
            if line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not in /metrics")

    assert sample("vllm:num_requests_running") == 0
    results: list = [None] * 3
    threads = [
        threading.Thread(target=stream_times, args=(url, CHAT, results, i)) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.15)
    assert sample("vllm:num_requests_running") == 1
    assert sample("vllm:num_requests_waiting") == 2
    assert sample("vllm:kv_cache_usage_perc") == 1.0
    for thread in threads:
        thread.join(30)
    assert sample("vllm:num_requests_running") == 0
    assert sample("vllm:request_success_total") == 3
    assert sample("vllm:time_to_first_token_seconds_count") == 3
    assert sample("vllm:generation_tokens_total") >= 30


def test_the_sdks_see_nothing_unusual_apart_from_the_timing(serve) -> None:
    url = serve(SCENARIO, engine="small")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == WORDS
    message = anthropic.Anthropic(base_url=url, api_key="k").messages.create(
        model="m", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == WORDS


def test_profiles_are_validated_with_the_field_named(tmp_path: Path) -> None:
    assert isinstance(load_profile("large"), EngineProfile)
    with pytest.raises(ValueError, match="max_running"):
        load_profile(profile(tmp_path, "max_running: 0\n"))
    with pytest.raises(ValueError, match="decode_tokens_per_second_at_max must not exceed"):
        load_profile(profile(tmp_path, "decode_tokens_per_second_at_max: 500\n"))
    with pytest.raises(ValueError, match="max_runing"):
        load_profile(profile(tmp_path, "max_runing: 2\n"))
    with pytest.raises(ValueError, match="not a bundled profile"):
        load_profile(str(tmp_path / "missing.yaml"))


def test_the_decode_rate_falls_linearly_with_the_running_streams() -> None:
    engine = EngineProfile(
        max_running=5, decode_tokens_per_second=100, decode_tokens_per_second_at_max=20
    )
    assert [engine.decode_rate(n) for n in range(1, 7)] == [100, 80, 60, 40, 20, 20]
