"""Every error the library raises, under one base class.

sqlite3 errors are translated at the storage boundary (``raise ... from e``) so callers
never need to import sqlite3 to handle a locked database.
"""

from __future__ import annotations


class FastCommerceError(Exception):
    """Base class of every error raised by fastcommerce."""


class PluginConfigError(FastCommerceError):
    """The registered plugins contradict each other (a gap in an upcaster chain,
    two plugins claiming the same step, a record that two variants both claim)."""


class PluginLoadError(FastCommerceError):
    """A plugin named by an entry point or by ``FASTCOMMERCE_LOAD_PLUGINS`` failed to import,
    or a plugin's hook implementations do not fit the hookspecs (an unknown hook name, an
    argument the hook does not offer)."""


class PluginError(FastCommerceError):
    """A plugin's code raised where it must not (a hook implementation, a detector, an
    upcaster, a validator, a projection's ``apply``)."""


class EventLogError(FastCommerceError):
    """The event log could not be read or written."""


class DatabaseLockedError(EventLogError):
    """Another process holds the write lock for longer than the busy timeout."""


class DatabaseDamagedError(EventLogError):
    """SQLite's integrity check found the database file damaged."""


class AppendOnlyViolation(EventLogError):
    """Something tried to UPDATE or DELETE a row of the append-only log."""


class SourceError(FastCommerceError):
    """An input file cannot be opened at all (missing, a directory, unreadable)."""
