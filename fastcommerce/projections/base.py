"""The projection type: what a plugin declares (name, version, tables, how it folds).

Apart from the runner, so the hookspecs and plugins can name it without importing the
machinery that runs projections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from sqlite_utils import Database

from ..events import Event
from ..naming import is_identifier
from ..tabledocs import Table


def _check_tables(_instance, _attribute, tables: tuple[str, ...]) -> None:
    for t in tables:
        if not is_identifier(t):
            raise ValueError(f"projection table name {t!r} is not a plain SQL identifier")


@attrs.frozen(kw_only=True, slots=True)
class Projection:
    """A named, versioned read model.

    ``create(db)`` makes its tables. A projection folds the log in one of two ways:

    - ``apply_range(db, after, upto)``: set-based SQL over the canonical tables
      (:mod:`fastcommerce.canonical`) for the log offsets in ``(after, upto]``;
    - ``apply(db, events)``: a Python fold over a batch of typed events (in log order),
      built from the canonical rows (an order's ``facts``, an inventory reading's or a
      catalog version's ``payload``; an order's ``payload`` is structured on first use).

    Both run inside the runner's transaction, with the tracking offset: never commit in them.
    ``streams`` limits the events handed over (``None``: every stream). ``config``
    describes settings that change the output (an allowed lateness, say): like a version
    bump, a change of it makes the next catch-up rebuild the projection. ``docs`` describes
    its tables and columns (:mod:`fastcommerce.tabledocs`: descriptions, units, keys, money
    and hash columns, internal tables) for readers such as ``fastcommerce serve``.
    """

    name: str
    version: int
    tables: tuple[str, ...] = attrs.field(validator=_check_tables)
    create: Callable[[Database], None]
    apply: Callable[[Database, Sequence[Event]], None] | None = None
    apply_range: Callable[[Database, int, int], None] | None = None
    streams: tuple[str, ...] | None = None
    config: str = ""
    description: str = ""
    docs: tuple[Table, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not is_identifier(self.name):
            raise ValueError(f"projection name {self.name!r} is not a plain identifier")
        if (self.apply is None) == (self.apply_range is None):
            raise ValueError(f"projection {self.name!r} needs exactly one of apply (a Python fold over events) "
                             "and apply_range (SQL over the canonical tables)")
        undeclared = [t.name for t in self.docs if t.name not in self.tables]
        if undeclared:
            raise ValueError(f"projection {self.name!r} documents table(s) {', '.join(undeclared)} "
                             "that are not among its tables")
