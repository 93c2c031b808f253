"""In-process cost of the ASGI app alone: no sockets, no uvicorn, no kernel.

    python -m bench.inproc                 # µs of app CPU per event, every target
    python -m bench.inproc --profile chat  # cProfile of one target, top functions

Each target's ASGI callable is driven directly with a fake ``receive`` (the request body,
then nothing until cancelled, like a client that stays connected) and a ``send`` that only
counts events. CPU time (``time.process_time``) over many 1,000-token streams gives the
app's own Python cost per event, free of the network stack and of other processes' noise
(as long as the core is not shared). Targets:

* ``raw``, ``streaming``, ``sse``: the ceiling implementations (bench/ceiling.py).
* ``chat``, ``messages``, ``responses``: the product's app (``understudy.app.create_app``) with
  the bench scenarios, through its whole middleware stack.
* ``chat-router``: the product's router without middleware (``app.router``): the difference
  to ``chat`` is what the middleware costs per event.

uvicorn's own per-``send`` cost (HTTP chunk framing + ``transport.write``) comes on top in a
real server and is the same for every target.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import time

from bench.runner import BENCH_DIR, CHAT_BODY, PRODUCT_PATHS, SCENARIO_HEADER


class Sink:
    """Counts events; like uvicorn, completing the response wakes a pending ``receive()``
    with ``http.disconnect`` (the product's writer relies on that)."""

    def __init__(self) -> None:
        self.events = 0
        self.status = None
        self.complete = asyncio.Event()

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            body = message.get("body", b"")
            if body:
                self.events += body.count(b"\n\n")
            if not message.get("more_body", False):
                self.complete.set()


def make_scope(path: str, body: bytes, headers: dict[str, str]) -> dict:
    hdrs = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"accept", b"text/event-stream"),
        (b"content-length", str(len(body)).encode()),
    ] + [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": hdrs,
        "state": {},
    }


async def one_stream(app, path: str, body: bytes, headers: dict[str, str]) -> Sink:
    sink = Sink()
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await sink.complete.wait()
        return {"type": "http.disconnect"}

    await app(make_scope(path, body, headers), receive, sink.send)
    return sink


def targets():
    from bench import ceiling

    out = {}
    ceil_headers = {"x-bench-events": "1000"}
    out["raw"] = (lambda: ceiling.raw_app, "/v1/chat/completions", CHAT_BODY, ceil_headers)
    out["streaming"] = (
        lambda: ceiling.starlette_app("streaming"),
        "/v1/chat/completions",
        CHAT_BODY,
        ceil_headers,
    )
    out["sse"] = (
        lambda: ceiling.starlette_app("sse"),
        "/v1/chat/completions",
        CHAT_BODY,
        ceil_headers,
    )
    product_headers = {SCENARIO_HEADER: "bench-1000"}

    def product_app():
        from understudy.app import create_app
        from understudy.settings import Settings

        settings = Settings()
        settings.scenarios = [str(BENCH_DIR / "scenarios")]
        return create_app(settings)

    for api, (path, body) in PRODUCT_PATHS.items():
        out[api] = (product_app, path, body, product_headers)
    out["chat-router"] = (
        lambda: product_app().router,
        PRODUCT_PATHS["chat"][0],
        PRODUCT_PATHS["chat"][1],
        product_headers,
    )
    return out


async def measure(app, path, body, headers, streams: int) -> dict:
    b = body.encode()
    sink = await one_stream(app, path, b, headers)  # warm-up, and a status check
    if sink.status != 200:
        return {"n/a": f"HTTP {sink.status}"}
    events = 0
    t0 = time.process_time()
    w0 = time.perf_counter()
    for _ in range(streams):
        events += (await one_stream(app, path, b, headers)).events
    cpu = time.process_time() - t0
    wall = time.perf_counter() - w0
    return {
        "us_per_event": round(cpu / events * 1e6, 3),
        "events_per_stream": events // streams,
        "us_per_stream": round(cpu / streams * 1e6, 1),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
    }


async def measure_paced(make, path, body, headers, streams: int) -> dict:
    """``streams`` concurrent paced streams (starts spread over 1 s): app + event-loop CPU
    per event, with real timers but no sockets."""
    import random

    app = make()
    b = body.encode()
    rng = random.Random(1)

    async def delayed() -> Sink:
        await asyncio.sleep(rng.uniform(0, 1.0))
        return await one_stream(app, path, b, headers)

    await one_stream(app, path, b, headers)  # warm-up
    t0 = time.process_time()
    w0 = time.perf_counter()
    sinks = await asyncio.gather(*(delayed() for _ in range(streams)))
    cpu = time.process_time() - t0
    events = sum(s.events for s in sinks)
    return {
        "us_per_event": round(cpu / events * 1e6, 3),
        "events_per_stream": events // streams,
        "cpu_util": round(cpu / (time.perf_counter() - w0), 3),
    }


def _short(filename: str) -> str:
    return filename.split("site-packages/")[-1].replace(str(BENCH_DIR.parent) + "/", "")


