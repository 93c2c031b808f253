"""Profile a server under bench load with py-spy; print where each event's CPU goes.

    python -m bench.profile --target product --api chat          # zero-delay throughput
    python -m bench.profile --target product --api chat --paced 1000
    python -m bench.profile --target raw

Starts the server pinned to core 0, drives it with bench.loadgen on core 1, samples it
with ``py-spy record --format raw`` (``pip install py-spy``; needs ptrace rights, root
in a container is fine) and converts sample shares into microseconds per event using the
server CPU time per event the generator measured. Only the thread holding the GIL is
sampled (``--gil``), so idle helper threads (the scenario file watcher) do not count.
"self" is time in the function's own frame (including the C calls it makes that py-spy
does not unwind); "incl." includes callees. Native (C) frames are not shown: the cost of
``transport.write`` appears as self time of its Python caller (uvicorn's ``send``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.runner import (
    CHAT_BODY,
    PACING_ITL_MS,
    PACING_TTFT_MS,
    PRODUCT_PATHS,
    ROOT,
    SCENARIO_HEADER,
    _preexec,
    ceiling_server,
    cores,
    lg_args,
    product_server,
)


def summarise(raw_file: Path, us_per_event: float | None, top: int, focus: str | None) -> str:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw_file.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = [f for f in stack.split(";") if f]
        if frames:
            self_c[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    if not total:
        return "no samples"

    def cost(n: int) -> str:
        share = n / total
        us = f"{share * us_per_event:6.2f} us" if us_per_event else "       -"
        return f"{share:6.1%} {us}"

    lines = [f"{total} samples; server CPU {us_per_event} us/event" if us_per_event else ""]
    lines.append("\nself time (top frames):")
    for f, n in self_c.most_common(top):
        lines.append(f"  {cost(n)}  {f}")
    lines.append("\ninclusive time:")
    shown = 0
    for f, n in incl.most_common():
        if focus and focus not in f:
            continue
        lines.append(f"  {cost(n)}  {f}")
        shown += 1
        if shown >= top:
            break
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", choices=("product", "raw", "streaming", "sse"), default="product")
    p.add_argument("--api", choices=tuple(PRODUCT_PATHS), default="chat")
    p.add_argument("--paced", type=int, default=0, help="N paced streams instead of throughput")
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--focus", default=None, help="only frames containing this in the inclusive list"
    )
    p.add_argument("--out", default=None, help="keep the raw py-spy stacks here")
    o = p.parse_args(argv)
    if not shutil.which("py-spy"):
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 2
    srv_cpus, gen_cpus = cores()
    if o.target == "product":
        server = product_server(srv_cpus)
        path, body = PRODUCT_PATHS[o.api]
        headers = {SCENARIO_HEADER: "bench-paced" if o.paced else "bench-1000"}
    else:
        server = ceiling_server(o.target, srv_cpus)
        path, body = "/v1/chat/completions", CHAT_BODY
        headers = {"x-bench-events": "50" if o.paced else "1000"}
        if o.paced:
            headers |= {
                "x-bench-ttft-ms": f"{PACING_TTFT_MS:g}",
                "x-bench-itl-ms": f"{PACING_ITL_MS:g}",
            }
    if not server.start():
        print(server.error, file=sys.stderr)
        return 1
    try:
        kw = {"conns": o.paced or o.conns, "duration": o.duration, "warmup": 1.0}
        if o.paced:
            kw |= {"ramp": 1.0, "itl_ms": PACING_ITL_MS, "ttft_ms": PACING_TTFT_MS}
        args = lg_args(server, path, body, headers, **kw)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(o.out) if o.out else Path(tmp) / "stacks.txt"
            gen = subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen", *args],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                preexec_fn=_preexec(gen_cpus),
            )
            time.sleep(min(2.0, o.duration / 3) + (1.0 if o.paced else 0.0))
            spy_for = max(1, int(o.duration - min(2.0, o.duration / 3) - (1.5 if o.paced else 0.5)))
            subprocess.run(
                [
                    "py-spy",
                    "record",
                    "-p",
                    str(server.pid),
                    "-d",
                    str(spy_for),
                    "-r",
                    str(o.rate),
                    "-f",
                    "raw",
                    "-o",
                    str(raw),
                    "--nonblocking",
                    "--gil",
                ],
                preexec_fn=_preexec(gen_cpus),
                capture_output=True,
                timeout=spy_for + 60,
            )
            out, _ = gen.communicate(timeout=o.duration + 120)
            result = json.loads(out)
            keys = (
                "events_per_s",
                "server_us_per_event",
                "server_cpu_util",
                "loadgen_cpu_util",
                "gap_abs_err_ms",
                "errors",
            )
            print(json.dumps({k: result.get(k) for k in keys}))
            print(
                "(py-spy sampling slows the server: absolute rates above are lower than in a run)"
            )
            print(summarise(raw, result.get("server_us_per_event"), o.top, o.focus))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
