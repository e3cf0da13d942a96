"""Shared fixtures: a pipeline on a real SQLite file that never loads installed plugins."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from fastcommerce import Pipeline

FIXED_NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "log.db"


@pytest.fixture
def pipeline(db_path):
    """A pipeline with built-ins only and a fixed clock (recorded time 2024-01-20 12:00 UTC)."""
    p = Pipeline(db_path, load_entrypoints=False, clock=lambda: FIXED_NOW)
    yield p
    p.close()


# -- both engines -------------------------------------------------------------------------
# Storage-facing tests take ``log_target``: an SQLite file, then a PostgreSQL schema of its
# own (dropped afterwards) on the server FASTCOMMERCE_TEST_POSTGRES names. Unset, the
# PostgreSQL half skips with one line; FASTCOMMERCE_REQUIRE_POSTGRES=1 (.ci/run) makes that
# a failure.

POSTGRES = os.environ.get("FASTCOMMERCE_TEST_POSTGRES", "")
REQUIRE_POSTGRES = os.environ.get("FASTCOMMERCE_REQUIRE_POSTGRES") == "1"
NO_POSTGRES = "FASTCOMMERCE_TEST_POSTGRES is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)"


def postgres_server() -> str:
    """The test server's URL, or skip (fail where FASTCOMMERCE_REQUIRE_POSTGRES=1)."""
    if not POSTGRES:
        if REQUIRE_POSTGRES:
            pytest.fail(NO_POSTGRES + "; FASTCOMMERCE_REQUIRE_POSTGRES=1 makes that a failure")
        pytest.skip(NO_POSTGRES)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if REQUIRE_POSTGRES:
            pytest.fail("psycopg is not installed (pip install -e '.[postgres]')")
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    return POSTGRES


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL naming a fresh schema on the test server, dropped on exit."""
    import psycopg

    server = postgres_server()
    name = f"fc_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in server else "?"
    try:
        yield f"{server}{sep}schema={name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def postgres_url():
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def log_target(request, tmp_path):
    """Where a test's log lives: an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "log.db")
    else:
        with postgres_schema() as url:
            yield url
