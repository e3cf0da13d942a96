"""Writing the order stream in arrival order, one hour at a time.

Lines are scheduled (``_push``) when their order is made, in a bucket per arrival hour,
and written (``_flush``) when that hour is done; writing a line may schedule its
re-delivered or re-formatted copy. Only lines not yet due are held in memory.
"""

from __future__ import annotations

import heapq
from typing import Any

from .constants import (
    _DUP,
    _EVENT,
    _P_DUP,
    _P_REFORMAT,
    _REFORMAT,
    _STATUSES,
    _STATUSES_UP,
)
from .formats import _reformat
from .state import _GeneratorState


class _OrderStream(_GeneratorState):
    """Pending order lines by arrival hour, and the writer of the lines due."""

    def _push(self, entry: tuple[Any, ...]) -> None:
        hour = (entry[0] - self.base) // 3600
        if hour == self.current_hour:
            heapq.heappush(self.current, entry)
        else:
            bucket = self.buckets.get(hour)
            if bucket is None:
                self.buckets[hour] = [entry]
            else:
                bucket.append(entry)

    def _flush(self, hour: int | None, out: list[bytes]) -> None:
        """Write every line due up to the end of ``hour`` (``None``: everything)."""
        while self.buckets:
            h = min(self.buckets)
            if hour is not None and h > hour:
                break
            self.current_hour = h
            self.current = self.buckets.pop(h)
            heapq.heapify(self.current)
            self._write_current(out)
        self.current_hour = -1

    def _write_current(self, out: list[bytes]) -> None:
        heap = self.current
        rng = self.rng
        random_ = rng.random
        clock = self.clock
        pop = heapq.heappop
        push = self._push
        statuses, statuses_up = _STATUSES, _STATUSES_UP
        lost = self.silent_orders
        while heap:
            arr, _, kind, a, b, c = pop(heap)
            if lost and self._window(lost, arr, arr + 1) >= 0:
                # a silent window: the line is never written (nor re-delivered later)
                self.lost_lines[self._silent_index("orders", arr, arr + 1)] += 1
                if kind == _EVENT and arr - b >= 20:
                    # on time, an event arrives 0-19 s after its timestamp: this one was
                    # counted as delayed when it was scheduled
                    self.delayed -= 1
                continue
            if kind == _EVENT:
                tpl, mobile, tags, seen = a
                if not seen:
                    a[3] = True
                    self.orders_written += 1
                if mobile:
                    line = tpl.replace("@TS@", clock.ist(b), 1).replace("@ST@", statuses_up[c], 1)
                else:
                    line = tpl.replace("@TS@", clock.z(b), 1).replace("@ST@", statuses[c], 1)
                data = line.encode("utf-8") + b"\n"
                out.append(data)
                self.order_events += 1
                for code, case in tags:
                    self._count(code, case)
                if self.dup_scheduled == 0 or random_() < _P_DUP:
                    self.dup_scheduled += 1
                    self.seq += 1
                    push((arr + 30 + int(random_() * 43170), self.seq, _DUP, data, None, None))
                if self.reformat_scheduled < 2 or random_() < _P_REFORMAT:
                    self.reformat_scheduled += 1
                    self.seq += 1
                    again = _reformat(line).encode("utf-8") + b"\n"
                    delay = 300 + int(random_() * 21300)
                    push((arr + delay, self.seq, _REFORMAT, again, tags, None))
            elif kind == _DUP:
                out.append(a)
                self.dup_lines += 1
            elif kind == _REFORMAT:
                out.append(a)
                self.reformatted += 1
                for code, case in b:
                    self._count(code, case)
            else:  # _RAW error line
                out.append(a)
                self.error_lines += 1
                self._count(b, c)
            self.order_lines += 1
