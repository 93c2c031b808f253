"""Server settings, from the command line or ``UNDERSTUDY_*`` environment variables.

Each setting is declared once, with its environment variable and how its text is read
and checked; a bad value is a ``SettingsError`` naming the variable, never a traceback.
"""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def bundled_scenarios() -> Path:
    """The bundled catalog: inside the wheel, or ``scenarios/`` at the top of a source
    checkout (the package lives in ``server/understudy/``)."""
    packaged = _PACKAGE / "bundled_scenarios"
    return packaged if packaged.is_dir() else _PACKAGE.parent.parent / "scenarios"


class SettingsError(ValueError):
    """A setting's value cannot be used; the message names the setting and why."""


# ----------------------------------------------------------------------------- readers


def _integer(text: str) -> int:
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        raise ValueError("not a whole number") from None


def _number(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"not one of {', '.join(_TRUE + _FALSE)}")


def _text(text: str) -> str | None:
    return text.strip() or None


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", " ").split() if part.strip()]


def _path_list(text: str) -> list[str]:
    return [part for part in text.split(os.pathsep) if part]


def _setting(
    default: Any,
    env: str,
    read: Callable[[str], Any] = _text,
    *,
    minimum: float | None = None,
    choices: Sequence[str] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field that knows its environment variable, reader and limits."""
    metadata = {"env": env, "read": read, "minimum": minimum, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@dataclass
class Settings:
    host: str = _setting("127.0.0.1", "UNDERSTUDY_HOST")
    port: int = _setting(8000, "UNDERSTUDY_PORT", _integer, minimum=0)
    scenarios: list[str] = _setting(
        None, "UNDERSTUDY_SCENARIOS", _path_list, factory=lambda: [str(bundled_scenarios())]
    )
    time_scale: float = _setting(1.0, "UNDERSTUDY_TIME_SCALE", _number, minimum=0)
    cors_origins: list[str] = _setting(
        None, "UNDERSTUDY_CORS_ORIGINS", _comma_list, factory=lambda: ["*"]
    )
    """Origins hold ':' (http://localhost:3000), so this list is comma-separated."""
    reasoning_field: str = _setting("reasoning_content", "UNDERSTUDY_REASONING_FIELD")
    obfuscation: bool = _setting(True, "UNDERSTUDY_OBFUSCATION", _boolean)
    max_body_bytes: int = _setting(
        32 * 1024 * 1024, "UNDERSTUDY_MAX_BODY_BYTES", _integer, minimum=1
    )
    log_level: str = _setting("info", "UNDERSTUDY_LOG_LEVEL", choices=LOG_LEVELS)
    log_requests: bool = _setting(False, "UNDERSTUDY_LOG_REQUESTS", _boolean)
    """One log line per model request (also on at log level debug)."""
    log_format: str = _setting("text", "UNDERSTUDY_LOG_FORMAT", choices=("text", "json"))
    workers: int = _setting(1, "UNDERSTUDY_WORKERS", _integer, minimum=1)
    chaos: str | None = _setting(None, "UNDERSTUDY_CHAOS")
    """Server-wide chaos profile: a bundled name (flaky, errors, framing) or a YAML file."""
    response_store_size: int = _setting(
        10_000, "UNDERSTUDY_RESPONSE_STORE_SIZE", _integer, minimum=0
    )
    journal_size: int = _setting(1000, "UNDERSTUDY_JOURNAL_SIZE", _integer, minimum=0)
    api_keys: list[str] = _setting(None, "UNDERSTUDY_API_KEYS", _comma_list, factory=list)
    admin_token: str | None = _setting(None, "UNDERSTUDY_ADMIN_TOKEN")
    reload: bool = _setting(True, "UNDERSTUDY_RELOAD", _boolean)
    engine: str | None = _setting(None, "UNDERSTUDY_ENGINE")
    """Simulated inference engine: a bundled profile (small, large) or a YAML file."""
    thread_idle_seconds: float = _setting(
        300.0, "UNDERSTUDY_THREAD_IDLE_SECONDS", _number, minimum=0
    )
    """A message thread left this long without a request is forgotten (Anthropic: 5 min)."""
    allowed_hosts: list[str] = _setting(None, "UNDERSTUDY_ALLOWED_HOSTS", _comma_list, factory=list)
    """Host names answered besides loopback names and IP addresses; "*" answers any."""
    timeline_events: int = _setting(2000, "UNDERSTUDY_TIMELINE_EVENTS", _integer, minimum=0)
    """Stream events whose send time the journal keeps, for the dashboard's timeline."""
    auto_max_size: int = _setting(100_000, "UNDERSTUDY_AUTO_MAX_SIZE", _integer, minimum=1)
    """Most characters, items and properties one generated value may have."""
    match_text_limit: int = _setting(64 * 1024, "UNDERSTUDY_MATCH_TEXT_LIMIT", _integer, minimum=1)
    """Characters of a prompt, system prompt or header value a scenario regex sees: the first N."""
    max_admin_body_bytes: int = _setting(
        1024 * 1024, "UNDERSTUDY_MAX_ADMIN_BODY_BYTES", _integer, minimum=1
    )
    """Largest admin request body (runtime scenarios); a larger one is refused with 413."""
    record: str | None = _setting(None, "UNDERSTUDY_RECORD")
    """A folder (a file per recording session) or one scenario file to record into."""
    record_mode: str | None = _setting(
        None, "UNDERSTUDY_RECORD_MODE", choices=("none", "once", "new_episodes", "all")
    )
    """none, once, new_episodes or all; new_episodes when ``record`` is set."""
    record_timing: str = _setting("exact", "UNDERSTUDY_RECORD_TIMING", choices=("exact", "summary"))
    """exact: every measured gap is kept; summary: TTFT, mean gap and spread."""
    upstream: str | None = _setting(None, "UNDERSTUDY_UPSTREAM")
    """The API to record from, for every provider (e.g. https://api.openai.com)."""
    upstream_openai: str | None = _setting(None, "UNDERSTUDY_UPSTREAM_OPENAI")
    upstream_anthropic: str | None = _setting(None, "UNDERSTUDY_UPSTREAM_ANTHROPIC")
    upstream_timeout: float = _setting(600.0, "UNDERSTUDY_UPSTREAM_TIMEOUT", _number, minimum=0)
    """Seconds to wait for the upstream to connect, or between two pieces of its answer."""
    lenient: bool = _setting(False, "UNDERSTUDY_LENIENT", _boolean)
    """Accept unknown request parameters (an OpenAI-compatible client's extras); types,
    ranges and shapes of known ones are still checked."""
    max_output_tokens: int = _setting(128_000, "UNDERSTUDY_MAX_OUTPUT_TOKENS", _integer, minimum=0)
    """The largest output-token limit a request may ask for, as the providers' largest
    model allows (0: no limit)."""

    # Memory budgets (docs/security.md): every cap a client or a test could otherwise
    # grow without bound.
    max_header_bytes: int = _setting(64 * 1024, "UNDERSTUDY_MAX_HEADER_BYTES", _integer, minimum=1)
    """Request headers larger than this in all (names and values) are answered 431."""
    max_header_count: int = _setting(100, "UNDERSTUDY_MAX_HEADER_COUNT", _integer, minimum=1)
    """Requests with more header lines than this are answered 431."""
    journal_body_bytes: int = _setting(
        64 * 1024, "UNDERSTUDY_JOURNAL_BODY_BYTES", _integer, minimum=0
    )
    """How much of each request body a journal entry keeps (JSON, about this many bytes)."""
    journal_header_bytes: int = _setting(
        8 * 1024, "UNDERSTUDY_JOURNAL_HEADER_BYTES", _integer, minimum=0
    )
    """How much of each header value a journal entry keeps."""
    journal_max_bytes: int = _setting(
        64 * 1024 * 1024, "UNDERSTUDY_JOURNAL_MAX_BYTES", _integer, minimum=0
    )
    """The journal's byte budget: the oldest entries go once the kept bodies and headers
    add up to more (``journal_size`` bounds the count)."""
    journal_subscribers: int = _setting(32, "UNDERSTUDY_JOURNAL_SUBSCRIBERS", _integer, minimum=0)
    """Live journal streams open at once; the next one is answered 503."""
    journal_send_timeout: float = _setting(
        10.0, "UNDERSTUDY_JOURNAL_SEND_TIMEOUT", _number, minimum=0
    )
    """A live journal stream whose client takes longer than this to accept one event is
    dropped."""
    runtime_scenarios_per_namespace: int = _setting(
        500, "UNDERSTUDY_RUNTIME_SCENARIOS_PER_NAMESPACE", _integer, minimum=0
    )
    runtime_scenarios_total: int = _setting(
        5000, "UNDERSTUDY_RUNTIME_SCENARIOS_TOTAL", _integer, minimum=0
    )
    runtime_scenarios_bytes: int = _setting(
        64 * 1024 * 1024, "UNDERSTUDY_RUNTIME_SCENARIOS_BYTES", _integer, minimum=0
    )
    """Bytes of admin bodies the runtime scenarios were added with, in all."""
    response_store_bytes: int = _setting(
        64 * 1024 * 1024, "UNDERSTUDY_RESPONSE_STORE_BYTES", _integer, minimum=0
    )
    """The stored Responses' byte budget, besides ``response_store_size``."""
    metrics_scenario_labels: int = _setting(
        500, "UNDERSTUDY_METRICS_SCENARIO_LABELS", _integer, minimum=0
    )
    """Distinct ``scenario`` labels in ``/metrics``; the rest count as ``other``."""
    max_stall_seconds: float = _setting(300.0, "UNDERSTUDY_MAX_STALL_SECONDS", _number, minimum=0)
    """The longest a ``stall`` fault holds a reply before the server cuts the connection."""
    max_streams: int = _setting(0, "UNDERSTUDY_MAX_STREAMS", _integer, minimum=0)
    """Streams open at once before new streaming requests get the provider's overloaded
    error; 0: no limit."""

    # Scale out (redis): state shared by several workers and replicas.
    state: str | None = _setting(None, "UNDERSTUDY_STATE")
    """Where shared state lives: unset for this process's memory, or a Redis URL
    (``redis://host:6379/0``) so several workers and replicas answer as one server."""
    state_timeout: float = _setting(0.5, "UNDERSTUDY_STATE_TIMEOUT", _number, minimum=0.01)
    """Seconds any one call to the shared state may take before it counts as lost."""
    state_queue: int = _setting(10_000, "UNDERSTUDY_STATE_QUEUE", _integer, minimum=1)
    """Journal entries waiting to be written to the shared state; more are dropped."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Defaults, overridden by every ``UNDERSTUDY_*`` variable that is set; raises
        ``SettingsError`` for a value that cannot be used."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = spec.metadata["env"]
            text = env.get(name)
            if text is None or (text.strip() == "" and spec.metadata["read"] is not _text):
                continue
            try:
                values[spec.name] = spec.metadata["read"](text)
            except ValueError as exc:
                raise SettingsError(f"{name}={text!r}: {exc}") from None
        settings = cls(**values)
        if settings.record and not env.get("UNDERSTUDY_SCENARIOS"):
            settings.scenarios = []  # recording serves what it recorded, not the bundle
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values out of range, naming the setting's environment variable."""
        for spec in fields(self):
            value = getattr(self, spec.name)
            name = spec.metadata["env"]
            minimum, choices = spec.metadata["minimum"], spec.metadata["choices"]
            if minimum is not None and value < minimum:
                raise SettingsError(f"{name}={value!r}: must be at least {minimum:g}")
            if choices is not None and value is not None and value not in choices:
                raise SettingsError(f"{name}={value!r}: must be one of {', '.join(choices)}")


def env_name(setting: str) -> str:
    """The environment variable of a setting, for messages and docs."""
    for spec in fields(Settings):
        if spec.name == setting:
            return spec.metadata["env"]
    raise KeyError(setting)
