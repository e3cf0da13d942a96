"""Projections: read models rebuilt deterministically from the log.

A projection owns its tables and a tracking offset. The runner reads each batch of the
log once (parsed, upcast, validated) and hands it to every projection; the batch's effect
and the new offsets commit in one transaction, so a projection killed mid-way resumes
with no event applied twice or missed.
"""

from __future__ import annotations

from .base import Projection
from .runner import ProjectionRunner

__all__ = ["Projection", "ProjectionRunner"]
