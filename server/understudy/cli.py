"""The ``understudy`` command: serve, validate, scenarios, schema."""

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from understudy._version import __version__
from understudy.core.words import plural
from understudy.engine import load_profile
from understudy.engine.profile import profile_schema as engine_schema
from understudy.faults.chaos import load_chaos
from understudy.faults.chaos import profile_schema as chaos_schema
from understudy.format import FormatError
from understudy.record import logs
from understudy.record.cassette import TIMINGS
from understudy.record.recorder import DEFAULT_MODE, MODES, Recorder
from understudy.scenarios import Scenario, listing, load_paths
from understudy.scenarios.catalog import Catalog
from understudy.scenarios.loader import load_located_paths, scenario_files
from understudy.scenarios.schema import file_schema, scenario_schema
from understudy.settings import Settings, SettingsError

SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "file": file_schema,
    "scenario": scenario_schema,
    "chaos": chaos_schema,
    "engine": engine_schema,
}
"""``understudy schema --kind``: what each JSON Schema describes a document of."""


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line (the choices are in it), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="understudy", description="Mock and reference server for LLM provider APIs."
    )
    parser.add_argument("--version", action="version", version=f"understudy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the APIs from a scenario catalog")
    serve.add_argument("--host", help="bind address (env UNDERSTUDY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env UNDERSTUDY_PORT, default 8000)")
    serve.add_argument(
        "--scenarios",
        nargs="+",
        metavar="PATH",
        help="scenario files or directories (env UNDERSTUDY_SCENARIOS; default: bundled)",
    )
    serve.add_argument(
        "--time-scale",
        type=float,
        help="multiply every scripted delay (0 = no waits; env UNDERSTUDY_TIME_SCALE)",
    )
    serve.add_argument("--workers", type=int, help="worker processes (env UNDERSTUDY_WORKERS)")
    serve.add_argument(
        "--chaos",
        metavar="PROFILE",
        help="server-wide chaos for replies that script no fault: flaky, errors, framing, or "
        "a YAML file (env UNDERSTUDY_CHAOS; docs/faults.md)",
    )
    serve.add_argument(
        "--engine",
        metavar="PROFILE",
        help="simulate an inference server whose latency grows with load: small, large, or "
        "a YAML file (env UNDERSTUDY_ENGINE; docs/engine.md)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=list(logs.LEVELS),
        help="log level of the server and uvicorn (env UNDERSTUDY_LOG_LEVEL, default info; "
        "debug also logs every model request)",
    )
    serve.add_argument(
        "--log-requests",
        action="store_true",
        default=None,
        help="log one line per model request at info: status, scenario, stream outcome, "
        "TTFT, duration (env UNDERSTUDY_LOG_REQUESTS=1)",
    )
    serve.add_argument(
        "--log-format",
        type=str.lower,
        choices=logs.FORMATS,
        help="text lines, or one JSON object per line (env UNDERSTUDY_LOG_FORMAT, default text)",
    )
    serve.add_argument(
        "--cors-origins",
        nargs="*",
        metavar="ORIGIN",
        help="origins allowed to call the model routes from a browser, e.g. "
        "http://localhost:3000; none disables CORS (env UNDERSTUDY_CORS_ORIGINS, "
        "comma-separated; default *)",
    )
    serve.add_argument(
        "--journal-size",
        type=int,
        help="requests kept in the journal (env UNDERSTUDY_JOURNAL_SIZE, default 1000)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="require this API key on model endpoints; repeat for several "
        "(env UNDERSTUDY_API_KEYS, comma-separated; default: no check)",
    )
    serve.add_argument(
        "--admin-token",
        help="require 'Authorization: Bearer TOKEN' on /_understudy/ admin routes "
        "(env UNDERSTUDY_ADMIN_TOKEN)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        metavar="NAME",
        help="also answer requests for this Host name (a compose service name, say); "
        "'*' answers any; repeat for several (env UNDERSTUDY_ALLOWED_HOSTS, comma-separated; "
        "default: loopback names and IP addresses only)",
    )
    serve.add_argument(
        "--no-reload",
        dest="reload",
        action="store_false",
        default=None,
        help="do not watch scenario files for changes (env UNDERSTUDY_RELOAD=0)",
    )
    serve.add_argument(
        "--timeline-events",
        type=int,
        help="events of a paced or faulted stream whose send times the journal keeps for "
        "the dashboard's timeline; 0 = none (env UNDERSTUDY_TIMELINE_EVENTS, default 2000)",
    )

    # Safe by default: scenario patterns and parsing (sec-regex).
    serve.add_argument(
        "--match-text-limit",
        type=int,
        metavar="CHARS",
        help="characters of a prompt, system prompt or header a scenario regex sees "
        "(env UNDERSTUDY_MATCH_TEXT_LIMIT, default 65536)",
    )
    serve.add_argument(
        "--max-admin-body-bytes",
        type=int,
        metavar="BYTES",
        help="largest admin request body, e.g. runtime scenarios "
        "(env UNDERSTUDY_MAX_ADMIN_BODY_BYTES, default 1048576)",
    )

    record = serve.add_argument_group(
        "record and replay", "forward unmatched requests to a real API and keep its answers"
    )
    record.add_argument(
        "--record",
        metavar="DIR",
        help="record into this folder (a file per session) or scenario file, and serve what "
        "it holds (env UNDERSTUDY_RECORD; docs/record.md)",
    )
    record.add_argument(
        "--record-mode",
        choices=MODES,
        help="none: replay only; once: record if nothing is recorded yet; new_episodes: "
        "record what no scenario answers (default); all: re-record everything "
        "(env UNDERSTUDY_RECORD_MODE)",
    )
    record.add_argument(
        "--record-timing",
        choices=TIMINGS,
        help="exact: keep every measured gap (default); summary: TTFT, mean gap and spread "
        "(env UNDERSTUDY_RECORD_TIMING)",
    )
    record.add_argument(
        "--upstream",
        metavar="URL",
        help="the real API for every provider (env UNDERSTUDY_UPSTREAM)",
    )
    record.add_argument(
        "--upstream-openai",
        metavar="URL",
        help="the OpenAI API, e.g. https://api.openai.com (env UNDERSTUDY_UPSTREAM_OPENAI)",
    )
    record.add_argument(
        "--upstream-anthropic",
        metavar="URL",
        help="the Anthropic API, e.g. https://api.anthropic.com "
        "(env UNDERSTUDY_UPSTREAM_ANTHROPIC)",
    )
    record.add_argument(
        "--upstream-timeout",
        type=float,
        metavar="SECONDS",
        help="wait this long for the upstream to connect or send more "
        "(env UNDERSTUDY_UPSTREAM_TIMEOUT, default 600)",
    )
    # Request fidelity
    serve.add_argument(
        "--lenient",
        action="store_true",
        default=None,
        help="accept unknown request parameters, e.g. an OpenAI-compatible endpoint's extra "
        "fields (env UNDERSTUDY_LENIENT; per request: header X-Understudy-Lenient; default: "
        "refuse them as the providers do)",
    )
    serve.add_argument(
        "--max-output-tokens",
        type=int,
        metavar="N",
        help="refuse max_tokens above N, as no model offers more (env "
        "UNDERSTUDY_MAX_OUTPUT_TOKENS, default 128000; 0: no limit)",
    )
    # Memory budgets (docs/security.md); the other caps are environment variables.
    serve.add_argument(
        "--max-streams",
        type=int,
        help="streams open at once before new ones get the provider's overloaded error "
        "(env UNDERSTUDY_MAX_STREAMS; default 0 = no limit)",
    )
    serve.add_argument(
        "--max-stall-seconds",
        type=float,
        help="cut the connection of a stall fault after this long "
        "(env UNDERSTUDY_MAX_STALL_SECONDS; default 300)",
    )

    # Scale out (redis): state shared by several workers and replicas.
    serve.add_argument(
        "--state",
        metavar="URL",
        help="share journal, runtime scenarios, counters and kept replies through this Redis, "
        "e.g. redis://127.0.0.1:6379/0; needed for --workers above 1 "
        "(env UNDERSTUDY_STATE; default: this process's memory; docs/scaling.md)",
    )

    validate = commands.add_parser("validate", help="check scenario files and exit")
    validate.add_argument("paths", nargs="+", metavar="PATH")

    scenarios = commands.add_parser(
        "scenarios",
        help="list the scenarios a server would serve, in the order they are matched",
    )
    scenarios.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="scenario files or directories (default: env UNDERSTUDY_SCENARIOS, else bundled)",
    )

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of a scenario file (or of one scenario, a chaos or an "
        "engine profile), for editors and other tools",
    )
    schema.add_argument(
        "--kind",
        choices=list(SCHEMAS),
        default="file",
        help="file: a document of a scenario file, which holds one scenario or a list "
        "(default); scenario: one scenario; chaos: a --chaos file; engine: an --engine file",
    )
    return parser


