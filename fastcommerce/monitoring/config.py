"""Monitoring configuration: the shipped ``defaults.toml``, overridden by a user's TOML file."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import cattrs

from ..errors import FastCommerceError
from ..urls import redact_url, sink_url_problem


class ConfigError(FastCommerceError):
    """The monitoring configuration file is unreadable or has unknown or ill-typed keys."""


def _non_negative(_instance, attribute, value) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


@attrs.frozen(kw_only=True)
class QualityConfig:
    window_hours: float
    max_source_rate: float
    max_code_rate: float
    min_records: int


@attrs.frozen(kw_only=True)
class VolumeConfig:
    history_days: int
    min_history_days: int
    threshold: float
    min_orders: int
    min_revenue: Decimal
    evaluate_hours: int


@attrs.frozen(kw_only=True)
class PatternsConfig:
    basket_threshold: float
    min_basket_orders: int
    max_price_deviation_rate: float
    min_priced_events: int
    demand_threshold: float
    demand_min_units: int
    demand_history_days: int


@attrs.frozen(kw_only=True)
class StockConfig:
    low_stock: bool
    days_of_cover_below: float


@attrs.frozen(kw_only=True)
class FreshnessConfig:
    reference: str = attrs.field(validator=attrs.validators.in_(("data", "clock")))
    orders_silent_minutes: float
    inventory_silent_minutes: float
    max_projection_lag: int


def _sink_url(_instance, attribute, value) -> None:
    if value and (problem := sink_url_problem(value)) is not None:
        raise ValueError(f"{attribute.name} {redact_url(value)!r}: {problem}")


@attrs.frozen(kw_only=True)
class SinksConfig:
    jsonl_path: str
    webhook_url: str = attrs.field(validator=_sink_url)  # http(s) only: file:// would "deliver" anywhere
    webhook_timeout_seconds: float = attrs.field(validator=_non_negative)
    webhook_retries: int = attrs.field(validator=_non_negative)
    webhook_backoff_seconds: float = attrs.field(validator=_non_negative)


@attrs.frozen(kw_only=True)
class MonitoringConfig:
    cooldown_minutes: float
    quality: QualityConfig
    volume: VolumeConfig
    patterns: PatternsConfig
    stock: StockConfig
    freshness: FreshnessConfig
    sinks: SinksConfig


def _merge(base: dict[str, Any], override: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"unknown setting {where}{key!r} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key} must be a table")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def _strict(kind: type):
    def structure(value: Any, _type: Any) -> Any:
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value
    return structure


def _number(make):
    def structure(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
        return make(value)
    return structure


def defaults_text() -> str:
    return resources.files(__package__).joinpath("defaults.toml").read_text()


def load_config(path: str | Path | None = None) -> MonitoringConfig:
    """The defaults, with the settings of ``path`` (a TOML file) over them."""
    data = tomllib.loads(defaults_text())
    if path is not None:
        try:
            user = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        try:
            data = _merge(data, user)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    url = data.get("sinks", {}).get("webhook_url")
    if isinstance(url, str) and url and (problem := sink_url_problem(url)) is not None:
        raise ConfigError(f"{path or 'defaults'}: sinks.webhook_url {redact_url(url)!r}: {problem}")
    converter = cattrs.Converter(forbid_extra_keys=True)
    # strict types: cattrs would happily turn "no" into True or 2.5 into 2
    converter.register_structure_hook(bool, _strict(bool))
    converter.register_structure_hook(int, _strict(int))
    converter.register_structure_hook(str, _strict(str))
    converter.register_structure_hook(float, _number(float))
    converter.register_structure_hook(Decimal, _number(lambda v: Decimal(str(v))))
    try:
        return converter.structure(data, MonitoringConfig)
    except Exception as exc:
        messages = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
        raise ConfigError(f"{path or 'defaults'}: " + "; ".join(messages)) from exc
