"""Questions about the tables of a database file, asked by reports, health and alert rules.

A projection's tables exist only once it has been built (a report on a fresh file, a
plugin blocked): readers ask before they read.
"""

from __future__ import annotations

from sqlite_utils import Database


def table_exists(db: Database, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone() is not None