def _export(args: argparse.Namespace) -> None:
    """Pass command-line settings to the app factory (and to workers) through the environment."""
    values = {
        "UNDERSTUDY_HOST": args.host,
        "UNDERSTUDY_PORT": args.port,
        "UNDERSTUDY_SCENARIOS": os.pathsep.join(args.scenarios) if args.scenarios else None,
        "UNDERSTUDY_TIME_SCALE": args.time_scale,
        "UNDERSTUDY_WORKERS": args.workers,
        "UNDERSTUDY_CHAOS": args.chaos,
        "UNDERSTUDY_ENGINE": args.engine,
        "UNDERSTUDY_LOG_LEVEL": args.log_level,
        "UNDERSTUDY_CORS_ORIGINS": (
            ",".join(args.cors_origins) if args.cors_origins is not None else None
        ),
        "UNDERSTUDY_JOURNAL_SIZE": args.journal_size,
        "UNDERSTUDY_API_KEYS": ",".join(args.api_keys) if args.api_keys else None,
        "UNDERSTUDY_ADMIN_TOKEN": args.admin_token,
        "UNDERSTUDY_RELOAD": None if args.reload is None else "0",
        "UNDERSTUDY_ALLOWED_HOSTS": ",".join(args.allowed_hosts) if args.allowed_hosts else None,
        "UNDERSTUDY_TIMELINE_EVENTS": args.timeline_events,
        # Safe by default: scenario patterns and parsing (sec-regex).
        "UNDERSTUDY_MATCH_TEXT_LIMIT": args.match_text_limit,
        "UNDERSTUDY_MAX_ADMIN_BODY_BYTES": args.max_admin_body_bytes,
        "UNDERSTUDY_RECORD": args.record,
        "UNDERSTUDY_RECORD_MODE": args.record_mode,
        "UNDERSTUDY_RECORD_TIMING": args.record_timing,
        "UNDERSTUDY_UPSTREAM": args.upstream,
        "UNDERSTUDY_UPSTREAM_OPENAI": args.upstream_openai,
        "UNDERSTUDY_UPSTREAM_ANTHROPIC": args.upstream_anthropic,
        "UNDERSTUDY_UPSTREAM_TIMEOUT": args.upstream_timeout,
        # Request fidelity
        "UNDERSTUDY_LENIENT": "1" if args.lenient else None,
        "UNDERSTUDY_MAX_OUTPUT_TOKENS": args.max_output_tokens,
        "UNDERSTUDY_MAX_STREAMS": args.max_streams,
        "UNDERSTUDY_MAX_STALL_SECONDS": args.max_stall_seconds,
        "UNDERSTUDY_LOG_REQUESTS": "1" if args.log_requests else None,
        "UNDERSTUDY_LOG_FORMAT": args.log_format,
        # Scale out (redis)
        "UNDERSTUDY_STATE": args.state,
    }
    for name, value in values.items():
        if value is not None:
            os.environ[name] = str(value)


