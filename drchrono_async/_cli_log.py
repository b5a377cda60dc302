"""Logging for the long-running commands (`sync`, `worker`): plain lines or JSON, on stderr.

The library's loggers (`drchrono_async.*`: quota pauses, retries, sync warnings) go at INFO,
everyone else's at WARNING: httpx would log every request at INFO. JSON lines carry `time`
(ISO 8601 UTC), `level`, `logger`, `message` and the record's own `fields` (counts, names:
never a token or a record). A logged exception carries its type only: a database's or
Redis's error text can quote values, and a traceback for an expected failure is noise.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "emit", "setup_logging"]

FORMATS = ("text", "json")
_CLI = logging.getLogger("drchrono_async.cli")
_HANDLER = "drchrono-async-cli"


class TextFormatter(logging.Formatter):
    """`2026-01-01T10:00:00Z INFO drchrono_async.ratelimit: message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso(record.created)

    def formatException(self, ei: Any) -> str:
        return f"({ei[0].__name__})" if ei and ei[0] is not None else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per record, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
        return json.dumps(out, default=str, ensure_ascii=False)


def setup_logging(fmt: str, *, level: int = logging.INFO, loud: tuple[str, ...] = ()) -> None:
    """Route every record to stderr in `fmt` ("text" or "json"): the library's loggers (and
    `loud`, e.g. procrastinate's for the worker) at `level`, the rest at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in list(root.handlers):  # a command run again in one process: ours only
        if old.get_name() == _HANDLER:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("drchrono_async", *loud):
        logging.getLogger(name).setLevel(level)


def emit(fmt: str, message: str, **fields: Any) -> None:
    """One line of a command's own: in text, to stdout with the time; in JSON, a record of
    `drchrono_async.cli` with `fields` (so that one stream holds every JSON line)."""
    if fmt == "json":
        _CLI.info(message, extra={"fields": fields})
    else:
        print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {message}", flush=True)


def _iso(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
