"""Shared fixtures: a pipeline on a real SQLite file that never loads installed plugins."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fastcommerce import Pipeline

FIXED_NOW = datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "log.db"


@pytest.fixture
def pipeline(db_path):
    """A pipeline with built-ins only and a fixed clock (recorded time 2024-01-20 12:00 UTC)."""
    p = Pipeline(db_path, load_entrypoints=False, clock=lambda: FIXED_NOW)
    yield p
    p.close()
