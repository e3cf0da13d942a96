"""Drop-in replacements for legacy code (see DEBUGGING.md).

Where this package sits: at the top, an adapter like the CLI. It reuses the shop's rules
where they are stated once instead of keeping a copy of its own: the built-in variant
detection and upcasters (through the plugin manager, as a pipeline loads them), the
contract's field, item, status and currency checks (:mod:`fastcommerce.contract`, which
the built-in validators apply too), the converter's timestamps and decimals, the money
quantum. Like the rest of the core it imports no built-in module; nothing imports it.

- ``order_processor``: the legacy ``OrderProcessor`` and its command line;
- ``lines``: one line of the stream to an order event or its reasons;
- ``records``: order events and the state of one order;
- ``exact``: money at any size, never rounded on the way; ``results``: the saved file;
  ``command``: the tables the script prints.

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
