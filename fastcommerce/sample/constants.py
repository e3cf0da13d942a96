"""File names, order variants, statuses, rates and the daily shape of the sample.

Shared by every part of the generator, so they live apart from any one of them; the
tables of bad-data cases are in ``cases``.
"""

from __future__ import annotations

from datetime import date

CATALOG_FILE = "product_catalog.json"
INVENTORY_FILE = "inventory_updates.csv"
ORDERS_FILE = "orders_stream.jsonl"

INVENTORY_HEADER = "product_id,available_quantity,warehouse_location,last_updated,reserved_quantity"

WEB, MOBILE, API, LEGACY = 0, 1, 2, 3
_ALL = (WEB, MOBILE, API, LEGACY)
#: the sales channel of each variant (a legacy v1 record has none: it is upcast to web)
_CHANNEL_OF = (0, 1, 2, 0)
#: channels, as the pipeline names them (index = ``_CHANNEL_OF`` value)
CHANNELS = ("web", "mobile", "api")
#: sources a ``silent`` window may stop
SILENT_SOURCES = ("inventory", "orders")
# cumulative shares: web 50%, mobile 20%, api 20%, legacy 10%
_VARIANT_CUM = (0.5, 0.7, 0.9, 1.0)

_STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled", "refunded")
_STATUSES_UP = tuple(s.upper() for s in _STATUSES)
_PENDING, _CONFIRMED, _SHIPPED, _DELIVERED, _CANCELLED, _REFUNDED = range(6)

# rates
_P_ERROR_PER_ORDER = 0.03  # extra corrupted copy of one of the order's events
_P_WARNING_PER_ORDER = 0.002
_P_LATE = 0.03  # event written hours to days after its timestamp order
_P_DUP = 0.02  # event line re-delivered byte-identically later
_P_REFORMAT = 0.003  # same event again, different key order and spacing
_P_LATE_BATCH = 0.06
_P_DUP_ROW = 0.004
_P_BAD_ROW_PER_BATCH = 0.05
_P_ROW_IN_BATCH = 0.3

# more orders in the afternoon and evening (UTC hours 0..23)
_HOUR_SHAPE = (
    2.0, 1.2, 0.8, 0.6, 0.6, 0.8, 1.5, 2.5, 3.5, 4.0, 4.5, 5.0,
    5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 8.0, 6.5, 4.5, 3.0,
)  # fmt: skip

_EPOCH = date(1970, 1, 1)

# heap entry kinds
_EVENT, _RAW, _DUP, _REFORMAT = range(4)
