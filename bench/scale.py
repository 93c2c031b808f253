"""``python -m bench.scale``: requests per second of one server against several workers on Redis.

Starts a private ``redis-server`` (no persistence) and one ``understudy serve`` per
configuration: ``--workers 1`` with the memory backend, then ``--workers 1``, ``2`` and
``N`` on Redis, each on its own Redis database. Each configuration answers short chat
replies (the ``bench-small`` scenario, five tokens) at ``--conns`` keep-alive
connections, streamed and not, in rounds so every row is measured a few seconds from the
others. Nothing is pinned: the servers, Redis and the load generator share the machine,
as they would on one CI host, and the other processes' load is reported with each row.
Prints a markdown table; ``--json`` keeps the raw runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import proc_cpu_seconds
from bench.runner import (
    Server,
    cpu_busy_seconds,
    free_port,
    get,
    lg_args,
    med,
    product_server,
    run_loadgen,
)

CHAT = '{"model":"m","messages":[{"role":"user","content":"hi"}]'
BODIES = {"plain": CHAT + "}", "stream": CHAT + ',"stream":true}'}
HEADERS = {"X-Understudy-Scenario": "bench-small"}


def start_redis(binary: str, folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


def configs(workers: list[int], redis_port: int) -> list[tuple[str, list[str], int]]:
    rows = [("memory, 1 worker", [], 1)]
    for db, count in enumerate(workers):
        state = ["--state", f"redis://127.0.0.1:{redis_port}/{db}"]
        rows.append((f"redis, {count} worker{'s' * (count > 1)}", state, count))
    return rows


def one_run(server: Server, mode: str, redis_pid: int, o: argparse.Namespace) -> dict:
    args = lg_args(
        server,
        "/v1/chat/completions",
        BODIES[mode],
        HEADERS,
        conns=o.conns,
        duration=o.duration,
        warmup=o.warmup,
        drain_timeout=10,
    )
    if mode == "plain":
        args.append("--plain")
    busy0, redis0 = cpu_busy_seconds()["cpu"], proc_cpu_seconds(redis_pid)
    server0 = proc_cpu_seconds(server.pid)
    result = run_loadgen(args, None, o.duration + 60)
    wall = result.get("_wall_s") or 1.0
    redis_cpu = proc_cpu_seconds(redis_pid) - redis0
    server_cpu = proc_cpu_seconds(server.pid) - server0
    machine = cpu_busy_seconds()["cpu"] - busy0
    own = redis_cpu + server_cpu + result.get("_loadgen_proc_cpu_s", 0.0)
    result["redis_cpu_util"] = round(redis_cpu / wall, 3)
    done = result.get("streams") or 0
    result["server_us_per_request"] = round(server_cpu / done * 1e6, 1) if done else None
    result["other_cores"] = round(max(machine - own, 0.0) / wall, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", default="1,2,4", help="worker counts on Redis")
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=3, help="rounds; each row is their median")
    p.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    p.add_argument("--json", default=None)
    o = p.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    redis, redis_port = start_redis(o.redis_server, folder)
    servers: list[tuple[str, Server]] = []
    try:
        time.sleep(0.3)
        for label, extra, count in configs([int(n) for n in o.workers.split(",")], redis_port):
            server = product_server(None, workers=count, extra=extra, tag=f"-scale-{len(servers)}")
            if not server.start():
                print(f"{label}: did not start: {server.error}", file=sys.stderr)
                return 1
            servers.append((label, server))
        time.sleep(1.0)  # every worker up and listening
        for _, server in servers:  # warm each worker's imports and caches
            for _ in range(20):
                get(server.port, "/health")
        runs: dict[str, dict[str, list[dict]]] = {
            label: {"plain": [], "stream": []} for label, _ in servers
        }
        loads = [os.getloadavg()[0]]
        for round_ in range(o.runs):
            for label, server in servers:
                for mode in BODIES:
                    result = one_run(server, mode, redis.pid, o)
                    runs[label][mode].append(result)
                    print(
                        f"round {round_ + 1} {label:18s} {mode:6s} "
                        f"{result.get('streams_per_s')} req/s errors {result.get('error_count')}",
                        file=sys.stderr,
                        flush=True,
                    )
            loads.append(os.getloadavg()[0])
    finally:
        for _, server in servers:
            server.stop()
        redis.kill()
        redis.wait()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\n{o.conns} connections, {o.runs} rounds of {o.duration:g} s, median; "
        f"{os.cpu_count()} cores; 1-min load average {min(loads):.2f}-{max(loads):.2f}\n"
    )
    print(
        "| state, workers | requests/s, not streamed | requests/s, streamed "
        "| server CPU (cores) | server CPU µs/request | Redis CPU (cores) | generator CPU "
        "| other processes (cores) | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, _ in servers:
        plain, stream = runs[label]["plain"], runs[label]["stream"]
        both = plain + stream
        print(
            f"| {label} | {med(r.get('streams_per_s') for r in plain):,.0f} "
            f"| {med(r.get('streams_per_s') for r in stream):,.0f} "
            f"| {med(r.get('server_cpu_util') for r in both):.2f} "
            f"| {med(r.get('server_us_per_request') for r in both):,.0f} "
            f"| {med(r.get('redis_cpu_util') for r in both):.2f} "
            f"| {med(r.get('loadgen_cpu_util') for r in both):.2f} "
            f"| {med(r.get('other_cores') for r in both):.2f} "
            f"| {sum(r.get('error_count', 0) for r in both)} |"
        )
    if o.json:
        Path(o.json).write_text(json.dumps({"loads": loads, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
