"""The stream timeline in the journal, and the scenario listing's source lines and hits.

The dashboard draws these; here they are checked as data, over a real socket.
"""

import httpx
import openai
import pytest

from tests.conftest import ServerFactory

ADMIN = "/_understudy"

SCENARIOS = """
name: paced
match: {model: paced}
reply:
  content: "one two three four five six"
  delivery: {ttft_ms: 30, itl_ms: 10}
---
name: stalled-then-cut
match: {model: stalled}
reply:
  content: "one two three four five six"
  delivery: {ttft_ms: 10, itl_ms: 5}
  fault:
    - {kind: stall, after_events: 2, seconds: 0.25, keepalive_every: 0.05}
    - {kind: disconnect, after_events: 4}
---
name: instant
match: {model: instant}
reply: {content: "one two three"}
"""


def chat(base_url: str, model: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0)
    try:
        for _ in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    except openai.APIError:
        pass  # the cut stream


def detail(base_url: str, scenario: str) -> dict:
    [entry] = httpx.get(f"{base_url}{ADMIN}/journal", params={"scenario": scenario}).json()[
        "entries"
    ]
    response = httpx.get(f"{base_url}{ADMIN}/journal/{entry['id']}")
    assert response.status_code == 200
    return response.json()


def test_a_paced_stream_records_when_each_event_was_due_and_sent(serve: ServerFactory) -> None:
    base_url = serve(SCENARIOS)
    chat(base_url, "paced")
    entry = detail(base_url, "paced")
    timeline = entry["timeline"]
    assert len(timeline["sent_ms"]) == entry["events_sent"]
    assert len(timeline["due_ms"]) == entry["events_sent"]
    # Sent never before due; the first event at TTFT, tokens 10 ms apart as scheduled.
    for due, sent in zip(timeline["due_ms"], timeline["sent_ms"], strict=True):
        assert sent >= due - 1
    assert timeline["due_ms"][0] == pytest.approx(30, abs=1)
    assert timeline["sent_ms"] == sorted(timeline["sent_ms"])
    assert timeline["end_ms"] >= timeline["sent_ms"][-1]
    assert timeline["pauses"] == [] and timeline["cut_ms"] is None


def test_a_stall_its_keepalives_and_a_cut_are_placed_at_their_events(
    serve: ServerFactory,
) -> None:
    base_url = serve(SCENARIOS)
    chat(base_url, "stalled")
    entry = detail(base_url, "stalled-then-cut")
    timeline = entry["timeline"]
    assert entry["events_sent"] == 4 and not entry["completed"]
    assert len(timeline["sent_ms"]) == 4
    [pause] = timeline["pauses"]
    assert pause["after_events"] == 2
    assert pause["end_ms"] - pause["start_ms"] == pytest.approx(250, abs=100)
    # Events 3 and 4 went out after the stall, events 1 and 2 before it.
    assert timeline["sent_ms"][1] <= pause["start_ms"] + 1
    assert timeline["sent_ms"][2] >= pause["end_ms"] - 1
    # One every 50 ms of the 250 ms, none in a burst at the end (as there once was).
    assert len(timeline["keepalives_ms"]) == 4
    assert all(pause["start_ms"] <= at <= pause["end_ms"] for at in timeline["keepalives_ms"])
    assert timeline["cut_ms"] >= timeline["sent_ms"][-1]


def test_an_instant_stream_and_a_json_reply_have_no_timeline(serve: ServerFactory) -> None:
    base_url = serve(SCENARIOS)
    chat(base_url, "instant")
    assert detail(base_url, "instant")["timeline"] is None
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="paced", messages=[{"role": "user", "content": "hi"}])
    assert detail(base_url, "paced")["timeline"] is None


def test_the_timeline_is_bounded_by_the_setting(serve: ServerFactory) -> None:
    base_url = serve(SCENARIOS, timeline_events=3)
    chat(base_url, "paced")
    entry = detail(base_url, "paced")
    assert entry["events_sent"] > 3
    assert len(entry["timeline"]["sent_ms"]) == 3 == len(entry["timeline"]["due_ms"])
    assert entry["timeline"]["limit"] == 3

    base_url = serve(SCENARIOS, timeline_events=0)
    chat(base_url, "paced")
    assert detail(base_url, "paced")["timeline"] is None


def test_a_missing_or_malformed_entry_id_is_a_404(serve: ServerFactory) -> None:
    base_url = serve(SCENARIOS)
    for given in ["999", "abc", "²", "-1"]:
        response = httpx.get(f"{base_url}{ADMIN}/journal/{given}")
        assert response.status_code == 404, given
        assert "No journal entry" in response.json()["error"]["message"]


def test_listed_scenarios_say_where_they_are_defined_and_how_often_they_answered(
    serve: ServerFactory,
) -> None:
    base_url = serve(SCENARIOS)
    added = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        content="# a runtime one\nname: runtime-one\nmatch: {model: other}\nreply: {content: hi}\n",
        headers={"content-type": "application/yaml"},
    )
    assert added.status_code == 201
    chat(base_url, "paced")
    chat(base_url, "paced")
    listed = {s["name"]: s for s in httpx.get(f"{base_url}{ADMIN}/scenarios").json()["scenarios"]}
    assert listed["runtime-one"]["defined_at"] == "<request>:2"
    assert listed["paced"]["defined_at"].endswith("s0.yaml:2")
    assert listed["stalled-then-cut"]["defined_at"].endswith("s0.yaml:8")
    assert listed["paced"]["hits"] == 2
    assert listed["instant"]["hits"] == 0
