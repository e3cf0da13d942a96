"""Settings that change what projections compute; passed to ``register_projections``."""

from __future__ import annotations

from datetime import timedelta

import attrs


@attrs.frozen(kw_only=True, slots=True)
class Settings:
    """:param allowed_lateness: how far behind the greatest order timestamp seen an event
    may be before it is late (data contract section 5; default one hour)."""

    allowed_lateness: timedelta = timedelta(hours=1)

    def __attrs_post_init__(self) -> None:
        if self.allowed_lateness < timedelta(0):
            raise ValueError("allowed_lateness must not be negative")
        if self.allowed_lateness.microseconds:
            raise ValueError("allowed_lateness must be a whole number of seconds")
