"""The product catalog: written first, since orders and inventory draw from it.

``_write_catalog`` writes ``product_catalog.json`` (with its bad entries) and returns a
``_Catalog``: what the rest of the generator needs to know about the valid products.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import attrs

from .cases import _CATALOG_KEYS
from .formats import _encode, _money, _num

_CATEGORIES = (
    # name, min dollars, max dollars, nouns
    ("Electronics", 19, 499, ("Headphones", "Speaker", "Charger", "Keyboard", "Webcam", "Monitor")),
    ("Home", 9, 199, ("Lamp", "Kettle", "Blender", "Throw Blanket", "Cookware Set", "Vase")),
    ("Apparel", 12, 149, ("T-Shirt", "Hoodie", "Jacket", "Sneakers", "Scarf", "Jeans")),
    ("Books", 7, 49, ("Cookbook", "Novel", "Field Guide", "Atlas", "Journal", "Biography")),
    ("Sports", 14, 299, ("Yoga Mat", "Dumbbells", "Water Bottle", "Tent", "Helmet", "Backpack")),
    ("Beauty", 5, 89, ("Face Cream", "Shampoo", "Perfume", "Lip Balm", "Sunscreen", "Soap Set")),
)
_BRANDS = ("Acme", "Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Müller & Söhne")
_TAGS = ("bestseller", "new", "eco", "gift", "limited", "clearance", "premium")
_CENT_ENDINGS = (99, 49, 95, 0, 50, 25, 89, 79)


@attrs.define
class _Catalog:
    ids: list[str]  # valid products, index = product number
    cents: list[int]
    active: list[bool]
    reorder_point: list[int]
    weights: list[float]  # order popularity
    entries: int
    bad: dict[str, int]
    even_product: int  # a product whose price has an even number of cents
    unknown_id: str


def _write_catalog(path: Path, rng: random.Random, products: int) -> _Catalog:
    entries: list[Any] = []
    ids: list[str] = []
    cents: list[int] = []
    active: list[bool] = []
    reorder: list[int] = []
    weights: list[float] = []
    inactive_left = max(1, products // 15) if products >= 5 else 0
    for i in range(products):
        pid = f"PROD-{i + 1:03d}"
        category, lo, hi, nouns = _CATEGORIES[rng.randrange(len(_CATEGORIES))]
        brand = _BRANDS[rng.randrange(len(_BRANDS))]
        price = rng.randint(lo, hi) * 100 + rng.choice(_CENT_ENDINGS)
        is_active = True
        if inactive_left and (rng.random() < 0.06 or products - i <= inactive_left):
            is_active = False
            inactive_left -= 1
        entry: dict[str, Any] = {
            "product_id": pid,
            "name": f"{brand} {nouns[rng.randrange(len(nouns))]}",
            "category": category,
            "price": _num(_money(price)),
            "cost": _num(_money(price * rng.randint(35, 70) // 100)),
        }
        rp = 20
        if rng.random() >= 0.15:  # the rest omit it: default 20
            rp = rng.randint(10, 50)
            entry["reorder_point"] = rp
        if not is_active or rng.random() < 0.7:
            entry["active"] = is_active
        entry["brand"] = brand
        entry["tags"] = sorted(rng.sample(_TAGS, rng.randint(0, 3)))
        entries.append(entry)
        ids.append(pid)
        cents.append(price)
        active.append(is_active)
        reorder.append(rp)
        weight = rng.paretovariate(1.3)
        weights.append(weight if is_active else weight * 0.1)
    # a product with an even number of cents, for the "exactly 50% away" cases
    even = next((i for i in range(products) if cents[i] % 2 == 0 and active[i]), None)
    if even is None:
        even = next(i for i in range(products) if active[i]) if any(active) else 0
        cents[even] += 1 if cents[even] % 2 else 0
        entries[even]["price"] = _num(_money(cents[even]))

    # bad entries, at pseudo-random places
    extra = [f"PROD-{products + k:03d}" for k in (1, 2, 3, 4)]
    bad_entries: list[tuple[Any, str]] = [
        ({"product_id": extra[0], "category": "Home", "price": _num("19.99")},
         "catalog_missing_field"),
        ({"product_id": extra[1], "name": "Broken Price Tag", "category": "Toys", "price": "abc"},
         "catalog_invalid"),
        ({"product_id": extra[2], "name": "Negative Gadget", "category": "Electronics",
          "price": _num("-12.50")}, "catalog_invalid"),
        (f"{extra[3]} discontinued", "catalog_malformed_record"),
    ]  # fmt: skip
    bad = dict.fromkeys(_CATALOG_KEYS, 0)
    for entry, key in bad_entries:
        entries.insert(rng.randrange(len(entries) + 1), entry)
        bad[key] += 1
    # one product per line keeps the file readable and diffable
    body = ",\n".join("  " + _encode(entry, spaced=True) for entry in entries)
    path.write_text('{"products": [\n' + body + "\n]}\n", encoding="utf-8")

    unknown = "PROD-999" if products + 4 < 999 else f"PROD-{products + 1000}"
    return _Catalog(ids, cents, active, reorder, weights, len(entries), bad, even, unknown)
