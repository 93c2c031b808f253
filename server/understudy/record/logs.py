"""Understudy's log records: what they say, and how ``understudy serve`` writes them.

Three loggers: ``understudy`` (start-up, unhandled errors), ``understudy.reload`` (hot
reload) and ``understudy.requests`` (one line per completed model request, when asked
for). A record may carry structured fields (``extra=fields(...)``): the text format
shows the message only, the JSON format adds the fields as keys, so a log collector gets
a request's status or scenario without parsing the message.
"""

import logging
from typing import Any

import orjson

from understudy.core.words import plural
from understudy.record.journal import Call, iso_time

LEVELS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}
"""The ``--log-level`` names (uvicorn's): ``trace`` is below ``debug``."""
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = "understudy_fields"
"""The record attribute that holds a record's structured fields."""

requests_logger = logging.getLogger("understudy.requests")


def fields(**values: Any) -> dict[str, Any]:
    """The ``extra`` of a log call whose ``values`` the JSON format writes as keys."""
    return {FIELDS: values}


def stream_outcome(call: Call) -> str | None:
    """How a stream ended: ``completed``, ``client_left``, ``cut`` (by a fault or at
    shutdown) or ``failed``; None for a request that did not stream."""
    outcome = call.outcome
    if outcome is None:
        return None
    if outcome.cut:
        return "cut"
    if outcome.disconnected:
        return "client_left"
    return "completed" if outcome.completed else "failed"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _stream_phrase(call: Call, kind: str, events: int) -> str:
    sent = plural(events, "event")
    if kind == "completed":
        return f"stream: completed ({sent})"
    if kind == "client_left":
        return f"stream: client left after {sent}"
    if kind == "cut":
        return f"stream: cut by {'fault' if call.fault else 'shutdown'} after {sent}"
    return f"stream: failed after {sent}"


def log_call(call: Call) -> None:
    """Log a completed model request on ``understudy.requests``.

    The caller checks that the logger is enabled first, so a server that does not log
    requests formats nothing. Only what the journal shows unredacted goes in: no headers,
    no body, no error text (a 401 names part of the key it refused).
    """
    outcome = call.outcome
    kind = stream_outcome(call)
    events = outcome.events_sent if outcome is not None else None
    ttft = outcome.ttft if outcome is not None else None
    duration = _ms(call.finished_at - call.started_at)
    head = f"{call.method} {call.path} {call.status} namespace={call.namespace or '-'}"
    head += f" scenario={call.scenario or '-'}"
    if call.fault:
        head += f" fault={orjson.dumps(call.fault).decode()}"
    details = []
    if kind is not None:
        details.append(_stream_phrase(call, kind, events or 0))
    if ttft is not None:
        details.append(f"ttft {_ms(ttft)} ms")
    details.append(f"total {duration} ms")
    requests_logger.info(
        "%s: %s",
        head,
        ", ".join(details),
        extra=fields(
            api=call.api,
            method=call.method,
            path=call.path,
            status=call.status,
            namespace=call.namespace,
            scenario=call.scenario,
            reply_index=call.reply_index,
            request_id=call.request_id,
            fault=call.fault,
            stream=call.stream,
            outcome=kind,
            events=events,
            ttft_ms=None if ttft is None else _ms(ttft),
            duration_ms=duration,
        ),
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in getattr(record, FIELDS, {}).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def config(level: str = "info", log_format: str = "text", log_requests: bool = False) -> dict:
    """uvicorn's ``log_config``: uvicorn's loggers and Understudy's write through one
    handler on stderr, in one format (``TEXT_FORMAT`` or JSON lines)."""
    number = LEVELS[level.lower()]
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    own = {"handlers": ["default"], "level": number, "propagate": False}
    loggers: dict[str, Any] = {
        "uvicorn": own,
        "uvicorn.error": {"level": number},
        "understudy": dict(own),
    }
    # Request lines are info records, but only --log-requests or debug asks for them.
    if log_requests or number <= logging.DEBUG:
        requests_level = min(number, logging.INFO)
    else:
        requests_level = max(number, logging.WARNING)
    loggers["understudy.requests"] = {"level": requests_level}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": loggers,
    }
