"""fastcommerce: an event-sourced pipeline for e-commerce data.

Everything a user or plugin author needs is importable from here.
"""

from .errors import (
    AppendOnlyViolation,
    DatabaseLockedError,
    EventLogError,
    FastCommerceError,
    PluginConfigError,
    PluginError,
    PluginLoadError,
    SourceError,
)
from .eventlog import EventLog
from .events import (
    Address,
    Event,
    InventoryLevel,
    LogRecord,
    OrderEvent,
    OrderItem,
    Problem,
    Product,
)
from .hookspecs import hookimpl, hookspec
from .ingest import SourceSummary
from .pipeline import IngestSummary, Pipeline
from .projections import Projection
from .reports.base import Report, ReportSpec
from .settings import Settings
from .upcasting import Schema, Upcaster
from .validation import ValidationContext, Validator
from .version import __version__

__all__ = [
    "Address", "AppendOnlyViolation", "DatabaseLockedError", "Event", "EventLog", "EventLogError",
    "FastCommerceError", "IngestSummary", "InventoryLevel", "LogRecord", "OrderEvent", "OrderItem",
    "Pipeline", "PluginConfigError", "PluginError", "PluginLoadError", "Problem", "Product",
    "Projection", "Report", "ReportSpec", "Schema", "Settings", "SourceError", "SourceSummary", "Upcaster", "ValidationContext",
    "Validator", "__version__", "hookimpl", "hookspec",
]
