"""Injected anomalies: the extra orders of a spike hour, and the report of all of them.

Drops and silent windows act where orders and lines are made (``orders``, ``stream``,
``inventory``); here are the spikes' extra orders and ``SampleSummary.injected``.
"""

from __future__ import annotations

from typing import Any

from .constants import CHANNELS
from .formats import _iso
from .orders import _Orders


class _Anomalies(_Orders):
    """Spikes placed hour by hour, and the ground truth of what was injected."""

    def _inject_hour(self, h: int, hour_start: int) -> None:
        """Spikes of hour ``h``: more orders of the channel; drops: count what was kept."""
        rng = self.rng
        for ch, factor in self.spike_at.get(h, ()):
            normal = self.hour_counts[ch]
            extra = round((factor - 1) * normal)
            written = normal
            for _ in range(extra):
                written += self._order(hour_start + int(rng.random() * 3600), channel=ch)
            self.rate_counts[(h, ch)] = (normal, written)
        for ch in self.drop_now or ():
            self.rate_counts[(h, ch)] = (self.hour_counts[ch], self.hour_counts[ch] - self.dropped_now[ch])
        self.drop_now = None

    def _injected(self) -> list[dict[str, Any]]:
        out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        for kind, table in (("spike", self.spikes), ("drop", self.drops)):
            for (h, ch), factor in table.items():
                t = self.base + h * 3600
                normal, written = self.rate_counts.get((h, ch), (0, 0))
                start = self.clock.z(t)
                record = {"kind": kind, "channel": CHANNELS[ch], "start": start,
                          "end": self.clock.z(t + 3600), "factor": factor,
                          "key": f"{CHANNELS[ch]}@{start[:13]}",
                          "normal_orders": normal, "orders": written}  # fmt: skip
                out.append(((t, kind, ch), record))
        for i, (source, s, e) in enumerate(self.silent):
            record = {"kind": "silent", "source": source, "start": _iso(s), "end": _iso(e),
                      "lost_lines": self.lost_lines[i]}  # fmt: skip
            if source == "orders":
                record["lost_orders"] = self.lost_orders[i]
            out.append(((s, "silent", i), record))
        return [record for _, record in sorted(out, key=lambda kr: kr[0])]
