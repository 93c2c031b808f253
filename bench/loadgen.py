"""Load generator for SSE streaming endpoints: cheaper per event than the server.

A minimal HTTP/1.1 client written as a bare ``asyncio.Protocol`` on uvloop: keep-alive
connections, chunked-transfer decoding with ``bytes.find``/slicing, and event counting
with ``bytes.count(b"\\n\\n")`` on the decoded payload (a carried byte makes it robust to
TCP and chunk fragmentation). No per-event objects are built; one clock read per
``data_received``.

Modes:

* stream (default): ``--conns C`` keep-alive connections, each posting streaming requests
  back to back until ``--duration`` elapses (in-flight streams then finish, bounded by
  ``--drain-timeout``). Reports events/s and streams/s over a measurement window that
  skips ``--warmup``; TTFT; with ``--itl-ms`` also every inter-token gap, the gap error
  against the configured ITL and per-stream drift.
* hold (``--hold N``): opens N streams whose first token is far away, waits until the
  server has taken them all, and reports the server's RSS growth per open stream.

A *token* event is one whose payload contains ``--marker`` (default ``tok"``, which
matches the ``" tok"`` content of the bench replies and nothing in role/finish/usage
events). TTFT and gaps are measured on token events; events/s counts every SSE event.

CPU: the generator's own CPU (``getrusage``) and the server's (``/proc/<pid>/stat``,
summed over the process and its children, so ``--workers`` is covered) over the window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import time
from array import array

clock = time.perf_counter
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

HEAD, CHUNKED, FIXED, UNTIL_CLOSE = 0, 1, 2, 3


# ----------------------------------------------------------------------------- /proc


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def proc_cpu_seconds(pid: int) -> float:
    """CPU time of the process tree rooted at ``pid``: the scheduler's nanosecond run time of
    every thread (``/proc/<pid>/task/<tid>/schedstat``), falling back to utime + stime."""
    total = 0.0
    for p in process_tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
            ns = 0
            for tid in tids:
                with open(f"/proc/{p}/task/{tid}/schedstat", "rb") as f:
                    ns += int(f.read().split()[0])
            total += ns / 1e9
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    return total


def proc_rss_kib(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def self_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def raise_nofile(need: int = 0) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


# ----------------------------------------------------------------------------- stats


def pct(sorted_values, q: float):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(q / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[i]


def summary_ms(values, qs=(50, 90, 99, 99.9)) -> dict | None:
    if not values:
        return None
    s = sorted(values)
    out = {f"p{q:g}": round(pct(s, q) * 1000.0, 3) for q in qs}
    out["min"] = round(s[0] * 1000.0, 3)
    out["max"] = round(s[-1] * 1000.0, 3)
    out["n"] = len(s)
    return out


# ----------------------------------------------------------------------------- client


class Shared:
    """State shared by all connections of one run."""

    def __init__(self, cfg: argparse.Namespace) -> None:
        self.cfg = cfg
        self.marker = cfg.marker.encode() if cfg.marker else None
        self.mtail_len = max(0, len(self.marker) - 1) if self.marker else 0
        self.itl = (cfg.itl_ms or 0.0) / 1000.0
        self.record_gaps = cfg.itl_ms is not None
        self.stop_at = float("inf")  # no new streams after this
        self.win_start = float("inf")
        self.win_end = float("inf")
        self.win_events = 0
        self.win_tokens = 0
        self.win_streams = 0
        self.events = 0
        self.streams = 0
        self.errors: dict[str, int] = {}
        self.status: dict[int, int] = {}
        self.ttft = array("d")
        self.gaps = array("d")
        self.drift = array("d")
        self.events_per_stream = array("l")
        self.tokens_per_stream = array("l")
        self.active = 0
        self.all_done: asyncio.Future | None = None
        self.held = 0
        self.hold_target = 0
        self.hold_done: asyncio.Future | None = None
        self.sample_body: bytes | None = None

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def client_finished(self) -> None:
        self.active -= 1
        if self.active <= 0 and self.all_done is not None and not self.all_done.done():
            self.all_done.set_result(None)


class Client(asyncio.Protocol):
    def __init__(self, shared: Shared, request: bytes, hold: bool = False) -> None:
        self.sh = shared
        self.request = request
        self.hold = hold
        self.transport = None
        self.connected: asyncio.Future = asyncio.get_running_loop().create_future()
        self.finished = False
        self.in_response = False
        self._reset()

    # -- lifecycle

    def _reset(self) -> None:
        self.state = HEAD
        self.buf = b""
        self.rem_data = 0
        self.rem_crlf = 0
        self.last_chunk = False
        self.rem_fixed = 0
        self.prev_nl = False
        self.mtail = b""
        self.status = 0
        self.close_after = False
        self.n_events = 0
        self.n_tokens = 0
        self.t_send = 0.0
        self.t_first_tok = 0.0
        self.t_last_tok = 0.0
        self.t_first_ev = 0.0
        self.keep_body = False
        self.buf_body = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        if not self.connected.done():
            self.connected.set_result(None)

    def connection_lost(self, exc) -> None:
        if not self.connected.done():
            self.connected.set_exception(exc or ConnectionError("closed"))
        if self.finished:
            return
        if self.in_response:
            if self.state == UNTIL_CLOSE:
                self._response_done()
                return
            self.sh.error("closed_mid_stream" if exc is None else f"conn:{type(exc).__name__}")
        elif self.sh.stop_at == float("inf") or clock() < self.sh.stop_at:
            self.sh.error("closed_idle")
        self._finish()

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()
            self.sh.client_finished()

    def start(self) -> None:
        if self.finished:
            return
        if clock() >= self.sh.stop_at:
            self._finish()
            return
        self._reset()
        self.in_response = True
        self.t_send = clock()
        self.transport.write(self.request)

    # -- parsing

    def data_received(self, data: bytes) -> None:
        now = clock()
        if self.state == HEAD:
            if self.buf:
                data = self.buf + data
                self.buf = b""
            i = data.find(b"\r\n\r\n")
            if i < 0:
                self.buf = data
                return
            self._head(data[:i])
            data = data[i + 4 :]
            if self.hold and self.state != HEAD:
                self.sh.held += 1
                if (
                    self.sh.held >= self.sh.hold_target
                    and self.sh.hold_done
                    and not self.sh.hold_done.done()
                ):
                    self.sh.hold_done.set_result(None)
            if not data:
                if self.state == FIXED and self.rem_fixed == 0:
                    self._response_done()
                return
        if self.state == CHUNKED:
            self._chunked(data, now)
        elif self.state == FIXED:
            if self.keep_body:
                self.buf += data[: self.rem_fixed]
            self.rem_fixed -= len(data)
            if self.rem_fixed <= 0:
                self._response_done()
        elif self.state == UNTIL_CLOSE:
            self._payload(data, now)

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        self.status = int(parts[1])
        chunked = False
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"content-length":
                length = int(value)
            elif name == b"connection":
                self.close_after = b"close" in value.lower()
        if self.status != 200:
            st = self.sh.status
            st[self.status] = st.get(self.status, 0) + 1
            self.keep_body = True
        if chunked:
            self.state = CHUNKED
        elif length is not None:
            self.state = FIXED
            self.rem_fixed = length
        else:
            self.state = UNTIL_CLOSE
            self.close_after = True

    def _chunked(self, data: bytes, now: float) -> None:
        """Decode chunked framing; all payload of this read goes to one ``_payload`` call."""
        if self.buf:
            data = self.buf + data
            self.buf = b""
        n = len(data)
        pos = 0
        parts = []
        done = False
        rem = self.rem_data
        if rem:  # the tail of a chunk begun in an earlier read
            end = rem if rem < n else n
            parts.append(data[:end] if end < n else data)
            self.rem_data = rem - end
            pos = end
        find = data.find
        while pos < n:
            if self.rem_crlf:
                k = self.rem_crlf if self.rem_crlf <= n - pos else n - pos
                pos += k
                self.rem_crlf -= k
                if self.rem_crlf:
                    break
                if self.last_chunk:
                    done = True
                    break
                continue
            j = find(b"\r\n", pos)
            if j < 0:
                self.buf = data[pos:]
                break
            line = data[pos:j]
            try:
                size = int(line, 16)
            except ValueError:
                size = int(line.split(b";", 1)[0], 16)
            start = j + 2
            if size == 0:
                self.last_chunk = True  # no trailers expected: just the final CRLF
                self.rem_crlf = 2
                pos = start
                continue
            end = start + size
            if end + 2 <= n:  # whole chunk and its CRLF in this read: the common case
                parts.append(data[start:end])
                pos = end + 2
            elif end <= n:
                parts.append(data[start:end])
                self.rem_crlf = 2
                pos = end
            else:
                parts.append(data[start:])
                self.rem_data = end - n
                self.rem_crlf = 2
                pos = n
        if parts:
            self._payload(parts[0] if len(parts) == 1 else b"".join(parts), now)
        if done:
            self._response_done()

    def _payload(self, seg: bytes, now: float) -> None:
        if self.keep_body:
            self.buf_body += seg
            return
        ev = seg.count(b"\n\n")
        if self.prev_nl and seg[:1] == b"\n":
            ev += 1
        self.prev_nl = seg[-1:] == b"\n"
        if ev:
            sh = self.sh
            if self.n_events == 0:
                self.t_first_ev = now
            self.n_events += ev
            if sh.win_start <= now < sh.win_end:
                sh.win_events += ev
        marker = self.sh.marker
        if marker is not None:
            if self.mtail:
                seg = self.mtail + seg
            tok = seg.count(marker)
            self.mtail = seg[-self.sh.mtail_len :]
            if tok:
                sh = self.sh
                if self.n_tokens == 0:
                    self.t_first_tok = now
                elif sh.record_gaps:
                    sh.gaps.append(now - self.t_last_tok)
                if tok > 1 and sh.record_gaps:
                    sh.gaps.extend(
                        _ZEROS[: tok - 1]
                        if tok - 1 <= len(_ZEROS)
                        else array("d", bytes(8 * (tok - 1)))
                    )
                self.t_last_tok = now
                self.n_tokens += tok
                if sh.win_start <= now < sh.win_end:
                    sh.win_tokens += tok

    def _response_done(self) -> None:
        sh = self.sh
        now = clock()
        self.in_response = False
        if self.status == 200:
            sh.streams += 1
            sh.events += self.n_events
            if sh.win_start <= now < sh.win_end:
                sh.win_streams += 1
            sh.events_per_stream.append(self.n_events)
            sh.tokens_per_stream.append(self.n_tokens)
            first = self.t_first_tok if self.n_tokens else self.t_first_ev
            if first:
                sh.ttft.append(first - self.t_send)
            if sh.record_gaps and self.n_tokens > 1:
                sh.drift.append(self.t_last_tok - self.t_first_tok - (self.n_tokens - 1) * sh.itl)
            if self.n_events == 0 and not sh.cfg.plain:
                sh.error("empty_stream")
        elif sh.sample_body is None:
            sh.sample_body = (self.buf_body or self.buf)[:300]
        if self.close_after:
            self._finish()
            return
        if self.hold:
            return
        self.start()


_ZEROS = array("d", bytes(8 * 64))


# ----------------------------------------------------------------------------- runs


def build_request(cfg: argparse.Namespace) -> bytes:
    body = cfg.body.encode()
    lines = [
        f"POST {cfg.path} HTTP/1.1",
        f"Host: {cfg.host}:{cfg.port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(body)}",
    ]
    lines.extend(h.strip() for h in cfg.header)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def open_clients(shared: Shared, cfg, request: bytes, count: int, hold: bool = False):
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(cfg.connect_parallel)
    clients: list[Client] = []

    async def one() -> None:
        async with sem:
            client = Client(shared, request, hold)
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: client, cfg.host, cfg.port), timeout=10
                )
            except (TimeoutError, OSError) as exc:
                shared.error(f"connect:{type(exc).__name__}")
                return
            clients.append(client)

    await asyncio.gather(*(one() for _ in range(count)))
    return clients


async def run_streams(cfg: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    sh = Shared(cfg)
    request = build_request(cfg)
    clients = await open_clients(sh, cfg, request, cfg.conns)
    sh.active = len(clients)
    sh.all_done = loop.create_future()
    if not clients:
        sh.all_done.set_result(None)

    t0 = clock() + 0.02
    sh.stop_at = t0 + cfg.duration
    warm = min(cfg.warmup, cfg.duration / 2)
    sh.win_start = t0 + warm
    sh.win_end = t0 + cfg.duration
    samples: dict[str, float] = {}

    def sample(tag: str) -> None:
        samples[f"{tag}_t"] = clock()
        samples[f"{tag}_self_cpu"] = self_cpu_seconds()
        if cfg.server_pid:
            samples[f"{tag}_srv_cpu"] = proc_cpu_seconds(cfg.server_pid)
            samples[f"{tag}_srv_rss"] = proc_rss_kib(cfg.server_pid)

    # Event-loop lag of the generator itself: if this stays small while gaps are late,
    # the lateness is the server's, not the measuring side's.
    lag = array("d")

    def tick(expected: float) -> None:
        now = clock()
        lag.append(now - expected)
        if now < sh.stop_at:
            loop.call_later(0.01, tick, now + 0.01)

    loop.call_later(0.02, tick, clock() + 0.02)
    rng = random.Random(1)
    for c in clients:
        delay = 0.02 + (rng.uniform(0, cfg.ramp) if cfg.ramp else 0.0)
        loop.call_later(delay, c.start)
    loop.call_later(0.02 + warm, sample, "a")
    loop.call_later(0.02 + cfg.duration, sample, "b")

    timed_out = 0
    try:
        await asyncio.wait_for(asyncio.shield(sh.all_done), cfg.duration + cfg.drain_timeout + 1)
    except TimeoutError:
        for c in clients:
            if not c.finished:
                timed_out += 1
                c.finished = True
                c.transport.abort()
        if timed_out:
            sh.errors["timeout"] = sh.errors.get("timeout", 0) + timed_out
    if "b_t" not in samples:
        sample("b")
    window = samples["b_t"] - samples["a_t"]
    out: dict = {
        "mode": "stream",
        "path": cfg.path,
        "conns": cfg.conns,
        "connected": len(clients),
        "duration_s": cfg.duration,
        "window_s": round(window, 4),
        "events_per_s": round(sh.win_events / window, 1) if window > 0 else None,
        "tokens_per_s": round(sh.win_tokens / window, 1) if window > 0 else None,
        "streams_per_s": round(sh.win_streams / window, 2) if window > 0 else None,
        "window_events": sh.win_events,
        "streams": sh.streams,
        "events": sh.events,
        "errors": sh.errors,
        "error_count": sum(sh.errors.values()),
        "http_status": {str(k): v for k, v in sh.status.items()},
        "non_200_body": sh.sample_body.decode("utf-8", "replace") if sh.sample_body else None,
    }
    if sh.events_per_stream:
        eps = sorted(sh.events_per_stream)
        out["events_per_stream_p50"] = pct(eps, 50)
        out["tokens_per_stream_p50"] = pct(sorted(sh.tokens_per_stream), 50)
    self_cpu = samples["b_self_cpu"] - samples["a_self_cpu"]
    out["loadgen_cpu_util"] = round(self_cpu / window, 3) if window > 0 else None
    out["loadgen_us_per_event"] = (
        round(self_cpu / sh.win_events * 1e6, 3) if sh.win_events else None
    )
    if cfg.server_pid:
        srv = samples["b_srv_cpu"] - samples["a_srv_cpu"]
        out["server_cpu_util"] = round(srv / window, 3) if window > 0 else None
        out["server_us_per_event"] = round(srv / sh.win_events * 1e6, 3) if sh.win_events else None
        out["server_rss_kib"] = samples["b_srv_rss"]
    out["ttft_ms"] = summary_ms(sh.ttft)
    out["loadgen_loop_lag_ms"] = summary_ms(lag, qs=(50, 99))
    if cfg.ttft_ms is not None and sh.ttft:
        out["ttft_error_ms"] = summary_ms([t - cfg.ttft_ms / 1000.0 for t in sh.ttft])
    if sh.record_gaps:
        itl = sh.itl
        err = [g - itl for g in sh.gaps]
        abs_err = sorted(abs(e) for e in err)
        signed = sorted(err)
        out["itl_ms"] = cfg.itl_ms
        out["gaps"] = len(err)
        out["gap_ms"] = summary_ms(sh.gaps)
        out["gap_abs_err_ms"] = (
            {
                "p50": round(pct(abs_err, 50) * 1000, 3),
                "p99": round(pct(abs_err, 99) * 1000, 3),
                "p99.9": round(pct(abs_err, 99.9) * 1000, 3),
                "max": round(abs_err[-1] * 1000, 3),
            }
            if abs_err
            else None
        )
        out["gap_signed_err_ms"] = (
            {
                "p1": round(pct(signed, 1) * 1000, 3),
                "p50": round(pct(signed, 50) * 1000, 3),
                "p99": round(pct(signed, 99) * 1000, 3),
            }
            if signed
            else None
        )
        out["coalesced_frac"] = (
            round(sum(1 for g in sh.gaps if g < itl / 2) / len(sh.gaps), 4) if sh.gaps else None
        )
        out["drift_ms"] = summary_ms(sh.drift, qs=(50, 99))
    return out


async def run_hold(cfg: argparse.Namespace) -> dict:
    """Open ``cfg.hold`` streams that stay open; report the server's RSS per stream."""
    loop = asyncio.get_running_loop()
    sh = Shared(cfg)
    request = build_request(cfg)
    pid = cfg.server_pid
    rss0 = proc_rss_kib(pid) if pid else None
    sh.hold_target = cfg.hold
    sh.hold_done = loop.create_future()
    sh.active = cfg.hold
    sh.all_done = loop.create_future()
    t_start = clock()
    clients = await open_clients(sh, cfg, request, cfg.hold, hold=True)
    for c in clients:
        c.start()
    t_sent = clock()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(sh.hold_done), cfg.hold_wait)
    # Let the server finish taking requests whose headers it has not sent: wait for idle CPU.
    idle_cpu = None
    if pid:
        prev = proc_cpu_seconds(pid)
        for _ in range(40):
            await asyncio.sleep(0.25)
            cur = proc_cpu_seconds(pid)
            idle_cpu = cur - prev
            prev = cur
            if idle_cpu <= 0.02:
                break
    rss1 = proc_rss_kib(pid) if pid else None
    open_now = sum(1 for c in clients if not c.finished)
    out = {
        "mode": "hold",
        "path": cfg.path,
        "requested": cfg.hold,
        "connected": len(clients),
        "open": open_now,
        "headers_received": sh.held,
        "open_s": round(t_sent - t_start, 3),
        "settle_s": round(clock() - t_sent, 3),
        "errors": sh.errors,
        "error_count": sum(sh.errors.values()) + (cfg.hold - open_now),
        "http_status": {str(k): v for k, v in sh.status.items()},
        "server_rss_before_kib": rss0,
        "server_rss_held_kib": rss1,
    }
    if pid and open_now:
        out["rss_per_stream_kib"] = round((rss1 - rss0) / open_now, 2)
    for c in clients:
        c.finished = True
        if c.transport is not None:
            c.transport.abort()
    await asyncio.sleep(0.1)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="SSE streaming load generator (see module doc).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/v1/chat/completions")
    p.add_argument(
        "--body", default='{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
    )
    p.add_argument("-H", "--header", action="append", default=[], help="extra 'Name: value'")
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=0.5, help="seconds excluded from the window")
    p.add_argument("--ramp", type=float, default=0.0, help="stagger stream starts over S seconds")
    p.add_argument("--drain-timeout", type=float, default=30.0)
    p.add_argument("--marker", default='tok"', help="substring identifying token events")
    p.add_argument(
        "--plain", action="store_true", help="replies are not streamed: count requests, not events"
    )
    p.add_argument("--itl-ms", type=float, default=None, help="configured ITL: record gaps")
    p.add_argument("--ttft-ms", type=float, default=None, help="configured TTFT: report error")
    p.add_argument("--server-pid", type=int, default=None)
    p.add_argument("--hold", type=int, default=0, help="hold N stalled streams (memory mode)")
    p.add_argument("--hold-wait", type=float, default=20.0)
    p.add_argument("--connect-parallel", type=int, default=256)
    p.add_argument("--json", default="-", help="output file, '-' for stdout")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import uvloop

    cfg = parse_args(argv)
    raise_nofile()
    coro = run_hold(cfg) if cfg.hold else run_streams(cfg)
    result = uvloop.run(coro)
    text = json.dumps(result, indent=1)
    if cfg.json == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(cfg.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
