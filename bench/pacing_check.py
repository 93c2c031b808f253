"""Pacing accuracy: observed vs configured inter-token latency at 1 and N concurrent streams.

Starts ``understudy serve`` (one worker, uvloop + httptools) on a scenario that streams 60
token events at a fixed ITL, then drives it with ``bench/loadgen.py`` (a bare asyncio
protocol client, far cheaper per event than the server) and prints, per concurrency, the
gap error against the configured ITL (signed and absolute p50/p99), the per-stream drift
(last token's lateness relative to the first) and the load generator's own loop lag, so
client-side lateness can be told from server-side lateness.

    python -m bench.pacing_check                      # ITL 20 ms at 1 and 500 streams
    python -m bench.pacing_check --conns 1 100 500 --itl-ms 20 --duration 10
    python -m bench.pacing_check --scripted           # through the fault-script writer path
    python -m bench.pacing_check --rt                 # pinned cores, SCHED_FIFO (root)

``--scripted`` adds a no-op ``framing: {}`` to the reply, which sends it through the fault
script (the path faults, framing and scripted waits take) instead of the plain loop.
On a shared machine other processes steal the server's core and show up as late tokens;
``--rt`` pins the server and the generator to one core each and runs both SCHED_FIFO, so
the figures measure the server rather than its neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKENS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scenario(itl_ms: float, scripted: bool) -> str:
    content = " ".join(["tok"] * TOKENS)
    framing = "\n  framing: {}" if scripted else ""
    return (
        "name: pacing-check\ndefault: true\nreply:\n"
        f'  content: "{content}"\n  delivery: {{ttft_ms: 0, itl_ms: {itl_ms}}}{framing}\n'
    )


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def isolation(core: int | None, rt: bool) -> Callable[[], None]:
    """Pin to ``core`` and, with ``rt``, run SCHED_FIFO: shields from other processes."""

    def apply() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})
        if rt:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))

    return apply


def cores(pin: bool) -> tuple[int | None, int | None]:
    available = sorted(os.sched_getaffinity(0))
    if pin and len(available) >= 2:
        return available[0], available[1]
    return None, None


def run_loadgen(port: int, conns: int, args: argparse.Namespace, pid: int) -> dict:
    command = [
        sys.executable,
        str(ROOT / "bench" / "loadgen.py"),
        "--port",
        str(port),
        "--conns",
        str(conns),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--ramp",
        str(min(args.ramp, args.warmup) if conns > 1 else 0),
        "--itl-ms",
        str(args.itl_ms),
        "--server-pid",
        str(pid),
    ]
    core = cores(args.rt)[1]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        preexec_fn=isolation(core, args.rt),
    )
    return json.loads(result.stdout)


def row(conns: int, out: dict) -> dict:
    signed = out.get("gap_signed_err_ms") or {}
    absolute = out.get("gap_abs_err_ms") or {}
    gaps = out.get("gap_ms") or {}
    drift = out.get("drift_ms") or {}
    lag = out.get("loadgen_loop_lag_ms") or {}
    return {
        "streams": conns,
        "gaps": out.get("gaps"),
        "gap_p50_ms": gaps.get("p50"),
        "gap_p99_ms": gaps.get("p99"),
        "err_p50_ms": signed.get("p50"),
        "err_p99_ms": signed.get("p99"),
        "abs_err_p50_ms": absolute.get("p50"),
        "abs_err_p99_ms": absolute.get("p99"),
        "drift_p50_ms": drift.get("p50"),
        "drift_p99_ms": drift.get("p99"),
        "server_cpu": out.get("server_cpu_util"),
        "client_lag_p99_ms": lag.get("p99"),
        "errors": out.get("error_count"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--conns", type=int, nargs="+", default=[1, 500])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--ramp", type=float, default=1.0, help="stagger stream starts")
    parser.add_argument("--scripted", action="store_true", help="use the fault-script path")
    parser.add_argument("--rt", action="store_true", help="pin cores, SCHED_FIFO (root)")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args(argv)

    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "pacing.yaml").write_text(scenario(args.itl_ms, args.scripted))
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "understudy",
                "serve",
                "--port",
                str(port),
                "--scenarios",
                folder,
                "--log-level",
                "warning",
                "--no-reload",
            ],
            cwd=ROOT,
            env={**os.environ, "UNDERSTUDY_TIME_SCALE": "1"},
            preexec_fn=isolation(cores(args.rt)[0], args.rt),
        )
        try:
            wait_ready(port, server)
            rows = [row(c, run_loadgen(port, c, args, server.pid)) for c in args.conns]
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()

    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    path = "fault-script path" if args.scripted else "plain path"
    isolated = ", pinned + SCHED_FIFO" if args.rt else ""
    print(f"configured ITL {args.itl_ms:g} ms, {TOKENS} tokens per stream, {path}{isolated}")
    columns = list(rows[0])
    print(" | ".join(columns))
    for item in rows:
        print(" | ".join("" if item[c] is None else str(item[c]) for c in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
