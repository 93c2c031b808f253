"""``python -m bench run``: start the servers, run the scenarios, print and save results.

Every server is a subprocess pinned to core 0 and every load generator a subprocess
pinned to core 1 (when the machine has two cores or more), so neither steals the other's
CPU. Servers are stopped at the end. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import proc_cpu_seconds

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
LOGS = RESULTS / "logs"

CHAT_BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
MESSAGES_BODY = (
    '{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"hi"}],"stream":true}'
)
RESPONSES_BODY = '{"model":"m","input":"hi","stream":true}'
PRODUCT_PATHS = {
    "chat": ("/v1/chat/completions", CHAT_BODY),
    "messages": ("/v1/messages", MESSAGES_BODY),
    "responses": ("/v1/responses", RESPONSES_BODY),
}
SCENARIO_HEADER = "X-Understudy-Scenario"

PACING_TTFT_MS = 200.0
PACING_ITL_MS = 20.0
PACING_TOKENS = 50  # must match bench-paced in bench/scenarios/bench.yaml
PACING_P99_BUDGET_MS = 5.0


# ----------------------------------------------------------------------------- plumbing


def cores() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, generator cores); None means unpinned."""
    avail = sorted(os.sched_getaffinity(0))
    if len(avail) >= 2:
        return {avail[0]}, {avail[1]}
    return None, None


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


NICE = 0  # set from --nice: priority of servers and generators against other processes
RT = False  # set per section from --rt: SCHED_FIFO for servers and generators


def _preexec(cpus: set[int] | None):
    rt = RT

    def fn() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if NICE:
            os.nice(NICE)
        if rt:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        raise_nofile()

    return fn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(port: int, raw: bytes, timeout: float = 2.0) -> tuple[int, bytes]:
    """One HTTP/1.1 request with ``Connection: close``; (status, whole response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    resp = b"".join(chunks)
    try:
        status = int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, resp


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    return http_request(port, raw, timeout)


def post(port: int, path: str, body: str, headers: dict[str, str], timeout: float = 5.0):
    b = body.encode()
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(b)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return http_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + b, timeout)


def cpu_busy_seconds() -> dict[str, float]:
    """Busy seconds per CPU line of /proc/stat ("cpu" is the machine, "cpu0"...)."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            parts = line.split()
            vals = [int(x) for x in parts[1:9]]  # user nice system idle iowait irq softirq steal
            out[parts[0]] = (sum(vals) - vals[3] - vals[4]) / tck
    return out


def busy_on(delta: dict[str, float], cpus: set[int] | None) -> float:
    if not cpus:
        return delta.get("cpu", 0.0)
    return sum(delta.get(f"cpu{c}", 0.0) for c in cpus)


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    cpus: set[int] | None
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    spawned_at: float = 0.0
    ready_after: float | None = None
    error: str | None = None
    meta: dict = field(default_factory=dict)

    def start(self, ready_timeout: float = 30.0) -> bool:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{self.name}.log"
        self.spawned_at = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_preexec(self.cpus),
            )
        deadline = time.perf_counter() + ready_timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                self.error = f"exited with {self.proc.returncode}: {self.log_tail()}"
                return False
            try:
                status, _ = get(self.port, "/health", timeout=1.0)
                if status == 200:
                    self.ready_after = time.perf_counter() - self.spawned_at
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        self.error = f"no 200 from /health within {ready_timeout:.0f}s: {self.log_tail()}"
        self.stop()
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 600) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:].strip()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    @property
    def pid(self) -> int:
        return self.proc.pid


def ceiling_server(impl: str, cpus) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.ceiling", "--impl", impl, "--port", str(port)]
    return Server(f"ceiling-{impl}", cmd, port, cpus)


def product_server(cpus, workers: int = 1, extra: list[str] | None = None, tag: str = "") -> Server:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "understudy",
        "serve",
        "--port",
        str(port),
        "--scenarios",
        str(BENCH_DIR / "scenarios"),
        "--log-level",
        "warning",
    ]
    if workers != 1:
        cmd += ["--workers", str(workers)]
    cmd += extra or []
    return Server(f"product{tag}", cmd, port, cpus)


