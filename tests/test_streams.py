"""Streams are plugins: a throwaway "returns" stream registers, ingests, decodes and reads back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastcommerce import Pipeline, PluginConfigError
from fastcommerce.streams import UnknownStreamError

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import attrs
from fastcommerce import Schema, hookimpl
from fastcommerce.sources import read_jsonl
from fastcommerce.streams import Stream


@attrs.frozen(kw_only=True)
class Return:
    return_id: str
    order_id: str
    quantity: int


@hookimpl
def register_streams():
    return [Stream(name="returns", reader=read_jsonl, payload_type=Return, default_file="returns.jsonl", order=40)]


@hookimpl
def register_schemas():
    return [Schema(stream="returns", variant="v1", version=1, canonical=True, key_field="return_id",
                   time_field=None, detect=lambda r: isinstance(r, dict) and "return_id" in r)]
'''


@pytest.fixture
def plugin_dir(tmp_path):
    """The plugin as an installed distribution with a ``fastcommerce`` entry point."""
    where = tmp_path / "site"
    where.mkdir()
    (where / "returns_plugin.py").write_text(PLUGIN)
    info = where / "returns_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: returns-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[fastcommerce]\nreturns = returns_plugin\n")
    sys.path.insert(0, str(where))
    yield where
    sys.path.remove(str(where))
    sys.modules.pop("returns_plugin", None)


def returns_file(tmp_path: Path) -> Path:
    f = tmp_path / "returns.jsonl"
    f.write_bytes(b'{"return_id": "R-1", "order_id": "ORD-1", "quantity": 2}\n'
                  b'{"return_id": "R-2", "order_id": \n'
                  b'{"return_id": "R-3", "order_id": "ORD-3", "quantity": 1}\n')
    return f


def test_a_plugin_stream_ingests_and_its_records_decode(tmp_path, plugin_dir):
    import returns_plugin

    f = returns_file(tmp_path)
    with Pipeline(tmp_path / "shop.db", load_entrypoints=False, plugins=[returns_plugin]) as p:
        assert "returns" in p.streams.names
        summary = p.ingest("returns", f)
        assert summary.totals()["returns"]["appended"] == 3
        rows = p.db.execute('SELECT c."offset", c.quarantined, e.source, e.line FROM canon_records c '
                            'JOIN event_log e ON e."offset" = c."offset" WHERE c.stream = ? ORDER BY 1',
                            ["returns"]).fetchall()
        assert [(q, src, line) for _o, q, src, line in rows] == [(0, str(f), 1), (1, str(f), 2), (0, str(f), 3)]
        bad = p.db.execute("SELECT code, reason FROM canon_problems WHERE \"offset\" = ?", [rows[1][0]]).fetchall()
        assert [code for code, _ in bad] == ["malformed_record"] and "JSON" in bad[0][1]
        events = list(p.events(stream="returns"))
        assert [e.payload.return_id for e in events if not e.quarantined] == ["R-1", "R-3"]
        assert type(events[0].payload).__name__ == "Return" and events[0].payload.quantity == 2


def test_an_unknown_stream_names_the_known_ones(tmp_path):
    f = returns_file(tmp_path)
    with Pipeline(tmp_path / "shop.db", load_entrypoints=False) as p:
        with pytest.raises(UnknownStreamError, match=r"unknown stream 'returns'.*catalog, inventory, orders"):
            p.ingest("returns", f)
        assert p.log.last_offset() in (None, 0)


def test_a_stream_registered_twice_names_both_plugins(tmp_path, plugin_dir):
    import returns_plugin

    class Twin:
        __name__ = "twin"
        register_streams = staticmethod(returns_plugin.register_streams)

    with pytest.raises(PluginConfigError, match=r"stream 'returns' is registered twice: by plugin "
                                                r"'returns_plugin' and by plugin 'twin'"):
        Pipeline(tmp_path / "shop.db", load_entrypoints=False, plugins=[returns_plugin, Twin()])


def test_schemas_without_their_stream_are_refused_at_start(tmp_path, plugin_dir):
    import returns_plugin

    class SchemasOnly:
        __name__ = "schemas-only"
        register_schemas = staticmethod(returns_plugin.register_schemas)

    with pytest.raises(PluginConfigError, match=r"stream 'returns' .*no plugin registers the stream"):
        Pipeline(tmp_path / "shop.db", load_entrypoints=False, plugins=[SchemasOnly()])


def test_run_reads_the_registered_streams_in_their_order(tmp_path, plugin_dir):
    import returns_plugin

    from fastcommerce.sample import write_sample

    data = tmp_path / "data"
    write_sample(data, orders=20, days=1, seed=3)
    returns_file(data)
    with Pipeline(tmp_path / "shop.db", load_entrypoints=False, plugins=[returns_plugin]) as p:
        assert [s.name for s in p.streams.run_order()] == ["catalog", "inventory", "orders", "returns"]
        summary = p.run(data)
        assert [s.stream for s in summary.sources] == ["catalog", "inventory", "orders", "returns"]


def cli(args, plugin_dir, db):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(plugin_dir)]),
           "FASTCOMMERCE_LOAD_PLUGINS": "returns", "FASTCOMMERCE_DB": str(db)}
    return subprocess.run([sys.executable, "-c", "from fastcommerce.cli import main; main()", *args],
                          check=False, capture_output=True, text=True, env=env, timeout=120)


def test_the_cli_ingests_a_plugin_stream_and_lists_it(tmp_path, plugin_dir):
    f, db = returns_file(tmp_path), tmp_path / "shop.db"
    done = cli(["ingest", "returns", str(f), "--format", "json"], plugin_dir, db)
    assert done.returncode == 0, done.stderr
    assert '"appended": 3' in done.stdout
    listed = cli(["plugins"], plugin_dir, db)
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:2] == ["returns", "returns.jsonl"] and "(returns)" in line
               for line in listed.stdout.splitlines())
    wrong = cli(["ingest", "refunds", str(f)], plugin_dir, db)
    assert wrong.returncode == 2
    assert "unknown stream 'refunds'; the loaded plugins register: catalog, inventory, orders, returns" in wrong.stderr
