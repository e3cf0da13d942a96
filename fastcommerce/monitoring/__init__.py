"""Watching the pipeline and the data: health, alert rules, alert sinks."""

from .alerts import AlertContext, AlertEngine, AlertRule, AlertSink, EvaluationResult, Finding, Notification
from .config import ConfigError, MonitoringConfig, load_config

__all__ = ["AlertContext", "AlertEngine", "AlertRule", "AlertSink", "ConfigError", "EvaluationResult",
           "Finding", "MonitoringConfig", "Notification", "load_config"]
