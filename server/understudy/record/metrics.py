"""Prometheus metrics at ``GET /metrics``, in the plain text exposition format (0.0.4).

Counts are plain dictionaries owned by one server (not a process-global registry), so
several servers in one process (tests) keep separate numbers. Per-request work is a few
dictionary increments when a call completes; nothing is counted per stream event.

The ``scenario`` label is the one that can grow with what clients do (runtime scenarios
come and go), so it is bounded: a scenario's series go when the scenario does, and past
``scenario_labels`` distinct names the rest are counted as ``other``.
"""

from collections import defaultdict
from collections.abc import Iterable

from understudy._version import __version__
from understudy.record.journal import Call

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[str, ...]
Gauge = tuple[str, str, float]
"""A gauge the server's state reports at render time: name, help text, value."""
OTHER = "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(
    name: str, kind: str, help_text: str, label_names: Labels, values: dict[Labels, int]
) -> Iterable[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"
    for labels, value in sorted(values.items()):
        pairs = ",".join(
            f'{label}="{_escape(text)}"' for label, text in zip(label_names, labels, strict=True)
        )
        yield f"{name}{{{pairs}}} {value}"


class Metrics:
    def __init__(self, scenario_labels: int = 500) -> None:
        self.scenario_labels = scenario_labels
        self._scenarios: set[str] = set()
        self.requests: defaultdict[Labels, int] = defaultdict(int)
        self.streams_in_flight: defaultdict[Labels, int] = defaultdict(int)
        self.events_sent: defaultdict[Labels, int] = defaultdict(int)
        self.bytes_sent: defaultdict[Labels, int] = defaultdict(int)
        self.disconnects: defaultdict[Labels, int] = defaultdict(int)
        self.faults: defaultdict[Labels, int] = defaultdict(int)

    def stream_opened(self, api: str) -> None:
        self.streams_in_flight[(api,)] += 1

    def fault_injected(self, api: str, kind: str) -> None:
        """Count one injected fault of ``kind``. A call's faults are counted when the call
        completes; call this directly only for a fault not recorded on a call."""
        self.faults[(api, kind)] += 1

    def observe(self, call: Call) -> None:
        """Count a completed call."""
        api = (call.api,)
        scenario = call.scenario or ""
        if scenario not in self._scenarios:
            if len(self._scenarios) < self.scenario_labels:
                self._scenarios.add(scenario)
            else:
                scenario = OTHER
        self.requests[(call.api, scenario, str(call.status))] += 1
        for kind in call.fault_kinds:
            self.fault_injected(call.api, kind)
        outcome = call.outcome
        if outcome is not None:
            self.streams_in_flight[api] -= 1
            self.events_sent[api] += outcome.events_sent
            self.bytes_sent[api] += outcome.bytes_sent
            if outcome.disconnected:
                self.disconnects[api] += 1

    def forget_scenarios(self, names: Iterable[str]) -> None:
        """Remove the series of scenarios that no longer exist."""
        gone = self._scenarios.intersection(names)
        if gone:
            self._scenarios -= gone
            for key in [key for key in self.requests if key[1] in gone]:
                del self.requests[key]

    def render(self, gauges: Iterable[Gauge] = ()) -> str:
        lines = [
            *_family(
                "understudy_info", "gauge", "Server version.", ("version",), {(__version__,): 1}
            ),
            *_family(
                "understudy_requests_total",
                "counter",
                "Model requests completed, by API, scenario and HTTP status.",
                ("api", "scenario", "status"),
                self.requests,
            ),
            *_family(
                "understudy_streams_in_flight",
                "gauge",
                "Streams being sent right now.",
                ("api",),
                self.streams_in_flight,
            ),
            *_family(
                "understudy_stream_events_total",
                "counter",
                "Stream events sent to clients.",
                ("api",),
                self.events_sent,
            ),
            *_family(
                "understudy_stream_bytes_total",
                "counter",
                "Stream bytes sent to clients.",
                ("api",),
                self.bytes_sent,
            ),
            *_family(
                "understudy_client_disconnects_total",
                "counter",
                "Streams the client closed before the end.",
                ("api",),
                self.disconnects,
            ),
            *_family(
                "understudy_faults_injected_total",
                "counter",
                "Faults injected into replies, by API and fault kind.",
                ("api", "fault"),
                self.faults,
            ),
        ]
        for name, help_text, value in gauges:
            lines.extend((f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"))
        return "\n".join(lines) + "\n"
