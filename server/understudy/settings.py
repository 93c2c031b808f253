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
    engine: str | None = None
    """Simulated inference engine: a bundled profile (small, large) or a YAML file."""
    # Anthropic message threads
    thread_idle_seconds: float = 300.0
    """A message thread left this long without a request is forgotten (Anthropic: 5 min)."""
    # Control plane (sec-control): host names the server answers besides loopback names
    # and IP addresses; "*" answers any Host (DNS rebinding protection off).
    allowed_hosts: list[str] = field(default_factory=list)
    # Logging (logging): one line per model request at info ("understudy.requests"), and
    # the format of every log line: "text" or "json" (one JSON object per line).
    log_requests: bool = False
    log_format: str = "text"

    @classmethod
    def from_env(cls) -> "Settings":
        settings = cls()
        env = os.environ
        settings.host = env.get("UNDERSTUDY_HOST", settings.host)
        settings.port = int(env.get("UNDERSTUDY_PORT", settings.port))
        settings.scenarios = _env_list("UNDERSTUDY_SCENARIOS") or settings.scenarios
        settings.time_scale = float(env.get("UNDERSTUDY_TIME_SCALE", settings.time_scale))
        cors_origins = env.get("UNDERSTUDY_CORS_ORIGINS")
        if cors_origins is not None:
            # Origins hold ':' (http://localhost:3000), so this list is comma-separated.
            settings.cors_origins = [o for o in cors_origins.replace(",", " ").split() if o]
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
        settings.engine = env.get("UNDERSTUDY_ENGINE") or settings.engine
        # Anthropic message threads
        settings.thread_idle_seconds = float(
            env.get("UNDERSTUDY_THREAD_IDLE_SECONDS", settings.thread_idle_seconds)
        )
        # Control plane (sec-control).
        allowed_hosts = env.get("UNDERSTUDY_ALLOWED_HOSTS", "")
        settings.allowed_hosts = [h.strip() for h in allowed_hosts.split(",") if h.strip()]
        # Logging (logging).
        settings.log_requests = _env_bool("UNDERSTUDY_LOG_REQUESTS", settings.log_requests)
        settings.log_format = (
            env.get("UNDERSTUDY_LOG_FORMAT", "").strip().lower() or settings.log_format
        )
        return settings
