"""Where a log is kept: one interface (:class:`~fastcommerce.eventlog.EventLog`), two engines.

SQLite (a file path, the embedded default) is :class:`~fastcommerce.eventlog.EventLog`
itself; PostgreSQL (a ``postgresql://`` URL, psycopg 3 from the ``postgres`` extra) is
:class:`~fastcommerce.storage.postgres.PostgresEventLog`, which overrides only what the
engine does differently. The SQL differences live in :mod:`fastcommerce.storage.dialect`.
"""

from __future__ import annotations

from pathlib import Path

from ..eventlog import DEFAULT_BUSY_TIMEOUT, EventLog
from .postgres import PostgresEventLog, is_postgres


def open_log(target: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> EventLog:
    """The log at ``target``: a ``postgresql://`` URL, or an SQLite file path (``:memory:``)."""
    if is_postgres(target):
        return PostgresEventLog.open(str(target), busy_timeout=busy_timeout)
    return EventLog.open(target, busy_timeout=busy_timeout)


def engine_of(log: EventLog) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return "postgresql" if isinstance(log, PostgresEventLog) else "sqlite"


__all__ = ["PostgresEventLog", "engine_of", "is_postgres", "open_log"]
