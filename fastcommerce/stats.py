"""Latency histograms and their percentiles, shared by ingest, projections and reports.

A run keeps a bounded histogram of latencies (:func:`latency_bucket`) and stores its
percentiles; reports read them back the same way. Kept low, so neither ingest nor the
projection runner imports a report.
"""

from __future__ import annotations


def latency_bucket(seconds: float) -> int:
    """Whole seconds up to 100, then two significant digits (1234 s counts as 1200 s): the
    histogram stays a few hundred buckets however many records a run reads, and its
    percentiles are within 1%."""
    s = int(seconds)
    if -100 <= s <= 100:
        return s
    digits = len(str(abs(s))) - 2
    return round(s, -digits)


def percentile(histogram: list[tuple[int, int]], q: float) -> int | None:
    """Nearest-rank percentile of a ``(value, count)`` histogram sorted by value."""
    total = sum(c for _, c in histogram)
    if total == 0:
        return None
    rank = max(1, -(-int(q * total * 1000) // 1000))  # ceil(q * total) without float drift
    seen = 0
    for value, count in histogram:
        seen += count
        if seen >= rank:
            return value
    return histogram[-1][0]
