"""Server settings, from the command line or ``UNDERSTUDY_*`` environment variables."""

import os
from dataclasses import dataclass, field
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_scenarios() -> Path:
    """The bundled catalog: inside the wheel, or ``scenarios/`` at the top of a source
    checkout (the package lives in ``server/understudy/``)."""
    packaged = _PACKAGE / "bundled_scenarios"
    return packaged if packaged.is_dir() else _PACKAGE.parent.parent / "scenarios"


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [part for part in value.split(os.pathsep) if part]


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    scenarios: list[str] = field(default_factory=lambda: [str(bundled_scenarios())])
    time_scale: float = 1.0
    cors_origins: list[str] = field(default_factory=lambda: ["*"])
    reasoning_field: str = "reasoning_content"
    obfuscation: bool = True
    max_body_bytes: int = 32 * 1024 * 1024
    log_level: str = "info"
    workers: int = 1
    chaos: str | None = None
    """Server-wide chaos profile: a bundled name (flaky, errors, framing) or a YAML file."""
    response_store_size: int = 10_000
    journal_size: int = 1000
    api_keys: list[str] = field(default_factory=list)
    admin_token: str | None = None
    reload: bool = True
    # Memory budgets (docs/security.md): every cap a client or a test could otherwise
    # grow without bound.
    max_header_bytes: int = 64 * 1024
    """Request headers larger than this in all (names and values) are answered 431."""
    max_header_count: int = 100
    """Requests with more header lines than this are answered 431."""
    journal_body_bytes: int = 64 * 1024
    """How much of each request body a journal entry keeps (JSON, about this many bytes)."""
    journal_header_bytes: int = 8 * 1024
    """How much of each header value a journal entry keeps."""
    journal_max_bytes: int = 64 * 1024 * 1024
    """The journal's byte budget: the oldest entries go once the kept bodies and headers
    add up to more (``journal_size`` bounds the count)."""
    journal_subscribers: int = 32
    """Live journal streams open at once; the next one is answered 503."""
    journal_send_timeout: float = 10.0
    """A live journal stream whose client takes longer than this to accept one event is
    dropped."""
    runtime_scenarios_per_namespace: int = 500
    runtime_scenarios_total: int = 5000
    runtime_scenarios_bytes: int = 64 * 1024 * 1024
    """Bytes of admin bodies the runtime scenarios were added with, in all."""
    response_store_bytes: int = 64 * 1024 * 1024
    """The stored Responses' byte budget, besides ``response_store_size``."""
    metrics_scenario_labels: int = 500
    """Distinct ``scenario`` labels in ``/metrics``; the rest count as ``other``."""
    max_stall_seconds: float = 300.0
    """The longest a ``stall`` fault holds a reply before the server cuts the connection."""
    max_streams: int = 0
    """Streams open at once before new streaming requests get the provider's overloaded
    error; 0: no limit."""

    @classmethod
    def from_env(cls) -> "Settings":
        settings = cls()
        env = os.environ
        settings.host = env.get("UNDERSTUDY_HOST", settings.host)
        settings.port = int(env.get("UNDERSTUDY_PORT", settings.port))
        settings.scenarios = _env_list("UNDERSTUDY_SCENARIOS") or settings.scenarios
        settings.time_scale = float(env.get("UNDERSTUDY_TIME_SCALE", settings.time_scale))
        cors_origins = _env_list("UNDERSTUDY_CORS_ORIGINS")
        if cors_origins is not None:
            settings.cors_origins = cors_origins
        settings.reasoning_field = env.get("UNDERSTUDY_REASONING_FIELD", settings.reasoning_field)
        settings.obfuscation = _env_bool("UNDERSTUDY_OBFUSCATION", settings.obfuscation)
        settings.max_body_bytes = int(env.get("UNDERSTUDY_MAX_BODY_BYTES", settings.max_body_bytes))
        settings.log_level = env.get("UNDERSTUDY_LOG_LEVEL", settings.log_level)
        settings.workers = int(env.get("UNDERSTUDY_WORKERS", settings.workers))
        settings.chaos = env.get("UNDERSTUDY_CHAOS") or settings.chaos
        settings.response_store_size = int(
            env.get("UNDERSTUDY_RESPONSE_STORE_SIZE", settings.response_store_size)
        )
        settings.journal_size = int(env.get("UNDERSTUDY_JOURNAL_SIZE", settings.journal_size))
        api_keys = env.get("UNDERSTUDY_API_KEYS", "")
        settings.api_keys = [key.strip() for key in api_keys.split(",") if key.strip()]
        settings.admin_token = env.get("UNDERSTUDY_ADMIN_TOKEN") or None
        settings.reload = _env_bool("UNDERSTUDY_RELOAD", settings.reload)
        # Memory budgets (docs/security.md).
        settings.max_header_bytes = int(
            env.get("UNDERSTUDY_MAX_HEADER_BYTES", settings.max_header_bytes)
        )
        settings.max_header_count = int(
            env.get("UNDERSTUDY_MAX_HEADER_COUNT", settings.max_header_count)
        )
        settings.journal_body_bytes = int(
            env.get("UNDERSTUDY_JOURNAL_BODY_BYTES", settings.journal_body_bytes)
        )
        settings.journal_header_bytes = int(
            env.get("UNDERSTUDY_JOURNAL_HEADER_BYTES", settings.journal_header_bytes)
        )
        settings.journal_max_bytes = int(
            env.get("UNDERSTUDY_JOURNAL_MAX_BYTES", settings.journal_max_bytes)
        )
        settings.journal_subscribers = int(
            env.get("UNDERSTUDY_JOURNAL_SUBSCRIBERS", settings.journal_subscribers)
        )
        settings.journal_send_timeout = float(
            env.get("UNDERSTUDY_JOURNAL_SEND_TIMEOUT", settings.journal_send_timeout)
        )
        settings.runtime_scenarios_per_namespace = int(
            env.get(
                "UNDERSTUDY_RUNTIME_SCENARIOS_PER_NAMESPACE",
                settings.runtime_scenarios_per_namespace,
            )
        )
        settings.runtime_scenarios_total = int(
            env.get("UNDERSTUDY_RUNTIME_SCENARIOS_TOTAL", settings.runtime_scenarios_total)
        )
        settings.runtime_scenarios_bytes = int(
            env.get("UNDERSTUDY_RUNTIME_SCENARIOS_BYTES", settings.runtime_scenarios_bytes)
        )
        settings.response_store_bytes = int(
            env.get("UNDERSTUDY_RESPONSE_STORE_BYTES", settings.response_store_bytes)
        )
        settings.metrics_scenario_labels = int(
            env.get("UNDERSTUDY_METRICS_SCENARIO_LABELS", settings.metrics_scenario_labels)
        )
        settings.max_stall_seconds = float(
            env.get("UNDERSTUDY_MAX_STALL_SECONDS", settings.max_stall_seconds)
        )
        settings.max_streams = int(env.get("UNDERSTUDY_MAX_STREAMS", settings.max_streams))
        return settings
