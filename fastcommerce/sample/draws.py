"""Two small numeric helpers of the generator's random draws.

Their exact arithmetic is part of the output: changing either changes every file.
"""

from __future__ import annotations

from typing import Any


def _between(random_: Any, lo: int, hi: int) -> int:
    """A uniform integer in [lo, hi] (faster than Random.randint)."""
    return lo + int(random_() * (hi - lo + 1))


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    wsum = sum(weights)
    exact = [total * w / wsum for w in weights]
    counts = [int(x) for x in exact]
    rest = total - sum(counts)
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[:rest]:
        counts[i] += 1
    return counts
