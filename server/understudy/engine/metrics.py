"""The engine's metrics under vLLM's names, so autoscalers and gateways that read a vLLM
server's ``/metrics`` can be pointed at Understudy instead."""

from bisect import bisect_left
from collections.abc import Iterable, Sequence

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0)
TTFT_BUCKETS += (2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
ITL_BUCKETS += (5.0, 7.5, 10.0, 20.0, 40.0, 80.0)
REQUEST_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0)
REQUEST_BUCKETS += (50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)


class Histogram:
    """A Prometheus histogram with fixed buckets."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.help = help_text
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect_left(self.buckets, value)] += times
        self.sum += value * times

    def render(self, labels: str) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        total = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            total += count
            yield f'{self.name}_bucket{{{labels},le="{bound}"}} {total}'
        total += self.counts[-1]
        yield f'{self.name}_bucket{{{labels},le="+Inf"}} {total}'
        yield f"{self.name}_sum{{{labels}}} {self.sum}"
        yield f"{self.name}_count{{{labels}}} {total}"


class EngineMetrics:
    def __init__(self, model_name: str) -> None:
        self.labels = f'model_name="{model_name}"'
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds", "Time to first token, seconds.", TTFT_BUCKETS
        )
        self.itl = Histogram(
            "vllm:inter_token_latency_seconds", "Time between output tokens.", ITL_BUCKETS
        )
        self.per_token = Histogram(
            "vllm:time_per_output_token_seconds",
            "Time per output token (the older name of the inter-token latency).",
            ITL_BUCKETS,
        )
        self.queue = Histogram(
            "vllm:request_queue_time_seconds", "Time waiting for a slot.", REQUEST_BUCKETS
        )
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds", "Request latency, end to end.", REQUEST_BUCKETS
        )
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.finished = 0
        self.refused = 0

    def render(self, running: int, waiting: int, max_running: int) -> str:
        labels = self.labels
        usage = running / max_running if max_running else 0.0
        gauges = (
            ("vllm:num_requests_running", "Requests decoding now.", running),
            ("vllm:num_requests_waiting", "Requests waiting for a slot.", waiting),
            ("vllm:kv_cache_usage_perc", "Busy share of the slots (0 to 1).", usage),
            ("vllm:gpu_cache_usage_perc", "The older name of kv_cache_usage_perc.", usage),
        )
        counters = (
            ("vllm:prompt_tokens_total", "Prompt tokens read.", self.prompt_tokens),
            ("vllm:generation_tokens_total", "Output tokens sent.", self.generation_tokens),
            ("vllm:request_success_total", "Requests finished.", self.finished),
            ("understudy_engine_refused_total", "Requests refused: queue full.", self.refused),
        )
        lines: list[str] = []
        for name, help_text, value in gauges:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines.append(f"{name}{{{labels}}} {value}")
        for name, help_text, value in counters:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            lines.append(f"{name}{{{labels}}} {value}")
        for histogram in (self.ttft, self.itl, self.per_token, self.queue, self.e2e):
            lines.extend(histogram.render(labels))
        return "\n".join(lines) + "\n"