async def measure_memory(make, path, body, headers, streams: int, top: int) -> dict:
    """Python heap per open stalled stream, by allocation site (tracemalloc)."""
    import gc
    import tracemalloc

    app = make()
    b = body.encode()
    small = dict(headers)
    await one_stream(
        app,
        path,
        b,
        small | {"x-bench-events": "5", "x-bench-ttft-ms": "0", SCENARIO_HEADER: "bench-small"},
    )
    gc.collect()
    tracemalloc.start(8)
    before = tracemalloc.take_snapshot()
    tasks = [asyncio.ensure_future(one_stream(app, path, b, headers)) for _ in range(streams)]
    for _ in range(20):
        await asyncio.sleep(0.05)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = after.compare_to(before, "lineno")
    total = sum(st.size_diff for st in stats)
    sites = [
        {
            "site": f"{_short(st.traceback[0].filename)}:{st.traceback[0].lineno}",
            "bytes_per_stream": round(st.size_diff / streams, 1),
            "blocks_per_stream": round(st.count_diff / streams, 2),
        }
        for st in stats[:top]
    ]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"streams": streams, "kib_per_stream": round(total / streams / 1024, 2), "sites": sites}


def main(argv: list[str] | None = None) -> int:
    import uvloop

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=200, help="1,000-token streams per target")
    p.add_argument("--repeat", type=int, default=3, help="repetitions; the minimum is kept")
    p.add_argument("--only", default=None, help="comma list of targets")
    p.add_argument("--profile", default=None, help="cProfile this target instead")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "--paced",
        type=int,
        default=0,
        help="N concurrent streams at TTFT 200 ms / ITL 20 ms, 50 tokens (raw, chat)",
    )
    p.add_argument(
        "--memory",
        type=int,
        default=0,
        help="N stalled streams (raw, chat): Python heap per stream by allocation site",
    )
    o = p.parse_args(argv)
    all_targets = targets()
    if o.memory:
        stall = {
            "raw": (
                all_targets["raw"][0],
                "/v1/chat/completions",
                CHAT_BODY,
                {"x-bench-events": "5", "x-bench-ttft-ms": "600000"},
            ),
            "chat": (*all_targets["chat"][:3], {SCENARIO_HEADER: "bench-stall"}),
        }
        results = {}
        for name in o.only.split(",") if o.only else stall:
            results[name] = uvloop.run(measure_memory(*stall[name], o.memory, o.top))
        if o.json:
            print(json.dumps(results))
            return 0
        for name, r in results.items():
            print(
                f"{name}: {r['kib_per_stream']} KiB of Python heap per stalled stream "
                f"({r['streams']} streams); top allocation sites:"
            )
            for site in r["sites"]:
                size, blocks = site["bytes_per_stream"], site["blocks_per_stream"]
                print(f"  {size:>8.0f} B  {blocks:>6.2f} blocks  {site['site']}")
        return 0
    if o.paced:
        from bench.runner import PACING_ITL_MS, PACING_TOKENS, PACING_TTFT_MS

        paced = {
            "raw": (
                all_targets["raw"][0],
                "/v1/chat/completions",
                CHAT_BODY,
                {
                    "x-bench-events": str(PACING_TOKENS),
                    "x-bench-ttft-ms": f"{PACING_TTFT_MS:g}",
                    "x-bench-itl-ms": f"{PACING_ITL_MS:g}",
                },
            ),
            "chat": (*all_targets["chat"][:3], {SCENARIO_HEADER: "bench-paced"}),
            "chat-router": (*all_targets["chat-router"][:3], {SCENARIO_HEADER: "bench-paced"}),
        }
        results = {}
        for name in o.only.split(",") if o.only else paced:
            runs = [uvloop.run(measure_paced(*paced[name], o.paced)) for _ in range(o.repeat)]
            results[name] = min(runs, key=lambda r: r["us_per_event"])
        if o.json:
            print(json.dumps(results))
            return 0
        print(f"| target ({o.paced} paced streams) | app+loop µs/event | events/stream | CPU |")
        print("|---|---:|---:|---:|")
        for name, r in results.items():
            print(
                f"| {name} | {r['us_per_event']:.2f} | {r['events_per_stream']} "
                f"| {r['cpu_util']:.0%} |"
            )
        return 0
    if o.profile:
        make, path, body, headers = all_targets[o.profile]

        async def prof() -> None:
            app = make()
            await one_stream(app, path, body.encode(), headers)
            pr = cProfile.Profile()
            pr.enable()
            for _ in range(o.streams):
                await one_stream(app, path, body.encode(), headers)
            pr.disable()
            s = io.StringIO()
            pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(o.top)
            print(s.getvalue())

        uvloop.run(prof())
        return 0
    names = o.only.split(",") if o.only else list(all_targets)

    async def run_all() -> dict:
        results = {}
        for name in names:
            make, path, body, headers = all_targets[name]
            try:
                app = make()
            except Exception as exc:  # the product may be mid-change
                results[name] = {"n/a": f"{type(exc).__name__}: {exc}"}
                continue
            best = None
            for _ in range(o.repeat):
                r = await measure(app, path, body, headers, o.streams)
                if "n/a" in r:
                    best = r
                    break
                if best is None or r["us_per_event"] < best["us_per_event"]:
                    best = r
            results[name] = best
        return results

    results = uvloop.run(run_all())
    if o.json:
        print(json.dumps(results))
        return 0
    raw = results.get("raw", {}).get("us_per_event")
    print("| target | app µs/event | vs raw | events/stream | app µs/stream |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        if "n/a" in r:
            print(f"| {name} | n/a ({r['n/a']}) | | | |")
            continue
        ratio = f"{r['us_per_event'] / raw:.1f}x" if raw else "-"
        print(
            f"| {name} | {r['us_per_event']:.2f} | {ratio} | {r['events_per_stream']} "
            f"| {r['us_per_stream']:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