def run_loadgen(args: list[str], cpus, timeout: float) -> dict:
    """Run bench.loadgen pinned to ``cpus``; its JSON result plus machine-noise figures."""
    cmd = [sys.executable, "-m", "bench.loadgen", *args]
    busy0 = cpu_busy_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            timeout=timeout,
            preexec_fn=_preexec(cpus),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"loadgen timed out after {timeout:.0f}s", "error_count": 1}
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        return {
            "error": f"loadgen exit {proc.returncode}: {proc.stderr.decode()[-800:]}",
            "error_count": 1,
        }
    result = json.loads(proc.stdout)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["_wall_s"] = round(elapsed, 3)
    result["_loadgen_proc_cpu_s"] = round(
        (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 3
    )
    busy1 = cpu_busy_seconds()
    result["_busy_s"] = {k: round(busy1[k] - busy0.get(k, 0.0), 3) for k in busy1}
    return result


def lg_args(server: Server, path: str, body: str, headers: dict[str, str], **kw) -> list[str]:
    out = [
        "--port",
        str(server.port),
        "--path",
        path,
        "--body",
        body,
        "--server-pid",
        str(server.pid),
    ]
    for k, v in headers.items():
        out += ["-H", f"{k}: {v}"]
    for k, v in kw.items():
        if v is None:
            continue
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def noise(result: dict, server_cpu_s: float, srv_cpus, gen_cpus) -> dict | None:
    """Cores' worth of CPU used by other processes, on the server's and generator's cores."""
    wall = result.get("_wall_s")
    if not wall or "_busy_s" not in result:
        return None
    busy = result["_busy_s"]
    if srv_cpus and gen_cpus:
        srv = busy_on(busy, srv_cpus) - server_cpu_s
        gen = busy_on(busy, gen_cpus) - result["_loadgen_proc_cpu_s"]
        return {
            "server_core": round(max(srv, 0) / wall, 3),
            "gen_core": round(max(gen, 0) / wall, 3),
        }
    other = busy.get("cpu", 0.0) - server_cpu_s - result["_loadgen_proc_cpu_s"]
    return {"machine": round(max(other, 0) / wall, 3)}


def measured(server: Server, fn, srv_cpus, gen_cpus):
    """Call fn(); add the CPU other processes used meanwhile (``_noise``)."""
    c0 = proc_cpu_seconds(server.pid)
    result = fn()
    result["_noise"] = noise(result, proc_cpu_seconds(server.pid) - c0, srv_cpus, gen_cpus)
    return result


def noise_cores(result: dict) -> float | None:
    """Other processes' CPU on the server's core (or the machine when unpinned)."""
    n = result.get("_noise")
    return None if not n else n.get("server_core", n.get("machine"))


def probe_status(server: Server, path: str, body: str, headers: dict[str, str]) -> int:
    try:
        status, _ = post(server.port, path, body, headers, timeout=30)
    except OSError:
        return 0
    return status


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fails(row: dict) -> bool:
    p99 = row.get("gap_abs_err_p99_ms")
    return bool(row.get("errors")) or p99 is None or p99 > PACING_P99_BUDGET_MS


def break_point(curve: list[dict]) -> tuple[int | None, list[int]]:
    """(first level from which every higher level misses the budget, isolated misses below).

    An isolated miss at a low level with passes above it is a scheduling hiccup of the
    machine (a few late gaps in a small sample), not the server running out of CPU."""
    breaks = None
    for row in reversed(curve):
        if not _fails(row):
            break
        breaks = row["streams"]
    blips = [r["streams"] for r in curve if _fails(r) and (breaks is None or r["streams"] < breaks)]
    return breaks, blips


def _pacing_row(n: int, res: dict) -> dict:
    return {
        "streams": n,
        "completed": res.get("streams"),
        "events_per_s": res.get("events_per_s"),
        "tokens_per_s": res.get("tokens_per_s"),
        "gap_abs_err_p50_ms": (res.get("gap_abs_err_ms") or {}).get("p50"),
        "gap_abs_err_p99_ms": (res.get("gap_abs_err_ms") or {}).get("p99"),
        "gap_signed_err_p99_ms": (res.get("gap_signed_err_ms") or {}).get("p99"),
        "gap_signed_err_p1_ms": (res.get("gap_signed_err_ms") or {}).get("p1"),
        "drift_p50_ms": (res.get("drift_ms") or {}).get("p50"),
        "drift_p99_ms": (res.get("drift_ms") or {}).get("p99"),
        "ttft_p50_ms": (res.get("ttft_ms") or {}).get("p50"),
        "ttft_p99_ms": (res.get("ttft_ms") or {}).get("p99"),
        "coalesced_frac": res.get("coalesced_frac"),
        "server_cpu_util": res.get("server_cpu_util"),
        "loadgen_cpu_util": res.get("loadgen_cpu_util"),
        "loadgen_lag_p99_ms": (res.get("loadgen_loop_lag_ms") or {}).get("p99"),
        "noise_cores": noise_cores(res),
        "errors": res.get("error_count"),
        "tokens_per_stream": res.get("tokens_per_stream_p50"),
        "raw": res,
    }


def _median_row(rows: list[dict]) -> dict:
    """One level's figures over its rounds: the median of each, errors summed; the
    rounds' own p99s kept, and every round's raw output."""
    if len(rows) == 1:
        return rows[0]
    merged: dict = {"streams": rows[0]["streams"]}
    for key in rows[0]:
        if key in ("streams", "raw", "errors"):
            continue
        merged[key] = med([r.get(key) for r in rows])
    merged["errors"] = sum(r.get("errors") or 0 for r in rows)
    merged["p99_per_round_ms"] = [r.get("gap_abs_err_p99_ms") for r in rows]
    merged["raw"] = rows[len(rows) // 2]["raw"]
    merged["rounds_raw"] = [r["raw"] for r in rows]
    return merged


# ----------------------------------------------------------------------------- scenarios


class Bench:
    def __init__(self, opts: argparse.Namespace) -> None:
        self.o = opts
        self.srv_cpus, self.gen_cpus = cores()
        self.results: dict = {}
        self.errors: list[str] = []
        self.servers: list[Server] = []
        self.product_ok: bool | None = None

    # -- helpers

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def start(self, server: Server) -> bool:
        ok = server.start()
        if ok:
            self.servers.append(server)
        else:
            self.log(f"  ! {server.name} failed to start: {server.error}")
        return ok

    def stop_all(self) -> None:
        for s in self.servers:
            s.stop()
        self.servers.clear()

    def wait_quiet(self) -> float:
        """Other processes' load (cores) just before a run; waits up to --quiet-wait for calm."""
        deadline = time.perf_counter() + self.o.quiet_wait
        while True:
            b0 = cpu_busy_seconds()
            time.sleep(0.5)
            b1 = cpu_busy_seconds()
            load = (b1["cpu"] - b0["cpu"]) / 0.5  # our servers are idle between runs
            if load <= self.o.quiet_load or time.perf_counter() >= deadline:
                return round(load, 3)
            time.sleep(1.0)

    def loadgen(self, server: Server, path, body, headers, duration, **kw) -> dict:
        drain = kw.pop("drain_timeout", 20.0)
        pre_load = self.wait_quiet()
        args = lg_args(server, path, body, headers, duration=duration, drain_timeout=drain, **kw)
        res = measured(
            server,
            lambda: run_loadgen(args, self.gen_cpus, duration + drain + 60),
            self.srv_cpus,
            self.gen_cpus,
        )
        if not server.alive():
            res["error"] = f"server died: {server.log_tail()}"
            res["error_count"] = res.get("error_count", 0) + 1
        res["_pre_load_cores"] = pre_load
        return res

    def product(self, **kw) -> Server | None:
        if self.o.no_product:
            return None
        s = product_server(self.srv_cpus, **kw)
        if self.start(s):
            self.product_ok = True
            return s
        self.product_ok = False
        msg = f"product did not start: {s.error}"
        self.results.setdefault("notes", []).append(msg)
        if self.o.smoke:
            self.errors.append(msg)
        return None

    # -- a. throughput

    def throughput(self) -> None:
        o = self.o
        self.log(f"[throughput] {o.runs} run(s) x {o.duration}s, {o.conns} connections")
        targets: list[tuple[str, Server, str, str, dict]] = []
        impls = ["raw"] if o.smoke else ["raw", "streaming", "sse"]
        for impl in impls:
            s = ceiling_server(impl, self.srv_cpus)
            if self.start(s):
                targets.append(
                    (
                        f"ceiling {impl}",
                        s,
                        "/v1/chat/completions",
                        CHAT_BODY,
                        {"x-bench-events": "1000"},
                    )
                )
        prod = self.product()
        na: dict[str, str] = {}
        if prod:
            apis = ["chat"] if o.smoke else list(PRODUCT_PATHS)
            for api in apis:
                path, body = PRODUCT_PATHS[api]
                headers = {SCENARIO_HEADER: "bench-1000"}
                status = probe_status(prod, path, body, headers)
                if status == 200:
                    targets.append((f"product {api}", prod, path, body, headers))
                else:
                    na[f"product {api}"] = f"HTTP {status}"
        runs: dict[str, list[dict]] = {name: [] for name, *_ in targets}
        for i in range(o.runs):
            for name, server, path, body, headers in targets:
                res = self.loadgen(
                    server, path, body, headers, o.duration, conns=o.conns, warmup=o.warmup
                )
                runs[name].append(res)
                self.log(
                    f"  run {i + 1} {name:22s} {res.get('events_per_s') or 0:>10,.0f} ev/s"
                    f"  srv {res.get('server_us_per_event') or 0:5.2f} us/ev"
                    f"  gen {res.get('loadgen_us_per_event') or 0:5.2f} us/ev"
                    f"  other load {res.get('_noise')}  err {res.get('error_count')}"
                )
                self._count_errors(name, res)
        raw = runs.get("ceiling raw", [])
        rows = {}
        for name, rs in runs.items():
            ratios = [
                r.get("events_per_s") / base.get("events_per_s")
                for r, base in zip(rs, raw, strict=False)
                if r.get("events_per_s") and base.get("events_per_s")
            ]
            cpu_ratios = [
                base.get("server_us_per_event") / r.get("server_us_per_event")
                for r, base in zip(rs, raw, strict=False)
                if r.get("server_us_per_event") and base.get("server_us_per_event")
            ]
            rows[name] = {
                "events_per_s": med(r.get("events_per_s") for r in rs),
                "events_per_s_runs": [r.get("events_per_s") for r in rs],
                "ratio_vs_raw": round(med(ratios), 3) if ratios else None,
                "cpu_ratio_vs_raw": round(med(cpu_ratios), 3) if cpu_ratios else None,
                "streams_per_s": med(r.get("streams_per_s") for r in rs),
                "events_per_stream": med(r.get("events_per_stream_p50") for r in rs),
                "server_us_per_event": med(r.get("server_us_per_event") for r in rs),
                "server_cpu_util": med(r.get("server_cpu_util") for r in rs),
                "loadgen_us_per_event": med(r.get("loadgen_us_per_event") for r in rs),
                "loadgen_cpu_util": med(r.get("loadgen_cpu_util") for r in rs),
                "ttft_p50_ms": med((r.get("ttft_ms") or {}).get("p50") for r in rs),
                "noise_cores": med(noise_cores(r) for r in rs),
                "errors": sum(r.get("error_count", 0) for r in rs),
                "runs": rs,
            }
        for name, why in na.items():
            rows[name] = {"n/a": why}
        if self.product_ok is False:
            for api in PRODUCT_PATHS:
                rows[f"product {api}"] = {"n/a": "product did not start"}
        self.results["throughput"] = {
            "conns": o.conns,
            "duration_s": o.duration,
            "runs": o.runs,
            "events_per_stream_requested": 1000,
            "rows": rows,
        }
        self.stop_all()

    def _count_errors(self, name: str, res: dict) -> None:
        if res.get("error"):
            self.errors.append(f"{name}: {res['error']}")
        elif res.get("error_count"):
            self.errors.append(f"{name}: errors {res.get('errors')}")

    # -- b. pacing

    def pacing(self) -> None:
        o = self.o
        levels = o.pacing_levels
        tokens = PACING_TOKENS
        self.log(
            f"[pacing] TTFT {PACING_TTFT_MS:g} ms, ITL {PACING_ITL_MS:g} ms, "
            f"{tokens} tokens/stream, streams {levels}, {o.pacing_duration}s each"
        )
        targets = []
        s = ceiling_server("raw", self.srv_cpus)
        if self.start(s):
            knobs = {
                "x-bench-events": str(tokens),
                "x-bench-ttft-ms": f"{PACING_TTFT_MS:g}",
                "x-bench-itl-ms": f"{PACING_ITL_MS:g}",
            }
            targets.append(("ceiling raw", s, "/v1/chat/completions", CHAT_BODY, knobs))
            if o.ceiling_catch_up:
                catch_up = {**knobs, "x-bench-catch-up": "1"}
                targets.append(("ceiling catch-up", s, "/v1/chat/completions", CHAT_BODY, catch_up))
        prod = self.product()
        if prod:
            targets.append(
                (
                    "product chat",
                    prod,
                    "/v1/chat/completions",
                    CHAT_BODY,
                    {SCENARIO_HEADER: "bench-paced"},
                )
            )
        out: dict = {
            "ttft_ms": PACING_TTFT_MS,
            "itl_ms": PACING_ITL_MS,
            "tokens": PACING_TOKENS,
            "budget_p99_ms": PACING_P99_BUDGET_MS,
            "targets": {},
        }
        rounds = max(1, o.pacing_rounds)
        out["rounds"] = rounds
        # Each level is measured for every target back to back, and the whole sweep is
        # repeated: the ceiling and the product at one level run seconds apart, under the
        # same background noise, and a level's figures are the median of its rounds.
        runs: dict[str, dict[int, list[dict]]] = {
            name: {n: [] for n in levels} for name, *_ in targets
        }
        for round_no in range(rounds):
            for n in levels:
                for name, server, path, body, headers in targets:
                    res = self.loadgen(
                        server,
                        path,
                        body,
                        headers,
                        o.pacing_duration,
                        conns=n,
                        warmup=0,
                        ramp=min(1.0, o.pacing_duration / 3) if n > 1 else 0,
                        itl_ms=PACING_ITL_MS,
                        ttft_ms=PACING_TTFT_MS,
                        drain_timeout=30,
                    )
                    self._count_errors(f"pacing {name} x{n}", res)
                    row = _pacing_row(n, res)
                    runs[name][n].append(row)
                    self.log(
                        f"  {name:14s} {n:>5} streams"
                        + (f" (round {round_no + 1}/{rounds})" if rounds > 1 else "")
                        + f": |err| p50 {row['gap_abs_err_p50_ms']} "
                        f"p99 {row['gap_abs_err_p99_ms']} ms, signed p99 "
                        f"{row['gap_signed_err_p99_ms']}, drift p99 {row['drift_p99_ms']}, "
                        f"ttft p99 {row['ttft_p99_ms']}, srv cpu {row['server_cpu_util']}, "
                        f"gen cpu {row['loadgen_cpu_util']}, err {row['errors']}"
                    )
        for name, *_ in targets:
            curve = [_median_row(runs[name][n]) for n in levels]
            breaks, blips = break_point(curve)
            out["targets"][name] = {"curve": curve, "breaks_at": breaks, "blips_at": blips}
        if self.product_ok is False:
            out["targets"]["product chat"] = {"n/a": "product did not start"}
        self.results["pacing"] = out
        self.stop_all()

    # -- c. memory

    def memory(self) -> None:
        o = self.o
        n = o.hold
        self.log(f"[memory] {n} stalled streams")
        out: dict = {"streams": n, "targets": {}}
        plans = [
            (
                "ceiling raw",
                lambda: ceiling_server("raw", self.srv_cpus),
                "/v1/chat/completions",
                CHAT_BODY,
                {"x-bench-events": "5", "x-bench-ttft-ms": "600000"},
            ),
            (
                "product chat",
                lambda: None if o.no_product else product_server(self.srv_cpus),
                "/v1/chat/completions",
                CHAT_BODY,
                {SCENARIO_HEADER: "bench-stall"},
            ),
        ]
        for name, make, path, body, headers in plans:
            server = make()
            if server is None:
                continue
            if not self.start(server):
                out["targets"][name] = {"n/a": server.error}
                if o.smoke or name.startswith("ceiling"):
                    self.errors.append(f"memory {name}: {server.error}")
                continue
            # Warm up: a few short streams so lazy imports and caches are in the baseline.
            wh = (
                {SCENARIO_HEADER: "bench-small"}
                if name.startswith("product")
                else {"x-bench-events": "5"}
            )
            for _ in range(3):
                with contextlib.suppress(OSError):
                    post(server.port, path, body, wh)
            time.sleep(0.3)
            args = lg_args(server, path, body, headers, hold=n, hold_wait=o.hold_wait)
            res = run_loadgen(args, self.gen_cpus, o.hold_wait + 120)
            if res.get("error"):
                self.errors.append(f"memory {name}: {res['error']}")
            elif res.get("open", 0) < n:
                self.errors.append(f"memory {name}: only {res.get('open')} of {n} streams open")
            out["targets"][name] = res
            self.log(
                f"  {name:14s} rss {res.get('server_rss_before_kib')} -> "
                f"{res.get('server_rss_held_kib')} KiB, "
                f"{res.get('rss_per_stream_kib')} KiB/stream, "
                f"headers {res.get('headers_received')}/{n}, open {res.get('open')}"
            )
            server.stop()
            self.servers.remove(server)
        self.results["memory"] = out

    # -- d. start-up

    def startup(self) -> None:
        o = self.o
        reps = o.startup_reps
        self.log(f"[startup] {reps} rep(s)")
        out: dict = {}
        kinds = [
            ("ceiling raw", lambda: ceiling_server("raw", self.srv_cpus), {"x-bench-events": "5"})
        ]
        if not o.no_product:
            kinds.append(
                ("product", lambda: product_server(self.srv_cpus), {SCENARIO_HEADER: "bench-small"})
            )
        for name, make, headers in kinds:
            health, first = [], []
            err = None
            for _ in range(reps):
                server = make()
                if not server.start():
                    err = server.error
                    break
                try:
                    status, resp = post(server.port, "/v1/chat/completions", CHAT_BODY, headers)
                    ok = status == 200 and b"data: [DONE]" in resp
                except OSError as exc:
                    ok, status = False, str(exc)
                done = time.perf_counter() - server.spawned_at
                server.stop()
                if not ok:
                    err = f"first chat completion failed: {status}"
                    break
                health.append(server.ready_after)
                first.append(done)
            if err:
                out[name] = {"n/a": err}
                if o.smoke or name.startswith("ceiling"):
                    self.errors.append(f"startup {name}: {err}")
            else:
                out[name] = {
                    "health_s": round(med(health), 3),
                    "first_completion_s": round(med(first), 3),
                    "health_s_runs": [round(x, 3) for x in health],
                    "first_completion_s_runs": [round(x, 3) for x in first],
                }
            self.log(f"  {name:14s} {out[name]}")
        self.results["startup"] = out

    # -- e. workers

    def workers(self) -> None:
        o = self.o
        if o.no_product:
            return
        help_text = subprocess.run(
            [sys.executable, "-m", "understudy", "serve", "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        if "--workers" not in help_text:
            self.results["workers"] = {"n/a": "serve has no --workers"}
            return
        self.log(f"[workers] 1 vs 2, {o.runs} run(s) x {o.duration}s, {o.conns} connections")
        path, body = PRODUCT_PATHS["chat"]
        headers = {SCENARIO_HEADER: "bench-1000"}
        all_cpus = set(os.sched_getaffinity(0))
        configs = [
            ("1 worker, core 0", 1, self.srv_cpus),
            ("2 workers, core 0", 2, self.srv_cpus),
            ("2 workers, all cores", 2, all_cpus),
        ]
        if self.srv_cpus is None:
            configs = [("1 worker", 1, None), ("2 workers", 2, None)]
        conns = max(o.conns, 16)
        out: dict = {
            "conns": conns,
            "generator_cores": sorted(self.gen_cpus or all_cpus),
            "rows": {},
        }
        for label, w, cpus in configs:
            server = product_server(cpus, workers=w, tag=f"-w{w}")
            if not self.start(server):
                out["rows"][label] = {"n/a": server.error}
                continue
            time.sleep(0.5 if w > 1 else 0)  # let every worker come up
            rs = []
            for _ in range(o.runs):
                rs.append(
                    self.loadgen(
                        server, path, body, headers, o.duration, conns=conns, warmup=o.warmup
                    )
                )
                self._count_errors(f"workers {label}", rs[-1])
            out["rows"][label] = {
                "events_per_s": med(r.get("events_per_s") for r in rs),
                "server_cpu_util": med(r.get("server_cpu_util") for r in rs),
                "server_us_per_event": med(r.get("server_us_per_event") for r in rs),
                "loadgen_cpu_util": med(r.get("loadgen_cpu_util") for r in rs),
                "noise_cores": med(noise_cores(r) for r in rs),
                "errors": sum(r.get("error_count", 0) for r in rs),
                "processes": len(__import__("bench.loadgen").loadgen.process_tree(server.pid)),
                "runs": rs,
            }
            self.log(
                f"  {label:22s} {out['rows'][label]['events_per_s']} ev/s, "
                f"srv cpu {out['rows'][label]['server_cpu_util']}, "
                f"gen cpu {out['rows'][label]['loadgen_cpu_util']}"
            )
            server.stop()
            self.servers.remove(server)
        self.results["workers"] = out

    # -- f. in-process app cost

    def app(self) -> None:
        """The ASGI app's own CPU per event, without sockets (bench/inproc.py)."""
        o = self.o
        self.log("[app] in-process app cost per event")
        out: dict = {}
        runs = [
            ("throughput", ["--streams", str(o.app_streams), "--repeat", "3"]),
            ("paced", ["--paced", "500", "--repeat", "3"]),
        ]
        for label, extra in runs:
            cmd = [sys.executable, "-m", "bench.inproc", "--json", *extra]
            if o.no_product:
                cmd += ["--only", "raw,streaming,sse" if label == "throughput" else "raw"]
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=ROOT,
                    capture_output=True,
                    timeout=300,
                    preexec_fn=_preexec(self.srv_cpus),
                )
            except subprocess.TimeoutExpired:
                self.errors.append(f"app {label}: timed out")
                continue
            if proc.returncode != 0:
                msg = proc.stderr.decode()[-500:]
                out[label] = {"n/a": msg}
                self.errors.append(f"app {label}: {msg}")
                continue
            out[label] = json.loads(proc.stdout)
            self.log(
                f"  {label}: "
                + ", ".join(f"{k} {v.get('us_per_event', 'n/a')}" for k, v in out[label].items())
            )
        self.results["app"] = out


# ----------------------------------------------------------------------------- report


def _f(v, fmt="{:,.0f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def markdown(results: dict) -> str:
    out = []
    env = results.get("env", {})
    out.append(f"Command: `{results.get('command')}`  ")
    out.append(
        f"Host: {env.get('cpus')} CPUs ({env.get('cpu_model')}), Python {env.get('python')}, "
        f"uvicorn {env.get('uvicorn')}, starlette {env.get('starlette')}, "
        f"sse-starlette {env.get('sse_starlette')}; server on cores {env.get('server_cores')}, "
        f"generator on {env.get('generator_cores')}; {results.get('date')}"
        + (f"; SCHED_FIFO in {', '.join(env['rt_sections'])}" if env.get("rt_sections") else "")
        + (f"; nice {env['nice']}" if env.get("nice") else "")
    )
    tp = results.get("throughput")
    if tp:
        out.append("")
        out.append(
            f"**a. Throughput**: zero delay, 1,000-token chat streams, {tp['conns']} keep-alive "
            f"connections, median of {tp['runs']} x {tp['duration_s']:g} s"
        )
        out.append("")
        out.append(
            "| target | events/s | vs raw | server µs/event | vs raw, per CPU "
            "| server CPU | generator µs/event | streams/s | events/stream "
            "| other load on server core |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in tp["rows"].items():
            if "n/a" in r:
                out.append(f"| {name} | n/a ({r['n/a']}) | | | | | | | | |")
                continue
            out.append(
                f"| {name} | {_f(r['events_per_s'])} | {_f(r['ratio_vs_raw'], '{:.2f}x')} "
                f"| {_f(r['server_us_per_event'], '{:.2f}')} "
                f"| {_f(r.get('cpu_ratio_vs_raw'), '{:.2f}x')} "
                f"| {_f(r['server_cpu_util'], '{:.0%}')} "
                f"| {_f(r['loadgen_us_per_event'], '{:.2f}')} "
                f"| {_f(r['streams_per_s'], '{:,.1f}')} "
                f"| {_f(r['events_per_stream'])} | {_f(r['noise_cores'], '{:.2f}')} |"
            )
    pc = results.get("pacing")
    if pc:
        out.append("")
        out.append(
            f"**b. Pacing fidelity**: TTFT {pc['ttft_ms']:g} ms, ITL {pc['itl_ms']:g} ms, "
            f"{pc['tokens']} tokens per stream, starts staggered; error = observed gap - ITL; "
            f"budget p99 |error| <= {pc['budget_p99_ms']:g} ms"
            + (
                f"; each row the median of {pc['rounds']} rounds, the targets interleaved "
                "at each level (every round's p99 below the table)"
                if pc.get("rounds", 1) > 1
                else ""
            )
        )
        out.append("")
        out.append(
            "| target | streams | done | tokens/s | \\|err\\| p50 | \\|err\\| p99 | signed p99 "
            "| drift p99 | TTFT p50 | TTFT p99 | server CPU | gen CPU | gen lag p99 | other load "
            "| errors |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, t in pc["targets"].items():
            if "n/a" in t:
                out.append(f"| {name} | n/a ({t['n/a']}) |||||||||||||| |")
                continue
            for r in t["curve"]:
                tps = r.get("tokens_per_s", (r["raw"] or {}).get("tokens_per_s"))
                out.append(
                    f"| {name} | {r['streams']:,} | {_f(r['completed'])} | {_f(tps)} "
                    f"| {_f(r['gap_abs_err_p50_ms'], '{:.2f}')} "
                    f"| {_f(r['gap_abs_err_p99_ms'], '{:.2f}')} "
                    f"| {_f(r['gap_signed_err_p99_ms'], '{:+.2f}')} "
                    f"| {_f(r['drift_p99_ms'], '{:+.1f}')} "
                    f"| {_f(r['ttft_p50_ms'], '{:.1f}')} | {_f(r['ttft_p99_ms'], '{:.1f}')} "
                    f"| {_f(r['server_cpu_util'], '{:.0%}')} "
                    f"| {_f(r['loadgen_cpu_util'], '{:.0%}')} "
                    f"| {_f(r.get('loadgen_lag_p99_ms'), '{:.1f}')} "
                    f"| {_f(r['noise_cores'], '{:.2f}')} | {r['errors']} |"
                )
        out.append("")
        if pc.get("rounds", 1) > 1:
            for name, t in pc["targets"].items():
                for r in t.get("curve", []):
                    rounds = ", ".join(_f(p, "{:.2f}") for p in r.get("p99_per_round_ms", []))
                    out.append(f"- {name}, {r['streams']:,} streams: p99 by round {rounds} ms")
            out.append("")
        for name, t in pc["targets"].items():
            if "curve" in t:
                b, blips = break_point(t["curve"])
                line = f"- {name}: " + (f"breaks at {b:,} streams" if b else "holds at every level")
                if blips:
                    line += (
                        f" (isolated misses at {', '.join(f'{x:,}' for x in blips)}: "
                        "a few late gaps in a small sample, see the gen lag and other load)"
                    )
                out.append(line)
    mem = results.get("memory")
    if mem:
        out.append("")
        out.append(f"**c. Memory**: {mem['streams']:,} stalled streams held open")
        out.append("")
        out.append(
            "| target | RSS before (MiB) | RSS held (MiB) | KiB per stream | open | headers seen |"
        )
        out.append("|---|---:|---:|---:|---:|---:|")
        for name, r in mem["targets"].items():
            if "n/a" in r:
                out.append(f"| {name} | n/a ({r['n/a']}) | | | | |")
                continue
            b, h = r.get("server_rss_before_kib"), r.get("server_rss_held_kib")
            out.append(
                f"| {name} | {_f(b and b / 1024, '{:.1f}')} | {_f(h and h / 1024, '{:.1f}')} "
                f"| {_f(r.get('rss_per_stream_kib'), '{:.1f}')} | {_f(r.get('open'))} "
                f"| {_f(r.get('headers_received'))} |"
            )
    su = results.get("startup")
    if su:
        out.append("")
        out.append(
            "**d. Start-up**: spawn to first `GET /health` 200, and to the end of one chat "
            "stream (median)"
        )
        out.append("")
        out.append("| server | /health (s) | first completion (s) |")
        out.append("|---|---:|---:|")
        for name, r in su.items():
            if "n/a" in r:
                out.append(f"| {name} | n/a ({r['n/a']}) | |")
            else:
                out.append(f"| {name} | {r['health_s']:.3f} | {r['first_completion_s']:.3f} |")
    wk = results.get("workers")
    if wk:
        out.append("")
        if "n/a" in wk:
            out.append(f"**e. Workers**: n/a ({wk['n/a']})")
        else:
            out.append(
                f"**e. Workers**: product chat throughput, {wk['conns']} connections, "
                f"generator on cores {wk['generator_cores']}"
            )
            out.append("")
            out.append("| config | events/s | server CPU (cores) | generator CPU | processes |")
            out.append("|---|---:|---:|---:|---:|")
            for label, r in wk["rows"].items():
                if "n/a" in r:
                    out.append(f"| {label} | n/a ({r['n/a']}) | | | |")
                    continue
                out.append(
                    f"| {label} | {_f(r['events_per_s'])} | {_f(r['server_cpu_util'], '{:.2f}')} "
                    f"| {_f(r['loadgen_cpu_util'], '{:.0%}')} | {r['processes']} |"
                )
    app = results.get("app")
    if app:
        out.append("")
        out.append(
            "**f. App cost in-process** (no sockets, no uvicorn; `python -m bench.inproc`): "
            "CPU per event of the ASGI app alone; zero-delay 1,000-token streams, and 500 "
            "paced streams (ITL 20 ms, real timers; includes the event loop's timer work)"
        )
        out.append("")
        out.append("| target | zero delay µs/event | vs raw | paced µs/event | vs raw |")
        out.append("|---|---:|---:|---:|---:|")
        tp_ = app.get("throughput", {})
        pc_ = app.get("paced", {})
        raw_t = (tp_.get("raw") or {}).get("us_per_event")
        raw_p = (pc_.get("raw") or {}).get("us_per_event")
        for name in tp_ or pc_:
            t = (tp_.get(name) or {}).get("us_per_event")
            pv = (pc_.get(name) or {}).get("us_per_event")
            out.append(
                f"| {name} | {_f(t, '{:.2f}')} | {_f(t and raw_t and t / raw_t, '{:.1f}x')} "
                f"| {_f(pv, '{:.2f}')} | {_f(pv and raw_p and pv / raw_p, '{:.1f}x')} |"
            )
    for note in results.get("notes", []):
        out.append(f"\nNote: {note}")
    if results.get("errors"):
        out.append("")
        out.append("**Errors:**")
        for e in results["errors"]:
            out.append(f"- {e}")
    return "\n".join(out)


def env_info() -> dict:
    def version(mod: str) -> str | None:
        try:
            from importlib.metadata import version as v

            return v(mod)
        except Exception:
            return None

    model = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    srv, gen = cores()
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or None
    )
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "uvicorn": version("uvicorn"),
        "starlette": version("starlette"),
        "sse_starlette": version("sse-starlette"),
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "server_cores": sorted(srv) if srv else "any",
        "generator_cores": sorted(gen) if gen else "any",
        "git_commit": commit,
        "kernel": platform.release(),
        "nice": NICE,
    }


# ----------------------------------------------------------------------------- CLI

SECTIONS = ("throughput", "pacing", "memory", "startup", "workers", "app")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the benchmark suite")
    r.add_argument("--quick", action="store_true", help="1 run per figure, shorter durations")
    r.add_argument("--smoke", action="store_true", help="CI check: <= 30 s, fails only on errors")
    r.add_argument("--duration", type=float, default=None, help="seconds per throughput run")
    r.add_argument("--runs", type=int, default=None, help="throughput runs per target (median)")
    r.add_argument("--conns", type=int, default=8, help="throughput connections")
    r.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {SECTIONS}")
    r.add_argument("--pacing-levels", default=None, help="comma list of concurrent streams")
    r.add_argument("--pacing-duration", type=float, default=None)
    r.add_argument(
        "--pacing-rounds",
        type=int,
        default=None,
        help="repeat the pacing sweep R times, the targets interleaved at each level; "
        "each level reports the median of its rounds",
    )
    r.add_argument(
        "--ceiling-catch-up",
        action="store_true",
        help="pacing: also run the ceiling with the product's catch-up rule (gaps after a "
        "late event no shorter than 90%% of the ITL) as 'ceiling catch-up'",
    )
    r.add_argument("--hold", type=int, default=None, help="stalled streams for memory")
    r.add_argument("--no-product", action="store_true", help="ceiling only")
    r.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each run wait up to S seconds for other processes to calm down",
    )
    r.add_argument(
        "--rt",
        default="",
        help="comma list of sections whose servers and generators run SCHED_FIFO (needs root): "
        "keeps a shared machine's other work from distorting latency; the kernel still leaves "
        "5%% of each core to other processes",
    )
    r.add_argument(
        "--quiet-load",
        type=float,
        default=0.15,
        help="cores of other load counted as calm (with --quiet-wait)",
    )
    r.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness for servers and generators (negative needs root): shields the figures "
        "from other work on a shared machine",
    )
    r.add_argument("--json", default=str(RESULTS / "latest.json"), help="result file")
    rp = sub.add_parser("report", help="print the markdown of a saved result file")
    rp.add_argument("json", nargs="?", default=str(RESULTS / "latest.json"))
    o = p.parse_args(argv)
    if o.cmd == "report":
        return o
    if o.smoke:
        defaults = dict(
            duration=1.0,
            runs=1,
            pacing_levels="20",
            pacing_duration=0.5,
            pacing_rounds=2,  # so CI runs the interleaved rounds too
            hold=200,
            startup_reps=1,
            warmup=0.2,
            hold_wait=5.0,
            app_streams=20,
        )
        o.only = o.only if o.only != ",".join(SECTIONS) else "throughput,pacing,memory,startup"
    elif o.quick:
        defaults = dict(
            duration=2.0,
            runs=1,
            pacing_levels="1,100,500,1000,2000",
            pacing_duration=3.0,
            pacing_rounds=1,
            hold=5000,
            startup_reps=1,
            warmup=0.3,
            hold_wait=30.0,
            app_streams=50,
        )
    else:
        defaults = dict(
            duration=5.0,
            runs=5,
            pacing_levels="1,100,500,1000,2000",
            pacing_duration=6.0,
            pacing_rounds=1,
            hold=5000,
            startup_reps=3,
            warmup=0.5,
            hold_wait=30.0,
            app_streams=200,
        )
    for k, v in defaults.items():
        if getattr(o, k, None) is None:
            setattr(o, k, v)
    o.pacing_levels = [int(x) for x in str(o.pacing_levels).split(",") if x]
    o.only = [s.strip() for s in o.only.split(",") if s.strip()]
    o.rt = [s.strip() for s in o.rt.split(",") if s.strip()]
    for s in o.only + o.rt:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r}")
    return o


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    o = parse(argv)
    if o.cmd == "report":
        print(markdown(json.loads(Path(o.json).read_text())))
        return 0

    def interrupted(signum, frame):  # SIGTERM, or SIGINT when started in the background
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    global NICE
    NICE = o.nice
    raise_nofile()
    bench = Bench(o)
    t0 = time.perf_counter()
    bench.results["command"] = "python -m bench " + shlex.join(argv)
    bench.results["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    bench.results["env"] = env_info()
    bench.results["env"]["rt_sections"] = o.rt
    global RT
    try:
        for section in SECTIONS:
            if section in o.only:
                RT = section in o.rt
                getattr(bench, section)()
                RT = False
    except KeyboardInterrupt:
        bench.errors.append("interrupted")
    finally:
        bench.stop_all()
    bench.results["elapsed_s"] = round(time.perf_counter() - t0, 1)
    bench.results["errors"] = bench.errors
    text = markdown(bench.results)
    print(text)
    path = Path(o.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bench.results, indent=1) + "\n")
    print(f"\n(results: {path}; {bench.results['elapsed_s']} s)", file=sys.stderr)
    return 1 if bench.errors else 0