def _stop_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    # uvicorn drains on SIGTERM, then raises the signal again for the handler that was
    # there before it: the default one would end a drained server with status 143 (on a
    # plain host; PID 1 in a container ignores it). This one makes it exit 0, before
    # start-up as well.
    signal.signal(signal.SIGTERM, _stop_cleanly)
    _export(args)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"understudy: {exc}", file=sys.stderr)
        return 2
    problem = record_problem(settings)
    if problem:
        print(f"understudy: {problem}", file=sys.stderr)
        return 2
    for what, load in (
        ("scenarios", lambda: Catalog(load_paths(settings.scenarios))),
        ("chaos profile", lambda: load_chaos(settings.chaos)),
        ("engine profile", lambda: load_profile(settings.engine)),
        ("recording", lambda: Recorder.open(settings)),
    ):
        try:
            load()
        except FormatError as exc:
            print(f"understudy: invalid {what}:\n{exc}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"understudy: invalid {what}: {exc}", file=sys.stderr)
            return 2
    problem = state_problem(settings)
    if problem:
        print(f"understudy: {problem}", file=sys.stderr)
        return 2
    uvicorn.run(
        "understudy.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        log_level=settings.log_level,
        log_config=logs.config(settings.log_level, settings.log_format, settings.log_requests),
        loop="uvloop",
        http="httptools",
        access_log=False,
        timeout_graceful_shutdown=5,
        # The lifespan runs the scenario watcher and connects the state backend: if it
        # fails, exit instead of serving without them ("auto" would go on quietly).
        lifespan="on",
    )
    return 0


def record_problem(settings: Settings) -> str | None:
    """What is wrong with the record settings, if anything."""
    if settings.record_mode and not settings.record:
        return "--record-mode needs --record DIR"
    if settings.record_timing not in TIMINGS:
        return f"record timing must be one of {', '.join(TIMINGS)}"
    mode = settings.record_mode or DEFAULT_MODE
    if settings.record and mode != "none":
        upstreams = (settings.upstream, settings.upstream_openai, settings.upstream_anthropic)
        if not any(upstreams):
            return "--record needs --upstream URL (or --upstream-openai / --upstream-anthropic)"
    return None


def state_problem(settings: Settings) -> str | None:
    """Why the server cannot start with this shared state, if it cannot: several workers
    each with their own state, or a Redis that does not answer."""
    if settings.state:
        try:
            from understudy.state.redis_backend import check
        except ImportError:
            return "--state needs the Redis client: pip install 'understudy[redis]'"
        return check(settings.state, settings.state_timeout)
    if settings.workers > 1:
        return (
            f"--workers {settings.workers} needs shared state: each worker would have its "
            "own journal, runtime scenarios and reply counters. Pass --state "
            "redis://HOST:PORT/DB (env UNDERSTUDY_STATE), or use one worker."
        )
    return None


def validate(paths: Sequence[str]) -> int:
    loaded = _catalog(paths)
    if isinstance(loaded, int):
        return loaded
    print(f"ok: {plural(len(loaded), 'scenario')}")
    return 0


def list_scenarios(paths: Sequence[str]) -> int:
    """Print the catalog ``paths`` make, in matching order, marking the default."""
    if not paths:
        try:
            paths = Settings.from_env().scenarios
        except ValueError as exc:
            print(f"understudy: {exc}", file=sys.stderr)
            return 2
    loaded = _catalog(paths)
    if isinstance(loaded, int):
        return loaded
    for line in listing.table(loaded, Catalog(scenario for scenario, _ in loaded)):
        print(line)
    return 0


def _catalog(paths: Sequence[str]) -> list[tuple[Scenario, str]] | int:
    """The scenarios ``paths`` hold, each with its ``file:line``, checked as a catalog; or,
    with the problems printed, exit status 1. Paths that hold no scenario are a problem
    here (a server would start, with a warning, and answer every request with a 404)."""
    shown = ", ".join(map(str, paths))
    if not scenario_files(paths):
        print(f"no scenario files in {shown} (*.yaml, *.yml or *.json)", file=sys.stderr)
        return 1
    try:
        located = load_located_paths(paths)
        Catalog(scenario for scenario, _ in located)
    except FormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"invalid catalog: {exc}", file=sys.stderr)
        return 1
    if not located:
        print(f"no scenarios in {shown}", file=sys.stderr)
        return 1
    return located


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "validate":
            return validate(args.paths)
        if args.command == "scenarios":
            return list_scenarios(args.paths)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C while loading, before uvicorn handles signals (it handles them after).
        print("understudy: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(SCHEMAS[args.kind](), indent=2))
    return 0
