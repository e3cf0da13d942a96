"""The library's loggers: structlog's when the application configured structlog, the
standard library's otherwise.

An unconfigured structlog prints every event, debug included, to standard output. A script
that prints its own results (JSON, a report) through the Python API would get them mixed
with our log lines. The library must not configure logging on import either, so each call
looks: if structlog is configured (the command line does it; so can any application), the
event goes through structlog's configuration, context variables included. If not, it goes
to ``logging.getLogger(name)``, where Python's defaults show warnings and errors on
standard error and drop the rest until the application configures ``logging``.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from .urls import redact_values

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class Logger:
    """A logger with bound context; see the module docstring for where events go."""

    __slots__ = ("_context", "name")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self.name, self._context = name, context or {}

    def bind(self, **context: Any) -> Logger:
        return Logger(self.name, {**self._context, **context})

    def _log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        merged = {**self._context, **fields}  # a call's value wins over a bound one, as in structlog
        redact_values(None, level, merged)  # a URL's user info, path token or query never reaches a log
        if structlog.is_configured():
            getattr(structlog.get_logger(self.name), level)(event, **merged)
            return
        std, number = logging.getLogger(self.name), _LEVELS[level]
        if std.isEnabledFor(number):
            pairs = "".join(f" {k}={v!r}" for k, v in merged.items())
            std.log(number, "%s%s", event, pairs, stacklevel=3)  # the record names our caller

    def debug(self, event: str, **fields: Any) -> None:
        self._log("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, fields)


def get_logger(name: str) -> Logger:
    return Logger(name)
