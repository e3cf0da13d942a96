"""What the modules that drive a pipeline need of it, as a Protocol.

:func:`~fastcommerce.follow.follow` and :func:`~fastcommerce.projections.verify.verify`
are called by :class:`~fastcommerce.pipeline.Pipeline` and take it back as an argument.
Typing that argument as this Protocol, not as ``Pipeline``, keeps the imports running one
way: the pipeline imports them, they never import the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlite_utils import Database

from .eventlog import EventLog
from .ingest import Ingester
from .monitoring import EvaluationResult
from .projections.runner import CatchUpResult, ProjectionRunner
from .streams import StreamRegistry


class PipelineLike(Protocol):
    """The parts of :class:`~fastcommerce.pipeline.Pipeline` that follow and verify use."""

    log: EventLog
    projections: ProjectionRunner
    streams: StreamRegistry
    _ingester: Ingester  # follow ingests file by file, with its own checkpoint moves

    @property
    def db(self) -> Database: ...

    def project(self, names: Sequence[str] | None = None, *,
                on_batch: Callable[[int, int], None] | None = None) -> list[CatchUpResult]: ...

    def clone(self, db: str | Path | Database | EventLog) -> PipelineLike: ...

    def alerts(self, *, now: datetime | None = None) -> EvaluationResult: ...

    def close(self) -> None: ...
