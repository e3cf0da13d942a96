"""The plugin system: built-ins are ordinary plugins, throwaway plugins register and go."""

from __future__ import annotations

import inspect

import orjson
import pytest
from click.testing import CliRunner

from fastcommerce import (
    Pipeline,
    PluginConfigError,
    PluginError,
    PluginLoadError,
    Projection,
    Schema,
    Upcaster,
    Validator,
    hookimpl,
    hookspecs,
)
from fastcommerce.cli import main
from fastcommerce.plugins import BUILTIN_PLUGINS
from fastcommerce.projections.verify import verify

WEB = {
    "order_id": "ORD-1", "customer_id": "CUST-1", "timestamp": "2024-01-15T10:30:00Z",
    "channel": "web", "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 29.99}],
    "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"},
    "status": "confirmed",
}


MUG = {"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 29.99}


def orders_after_catalog(p, records):
    """Load the catalog first (as the contract says), then the orders; their events."""
    p.ingest_records("catalog", [MUG])
    p.ingest_records("orders", records)
    return list(p.events(stream="orders"))


def test_builtins_are_registered_as_plugins(pipeline):
    names = {i.name for i in pipeline.plugins()}
    assert set(BUILTIN_PLUGINS) <= names
    orders = next(i for i in pipeline.plugins() if i.name == "fastcommerce.builtins.orders")
    assert orders.hooks == ("register_schemas", "register_streams", "register_upcasters")
    assert orders.builtin


def test_blocking_a_name_no_plugin_has_is_an_error_naming_the_known_ones(db_path):
    with pytest.raises(PluginConfigError, match=r"cannot block 'fastcommerce_marketplace'.*known: .*marketplace"):
        Pipeline(db_path, blocked=["fastcommerce_marketplace"])  # the entry point is called marketplace
    result = CliRunner().invoke(main, ["--db", str(db_path), "--block", "nosuch", "plugins"])
    assert result.exit_code != 0 and "cannot block 'nosuch'" in result.output
    with Pipeline(db_path, blocked=["marketplace"]) as p:  # the right name still works
        assert "marketplace" not in {i.name for i in p.plugins()}


def test_block_a_builtin_and_register_it_again_as_a_throwaway_plugin(db_path):
    import fastcommerce.builtins.orders as orders

    blocked = Pipeline(db_path, load_entrypoints=False, blocked=["fastcommerce.builtins.orders"])
    assert "orders" not in blocked.registry.streams
    blocked.close()

    class Again:
        __name__ = "orders-again"
        register_schemas = staticmethod(hookimpl(orders.register_schemas))
        register_upcasters = staticmethod(hookimpl(orders.register_upcasters))
        register_streams = staticmethod(hookimpl(orders.register_streams))

    p = Pipeline(db_path, load_entrypoints=False, blocked=["fastcommerce.builtins.orders"], plugins=[Again()])
    (event,) = orders_after_catalog(p, [WEB])
    assert event.payload.order_id == "ORD-1" and not event.problems
    assert "orders-again" in {i.name for i in p.plugins()}
    p.close()


class ShoutVariant:
    """A throwaway variant: every key upper case, marked by schema_version 'shout-1'."""

    __name__ = "shout"

    @hookimpl
    def register_schemas(self):
        return [Schema(stream="orders", variant="shout", version=1,
                       detect=lambda r: isinstance(r, dict) and r.get("schema_version") == "shout-1")]

    @hookimpl
    def register_upcasters(self):
        def up(r):
            return {k.lower(): v for k, v in r.items() if k != "schema_version"}
        return [Upcaster(stream="orders", variant="shout", from_version=1, to_variant="web",
                         to_version=2, upcast=up)]


def test_throwaway_plugin_registered_and_unregistered(db_path):
    p = Pipeline(db_path, load_entrypoints=False, plugins=[ShoutVariant()])
    shout = {k.upper(): v for k, v in WEB.items()} | {"schema_version": "shout-1"}
    (event,) = orders_after_catalog(p, [shout])
    assert event.payload.order_id == "ORD-1"
    p.close()
    # without the plugin the same log row is unknown_schema: the log kept it as received
    q = Pipeline(db_path, load_entrypoints=False)
    (event,) = q.events(stream="orders")
    assert [x.code for x in event.problems] == ["unknown_schema"]
    q.close()


def test_two_upcasters_claiming_one_step_name_both_plugins(db_path):
    class Twin(ShoutVariant):
        __name__ = "shout-twin"

        @hookimpl
        def register_schemas(self):
            return []

    with pytest.raises(PluginConfigError, match=r"shout.*shout-twin|shout-twin.*shout"):
        Pipeline(db_path, load_entrypoints=False, plugins=[ShoutVariant(), Twin()])


def test_gap_in_chain_is_refused_naming_the_plugin(db_path):
    class Gap:
        __name__ = "gappy"

        @hookimpl
        def register_schemas(self):
            return [Schema(stream="orders", variant="gap", version=1, detect=lambda r: False)]

        @hookimpl
        def register_upcasters(self):
            return [Upcaster(stream="orders", variant="gap", from_version=1, to_version=2, upcast=dict)]

    with pytest.raises(PluginConfigError, match=r"gap in the upcaster chain.*gap v2.*'gappy'"):
        Pipeline(db_path, load_entrypoints=False, plugins=[Gap()])


def test_record_matching_two_variants_is_a_configuration_error(db_path):
    class Greedy:
        __name__ = "greedy"

        @hookimpl
        def register_schemas(self):
            return [Schema(stream="orders", variant="greedy", version=1,
                           detect=lambda r: isinstance(r, dict) and "channel" in r)]

        @hookimpl
        def register_upcasters(self):
            return [Upcaster(stream="orders", variant="greedy", from_version=1, to_variant="web",
                             to_version=2, upcast=dict)]

    p = Pipeline(db_path, load_entrypoints=False, plugins=[Greedy()])
    with pytest.raises(PluginConfigError, match=r"<records>:1.*greedy.*web|<records>:1.*web.*greedy"):
        p.ingest_records("orders", [WEB])
    assert p.log.last_offset() == 0  # the batch was not committed
    p.close()


def test_validator_that_raises_is_a_plugin_error_naming_it(db_path):
    class Broken:
        __name__ = "broken"

        @hookimpl
        def register_validators(self):
            def check(record, ctx):
                raise RuntimeError("boom")
            return [Validator(name="explodes", stream="orders", codes={"x": "error"}, check=check)]

    p = Pipeline(db_path, load_entrypoints=False, plugins=[Broken()])
    # records are decoded at ingest: the batch is refused whole (nothing appended, nothing
    # checkpointed), so the same input goes in once the plugin is fixed
    with pytest.raises(PluginError, match="'explodes' from plugin 'broken'"):
        p.ingest_records("orders", [WEB])
    assert p.log.last_offset() == 0 and p.log.checkpoints() == []
    p.close()


def test_plugin_validator_adds_a_warning(db_path):
    class Big:
        __name__ = "big-orders"

        @hookimpl
        def register_validators(self):
            def check(record, ctx):
                if len(record.get("items") or []) > 0 and record["items"][0].get("quantity", 0) >= 2:
                    yield "bulk_order", "two or more of one product"
            return [Validator(name="bulk", stream="orders", codes={"bulk_order": "warning"}, check=check)]

    p = Pipeline(db_path, load_entrypoints=False, plugins=[Big()])
    (event,) = orders_after_catalog(p, [WEB])
    assert [w.code for w in event.warnings] == ["bulk_order"] and event.payload is not None
    p.close()


def test_catalog_projection_records_changes_and_ignores_reloads(pipeline, tmp_path):
    first = tmp_path / "c1.json"
    first.write_text('[{"product_id": "P1", "name": "Mug", "category": "home", "price": 9.50}]')
    second = tmp_path / "c2.json"
    second.write_text('[{"product_id": "P1", "name": "Mug", "category": "home", "price": 10.00}]')
    pipeline.ingest("catalog", first)
    pipeline.project()
    pipeline.ingest("catalog", first)
    pipeline.project()
    changes = list(pipeline.db.query("SELECT product_id, change FROM catalog_changes ORDER BY offset"))
    assert changes == [{"product_id": "P1", "change": "added"}]
    pipeline.ingest("catalog", second)
    pipeline.project()
    rows = list(pipeline.db.query("SELECT change, fields FROM catalog_changes ORDER BY offset"))
    assert [r["change"] for r in rows] == ["added", "changed"]
    assert orjson.loads(rows[1]["fields"]) == {"price": ["9.50", "10.00"]}
    assert pipeline.db["catalog_products"].get("P1")["price"] == "10.00"


def test_projection_version_bump_rebuilds_and_rebuild_is_deterministic(db_path, tmp_path):
    seen = []

    def make(version):
        class Counter:
            __name__ = f"counter-v{version}"

            @hookimpl
            def register_projections(self):
                def create(db):
                    db.execute("CREATE TABLE order_counts (n INTEGER)")
                    db.execute("INSERT INTO order_counts VALUES (0)")

                def apply(db, events):
                    seen.append(len(events))
                    db.execute("UPDATE order_counts SET n = n + ?", [len(events)])
                return [Projection(name="order_counter", version=version, tables=("order_counts",),
                                   create=create, apply=apply, streams=("orders",))]
        return Counter()

    p = Pipeline(db_path, load_entrypoints=False, plugins=[make(1)])
    p.ingest_records("orders", [WEB, WEB | {"order_id": "ORD-2"}])
    p.project()
    p.project()  # nothing new: nothing applied twice
    assert p.db.execute("SELECT n FROM order_counts").fetchone()[0] == 2
    p.close()
    q = Pipeline(db_path, load_entrypoints=False, plugins=[make(2)])
    (result,) = [r for r in q.project() if r.name == "order_counter"]
    assert result.rebuilt and result.events == 2
    assert q.db.execute("SELECT n FROM order_counts").fetchone()[0] == 2
    q.close()


class NoTestCustomers:
    """A validator plugin: orders of the test customer are quarantined."""

    __name__ = "no-test-customers"

    @hookimpl
    def register_validators(self):
        def check(record, ctx):
            if record.get("customer_id") == "CUST-TEST":
                yield "test_order", "placed by the test customer"
        return [Validator(name="no_test", stream="orders", codes={"test_order": "error"}, check=check)]


def test_projections_built_under_other_reading_plugins_are_rebuilt(db_path):
    """Adding (or removing) a plugin that validates the log makes the next catch-up rebuild
    the projections, so the tables never keep what the old validators let in."""
    def sales_orders(p):
        return [r[0] for r in p.db.execute("SELECT order_id FROM sales_orders ORDER BY order_id")]

    def rebuilt(results):
        return {r.name for r in results if r.rebuilt}

    p = Pipeline(db_path, load_entrypoints=False)
    orders_after_catalog(p, [WEB, WEB | {"order_id": "ORD-T", "customer_id": "CUST-TEST"}])
    p.project()
    assert sales_orders(p) == ["ORD-1", "ORD-T"]
    p.close()

    with_plugin = Pipeline(db_path, load_entrypoints=False, plugins=[NoTestCustomers()])
    results = with_plugin.project()
    assert {"sales", "quality"} <= rebuilt(results)
    (sales,) = [r for r in results if r.name == "sales"]
    assert sales.why == "the plugins that read the log changed (+test_plugins.NoTestCustomers==?)"
    assert sales_orders(with_plugin) == ["ORD-1"]
    assert with_plugin.db.execute("SELECT code FROM quality_problems").fetchall() == [("test_order",)]
    assert rebuilt(with_plugin.project()) == set()  # same plugins: caught up, not rebuilt
    with_plugin.close()

    again = Pipeline(db_path, load_entrypoints=False, plugins=[NoTestCustomers()])
    assert rebuilt(again.project()) == set()
    again.close()

    without = Pipeline(db_path, load_entrypoints=False)
    results = without.project()
    assert {"sales", "quality"} <= rebuilt(results)
    assert {r.why for r in results} == {"the plugins that read the log changed (-test_plugins.NoTestCustomers==?)"}
    assert sales_orders(without) == ["ORD-1", "ORD-T"]
    without.close()


def test_a_plugin_is_the_same_reader_loaded_by_entry_point_or_in_code():
    """The fraud plugin, by its entry point or as a module registered in code, reads the log
    the same way: switching between the two must not rebuild every projection."""
    import fastcommerce_fraud

    from fastcommerce.plugins import make_plugin_manager, reading_fingerprint

    by_entry_point = make_plugin_manager(only_entrypoints=["fraud"])
    in_code = make_plugin_manager(plugins=[fastcommerce_fraud], load_entrypoints=False)
    assert reading_fingerprint(by_entry_point) == reading_fingerprint(in_code)
    assert "fastcommerce_fraud==" in reading_fingerprint(in_code)
    assert reading_fingerprint(make_plugin_manager(load_entrypoints=False)) != reading_fingerprint(in_code)


def _orders(prefix: str, n: int) -> list[dict]:
    return [WEB | {"order_id": f"{prefix}{i}", "timestamp": f"2024-01-15T10:{i:02d}:00Z"} for i in range(n)]


def _revenue_orders(p) -> int:
    return p.db.execute("SELECT COALESCE(SUM(orders), 0) FROM sales_daily_revenue").fetchone()[0]


@pytest.mark.parametrize("other_plugins", [False, True])
def test_a_catch_up_running_meanwhile_is_neither_applied_twice_nor_overwritten(db_path, other_plugins):
    """Another process catches up (or rebuilds, under other plugins) between two batches of
    this catch-up: this one must not apply those events again, nor go on writing batches
    onto tables that were rebuilt under it."""
    first = Pipeline(db_path, load_entrypoints=False)
    orders_after_catalog(first, _orders("A", 20))
    first.project()
    first.ingest_records("orders", _orders("B", 30))
    first.close()
    this = Pipeline(db_path, load_entrypoints=False)
    other = Pipeline(db_path, load_entrypoints=False, plugins=[NoTestCustomers()] if other_plugins else [])
    meanwhile = []

    def on_batch(done, total):
        if not meanwhile:
            meanwhile.extend(other.project())

    results = {r.name: r for r in this.projections.catch_up(batch_size=10, on_batch=on_batch)}
    end = this.log.last_offset()
    sales = results["sales"]
    if other_plugins:
        assert sales.stopped == "another catch-up rebuilt it under other plugins or settings"
        assert sales.to_offset < end
        checker = other  # the tables are the other plugins' now
    else:
        assert sales.stopped is None and sales.to_offset == end
        checker = this
    assert _revenue_orders(checker) == 50
    assert all(c.ok for c in verify(checker)), [c for c in verify(checker) if not c.ok]
    this.close()
    other.close()


def test_projection_that_raises_rolls_back_its_batch(db_path):
    class Bad:
        __name__ = "bad-projection"

        @hookimpl
        def register_projections(self):
            def create(db):
                db.execute("CREATE TABLE bad_rows (x)")

            def apply(db, events):
                db.execute("INSERT INTO bad_rows VALUES (1)")
                raise ValueError("nope")
            return [Projection(name="bad", version=1, tables=("bad_rows",), create=create, apply=apply)]

    p = Pipeline(db_path, load_entrypoints=False, plugins=[Bad()])
    p.ingest_records("orders", [WEB])
    with pytest.raises(PluginError, match="'bad' from plugin 'bad-projection'"):
        p.project(["bad"])
    assert p.db.execute("SELECT COUNT(*) FROM bad_rows").fetchone()[0] == 0
    assert p.projections.state()["bad"] == (1, 0)
    p.close()


@pytest.mark.parametrize("name", ["register_schemas", "register_upcasters", "register_validators",
                                  "register_projections", "register_reports", "configure_converter",
                                  "register_source_openers"])
def test_hookspec_is_documented(name):
    spec = getattr(hookspecs, name)
    doc = inspect.getdoc(spec)
    assert doc and ":returns:" in doc and "versionadded" in doc
    assert ("All results are collected" in doc) or ("All implementations are called" in doc)
    for arg in inspect.signature(spec).parameters:
        assert f":param {arg}:" in doc


def _claims(*tables: str, name: str = "claimant"):
    class Claimant:
        __name__ = f"{name}-plugin"

        @hookimpl
        def register_projections(self):
            def create(db):
                for t in tables:
                    db.execute(f"CREATE TABLE [{t}] (x)")
            return [Projection(name=name, version=1, tables=tables, create=create, apply=lambda db, events: None)]

    return Claimant()


@pytest.mark.parametrize("table", ["event_log", "EVENT_LOG", "checkpoints", "ingest_runs", "projection_state",
                                   "projection_runs", "alerts", "alert_deliveries", "_sqlite_migrations",
                                   "sqlite_sequence"])
def test_a_projection_claiming_a_core_table_is_refused_before_it_drops_it(db_path, table):
    with Pipeline(db_path, load_entrypoints=False) as p:
        p.ingest_records("orders", [WEB])
    with pytest.raises(PluginConfigError, match=rf"'claimant' from plugin 'claimant-plugin' claims table '{table}'"):
        Pipeline(db_path, load_entrypoints=False, plugins=[_claims(table)])
    with Pipeline(db_path, load_entrypoints=False) as p:  # the log is untouched
        assert p.log.last_offset() == 1 and len(list(p.events())) == 1


def test_a_table_claimed_twice_names_both_projections_and_plugins_whatever_its_case(db_path):
    with pytest.raises(PluginConfigError) as raised:
        Pipeline(db_path, load_entrypoints=False, plugins=[_claims("SALES_ORDERS")])
    message = str(raised.value)
    assert "is claimed by projection" in message
    assert "projection 'sales' (plugin 'fastcommerce.builtins.sales')" in message
    assert "projection 'claimant' (plugin 'claimant-plugin')" in message


class MisspeltHook:
    __name__ = "misspelt"

    @hookimpl
    def register_validator(self):  # register_validators
        return []


class WrongArgument:
    __name__ = "wrong-argument"

    @hookimpl
    def register_projections(self, setting):  # settings
        return []


def test_a_misspelt_hook_name_is_an_error_naming_the_plugin_and_the_hook_it_meant(db_path):
    with pytest.raises(PluginLoadError, match=r"plugin 'misspelt' implements 'register_validator', which is not "
                                              r"a fastcommerce hook \(did you mean 'register_validators'\?\)"):
        Pipeline(db_path, load_entrypoints=False, plugins=[MisspeltHook()])


def test_a_hook_argument_the_hookspec_does_not_offer_is_an_error_naming_the_plugin(db_path):
    with pytest.raises(PluginLoadError, match=r"plugin 'wrong-argument' does not match the fastcommerce hookspecs: "
                                              r".*register_projections\(setting\).*\{'setting'\}"):
        Pipeline(db_path, load_entrypoints=False, plugins=[WrongArgument()])


def test_a_hook_implementation_that_raises_is_a_plugin_error_naming_it(db_path):
    class Raising:
        __name__ = "raising"

        @hookimpl
        def register_validators(self):
            raise RuntimeError("no config file")

    class BadSeverity:
        __name__ = "bad-severity"

        @hookimpl
        def register_validators(self):  # a generator: the Validator is made when it is listed
            yield Validator(name="v", stream="orders", codes={"x": "fatal"}, check=lambda r, c: ())

    with pytest.raises(PluginError, match=r"plugin 'raising' raised RuntimeError in register_validators: no config"):
        Pipeline(db_path, load_entrypoints=False, plugins=[Raising()])
    with pytest.raises(PluginError, match=r"plugin 'bad-severity' raised ValueError in register_validators: "
                                          r"validator 'v': code 'x' has severity 'fatal'"):
        Pipeline(db_path, load_entrypoints=False, plugins=[BadSeverity()])

    class OwnWords:  # an error of the library's own, raised inside a hook, keeps its class and words
        __name__ = "own-words"

        @hookimpl
        def register_validators(self):
            raise PluginConfigError("validator 'v' is registered twice")

    with pytest.raises(PluginConfigError, match=r"^validator 'v' is registered twice$"):
        Pipeline(db_path, load_entrypoints=False, plugins=[OwnWords()])


def _boom_variant(name: str, *, detect_raises: bool = False, upcast_raises: bool = False):
    class Boom:
        __name__ = name

        @hookimpl
        def register_schemas(self):
            def detect(record):
                if detect_raises:
                    return record["schema_version"] == "boom-1"
                return isinstance(record, dict) and record.get("schema_version") == "boom-1"
            return [Schema(stream="orders", variant="boom", version=1, detect=detect)]

        @hookimpl
        def register_upcasters(self):
            def upcast(record):
                if upcast_raises:
                    raise KeyError("orderRef")
                return {k: v for k, v in record.items() if k != "schema_version"}
            return [Upcaster(stream="orders", variant="boom", from_version=1, to_variant="web", to_version=2,
                             upcast=upcast)]

    return Boom()


def test_a_detector_or_upcaster_that_raises_names_the_plugin_and_the_record(db_path):
    p = Pipeline(db_path, load_entrypoints=False, plugins=[_boom_variant("touchy", detect_raises=True)])
    with pytest.raises(PluginError, match=r"detector of orders/boom v1 from plugin 'touchy' raised KeyError: "
                                          r"'schema_version' on <records>:1"):
        p.ingest_records("orders", [WEB])
    p.close()
    boom = {**WEB, "schema_version": "boom-1"}
    p = Pipeline(db_path, load_entrypoints=False, plugins=[_boom_variant("clumsy", upcast_raises=True)])
    with pytest.raises(PluginError, match=r"upcaster orders/boom v1 -> web v2 from plugin 'clumsy' raised "
                                          r"KeyError: 'orderRef' on <records>:2"):
        p.ingest_records("orders", [WEB, boom])  # at ingest: the key and time are the canonical shape's
    p.close()
    with Pipeline(db_path, load_entrypoints=False, plugins=[_boom_variant("fine")]) as p:
        p.ingest_records("orders", [WEB, boom])
    p = Pipeline(db_path, load_entrypoints=False, plugins=[_boom_variant("clumsy", upcast_raises=True)])
    with pytest.raises(PluginError, match=r"from plugin 'clumsy' raised KeyError: 'orderRef' on <records>:2"):
        list(p.events())  # on read
    p.close()


def test_a_report_that_raises_names_its_plugin_and_a_value_error_stays_a_usage_error(db_path):
    from fastcommerce import ReportSpec

    class Reports:
        __name__ = "reporting"

        @hookimpl
        def register_reports(self):
            def broken(source, **options):
                return {}["missing_table"]

            def picky(source, *, by=None, **options):
                raise ValueError(f"picky cannot rank by {by}")
            return [ReportSpec(name="broken", function=broken), ReportSpec(name="picky", function=picky)]

    with Pipeline(db_path, load_entrypoints=False, plugins=[Reports()]) as p:
        with pytest.raises(PluginError, match=r"report 'broken' from plugin 'reporting' raised KeyError: "
                                              r"'missing_table'"):
            p.report("broken")
        with pytest.raises(ValueError, match="picky cannot rank by units"):
            p.report("picky", by="units")
