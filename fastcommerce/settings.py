"""Settings of a pipeline: what projections compute (passed to ``register_projections``) and
how files still being written are read."""

from __future__ import annotations

import math
import os
from datetime import timedelta

import attrs

DEFAULT_SETTLE = 5.0
"""Seconds a file must go unmodified before its unterminated last line is taken as it is
(see :func:`fastcommerce.sources.settled`): long enough for a writer between two writes of
one line, short enough that a finished file without a final newline is read soon."""


def default_workers() -> int:
    """Both cores where there are two (the decode's measured gain stops there); else one."""
    return max(1, min(2, os.cpu_count() or 1))


@attrs.frozen(kw_only=True, slots=True)
class Settings:
    """:param allowed_lateness: how far behind the greatest order timestamp seen an event
        may be before it is late (data contract section 5; default one hour).
    :param settle: seconds a file must go unmodified before a last line without its line
        break is ingested as it is (until then it is held back, the checkpoint before it);
        ``0``: files are complete, take it at once; ``math.inf``: only a line break ends a
        line (``fastcommerce ingest --settle``).
    :param decode_workers: processes that decode a large ingest batch, this one included
        (``fastcommerce ingest --workers``); ``1``: no process is started. Any number gives
        the same rows."""

    allowed_lateness: timedelta = timedelta(hours=1)
    settle: float = DEFAULT_SETTLE
    decode_workers: int = attrs.field(factory=default_workers)

    def __attrs_post_init__(self) -> None:
        if self.allowed_lateness < timedelta(0):
            raise ValueError("allowed_lateness must not be negative")
        if self.allowed_lateness.microseconds:
            raise ValueError("allowed_lateness must be a whole number of seconds")
        if math.isnan(self.settle) or self.settle < 0:
            raise ValueError("settle must be a number of seconds, not negative")
        if self.decode_workers < 1:
            raise ValueError("decode_workers must be at least 1")
