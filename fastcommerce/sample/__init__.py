"""Deterministic sample data for the three FastCommerce inputs.

``write_sample`` writes, into one folder:

* ``product_catalog.json`` -- ``{"products": [...]}`` with a few bad entries;
* ``inventory_updates.csv`` -- hourly batches of stock levels, some batches late,
  some rows re-delivered, a few bad rows;
* ``orders_stream.jsonl`` -- one event per status change of each order, in the four
  variants of the data contract (canonical web, mobile, api v3, legacy v1), with
  re-deliveries, late and out-of-order events, re-formatted copies of events and
  every bad-data case of the contract.

The same arguments always give byte-identical files: all randomness comes from
``random.Random`` instances seeded from ``seed`` (string seeds, hashed with SHA-512 by
the standard library, never with ``hash()``), time comes from ``start`` only, and no
output depends on set or dict iteration order. The order stream is generated hour by
hour and written as it goes; the only buffers are the events not yet due (orders in
flight, at most a few days of them) and the current inventory levels, so memory does
not grow with the number of days.

Bad data. Every error case is an extra line: a corrupted copy of one event of a real
order (so the order itself stays consistent and the corrupted line is quarantined).
Every warning case (and every "edge case that must pass") is a whole real order whose
events all carry it. ``SampleSummary.bad_records`` counts, per code, the records that
carry it (re-deliveries excluded, since the pipeline counts those as duplicates, not
as records); ``SampleSummary.bad_cases`` gives the same counts per case name
(``"<code>/<case>"``). Keys for the non-order sources are prefixed ``inventory_`` and
``catalog_``. The keys ``total_off_by_one_cent_ok``, ``price_exactly_50pct_ok`` and
``price_trailing_zero_ok`` count valid records that sit exactly on a boundary of the
contract and must *not* be flagged.

Every case appears at least once when ``orders`` is at least the number of order
cases (about 55); with fewer orders every error case still appears (on synthetic
orders whose only line is the bad one), but some warning cases may be left out.

Anomalies at known times (all off by default; without them the output is what it always
was). ``spikes`` multiply the orders one channel places in one hour; ``drops`` keep only a
share of them; ``silent`` windows make a source write nothing for a while. What was
injected, with the order counts actually written, is in ``SampleSummary.injected``: the
ground truth for tests and benchmarks of the anomaly rules (see ``write_sample``).

The code is split by what it makes: ``catalog`` (the product list), ``inventory`` (stock
levels and hourly batches), ``shapes`` (one order in each of the four variants),
``orders`` (lifecycles, arrival times, which order carries which case), ``bad_orders``
(the corrupted copies), ``stream`` (writing order lines in arrival order), ``anomalies``
(spikes, drops, silent windows), ``generator`` (one run, hour by hour) and ``api`` (the
entry points). The tables of cases are in ``cases``, the other constants in
``constants``. Everything other code uses is re-exported here.
"""

from __future__ import annotations

from .api import parse_rate_spec, parse_silent_spec, write_sample
from .cases import BAD_RECORD_KEYS
from .constants import (
    API,  # noqa: F401
    CATALOG_FILE,
    CHANNELS,
    INVENTORY_FILE,
    INVENTORY_HEADER,  # noqa: F401
    LEGACY,  # noqa: F401
    MOBILE,  # noqa: F401
    ORDERS_FILE,
    SILENT_SOURCES,
    WEB,  # noqa: F401
)
from .summary import SampleSummary

# The names marked noqa above (API, INVENTORY_HEADER, LEGACY, MOBILE, WEB) are not in
# __all__, but they were public names of the single-module sample.py: still importable.
__all__ = [
    "BAD_RECORD_KEYS",
    "CATALOG_FILE",
    "INVENTORY_FILE",
    "ORDERS_FILE",
    "CHANNELS",
    "SILENT_SOURCES",
    "SampleSummary",
    "parse_rate_spec",
    "parse_silent_spec",
    "write_sample",
]
