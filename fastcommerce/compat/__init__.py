"""Drop-in replacements for legacy code (see DEBUGGING.md).

``OrderProcessor`` is imported lazily so that running
``python -m fastcommerce.compat.order_processor`` does not import the module twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["OrderProcessor"]

if TYPE_CHECKING:
    from fastcommerce.compat.order_processor import OrderProcessor


def __getattr__(name: str) -> Any:
    if name == "OrderProcessor":
        from fastcommerce.compat.order_processor import OrderProcessor

        return OrderProcessor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
