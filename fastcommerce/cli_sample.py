"""``fastcommerce sample``: generated input files that follow the data contract.

It never writes where the user did not say (``--out`` is required) and never replaces
input files already there unless told (``--overwrite``): the bundled ``sample_data/`` that
docs and tests rely on is one such folder."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from . import sample as generator
from .cli_params import FORMATS, emit
from .sample import CATALOG_FILE, INVENTORY_FILE, ORDERS_FILE, write_sample


def _specs(name):
    def convert(ctx, param, values):
        try:
            return [getattr(generator, name)(v) for v in values]
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return convert


@click.command()
@click.option("--orders", default=2000, show_default=True, type=click.IntRange(min=0))
@click.option("--days", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default="2024-01-15", show_default=True,
              help="The first UTC day of the data.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write into (created if missing).")
@click.option("--overwrite", is_flag=True, help="Replace catalog, inventory or order files already in --out.")
@click.option("--spike", "spikes", multiple=True, metavar="CHANNEL@YYYY-MM-DDTHH=FACTOR",
              callback=_specs("parse_rate_spec"),
              help="Inject a spike: CHANNEL (web, mobile, api) places FACTOR (> 1) times its orders in that UTC hour. Repeatable.")
@click.option("--drop", "drops", multiple=True, metavar="CHANNEL@YYYY-MM-DDTHH=FACTOR",
              callback=_specs("parse_rate_spec"),
              help="Inject a drop: CHANNEL keeps only FACTOR (0 <= FACTOR < 1) of its orders in that UTC hour. Repeatable.")
@click.option("--silent", "silent", multiple=True, metavar="SOURCE@START/END", callback=_specs("parse_silent_spec"),
              help="SOURCE (inventory or orders) writes nothing from START to END (ISO 8601; UTC without an offset). Repeatable.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def sample(orders: int, days: int, start, seed: int, out: Path, overwrite: bool, spikes, drops, silent,
           fmt: str) -> None:
    """Write generated catalog, inventory and order files that follow the data contract,
    optionally with anomalies injected at known times (to measure the alert rules)."""
    there = [name for name in (CATALOG_FILE, INVENTORY_FILE, ORDERS_FILE) if (out / name).exists()]
    if there and not overwrite:
        raise click.UsageError(f"{out} already holds {', '.join(there)}: choose another --out, or --overwrite "
                               "to replace them")
    first: date = start.date()
    try:
        data = write_sample(out, orders=orders, days=days, seed=seed, start=first, spikes=spikes, drops=drops,
                            silent=silent).as_dict()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    emit(data, fmt, "\n".join(f"{k}: {v}" for k, v in data.items()))
