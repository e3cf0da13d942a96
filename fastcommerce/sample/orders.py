"""Orders: which order carries which case, its variant, lifecycle and arrival times.

Every case is tied to a pseudo-random order up front, so that each appears at least
once; each order then gets a lifecycle of status events, and each event an arrival time
(some late or out of order on purpose) at which ``stream`` writes it.
"""

from __future__ import annotations

from .bad_orders import _ErrorLines
from .cases import (
    _ERROR_CASES,
    _ERROR_VARIANTS,
    _REPEATABLE_ERRORS,
    _WARNING_CASES,
    _WARNING_VARIANTS,
    _WARNINGS_FOR,
)
from .constants import (
    _ALL,
    _CANCELLED,
    _CHANNEL_OF,
    _CONFIRMED,
    _DELIVERED,
    _EVENT,
    _P_ERROR_PER_ORDER,
    _P_LATE,
    _P_WARNING_PER_ORDER,
    _PENDING,
    _REFUNDED,
    _SHIPPED,
    _VARIANT_CUM,
    API,
    LEGACY,
    MOBILE,
    WEB,
)
from .draws import _between
from .formats import _encode


class _Orders(_ErrorLines):
    """Making the orders of the run, each with its events scheduled on the stream."""

    def _assign_mandatory_cases(self) -> None:
        """Every case at least once, on pseudo-random orders."""
        rng = self.rng
        n = self.n_orders
        warnings = [name for name, _, _ in _WARNING_CASES]
        errors = [name for name, _, _, _ in _ERROR_CASES]
        self.warn_at: dict[int, str] = {}
        self.errors_at: dict[int, list[str]] = {}
        self.leftover_errors: list[str] = []
        total = len(warnings) + len(errors)
        if n >= total:
            slots = rng.sample(range(n), total)
            for name, slot in zip(warnings, slots[: len(warnings)], strict=True):
                self.warn_at[slot] = name
            for name, slot in zip(errors, slots[len(warnings) :], strict=True):
                self.errors_at[slot] = [name]
        else:
            slots = rng.sample(range(n), min(n, len(warnings)))
            for name, slot in zip(warnings, slots, strict=False):
                self.warn_at[slot] = name
            for name in errors:
                if n:
                    self.errors_at.setdefault(rng.randrange(n), []).append(name)
                else:
                    self.leftover_errors.append(name)

    # ------------------------------------------------------------------ orders

    def _pick_variant(self) -> int:
        r = self.rng.random()
        for v, c in enumerate(_VARIANT_CUM):
            if r < c:
                return v
        return WEB

    def _order(self, placed: int, channel: int | None = None) -> int:
        """Make one order placed at ``placed``; ``channel``: an extra order of a spike.
        Returns 1 if the order was made, 0 if a drop or a silent window took it."""
        rng = self.rng
        if channel is not None:  # an extra order of a spike
            serial = self.extra_serial
            self.extra_serial += 1
            if self.silent_orders and self._window(self.silent_orders, placed, placed + 1) >= 0:
                self.lost_orders[self._silent_index("orders", placed, placed + 1)] += 1
                return 0
            warn, errors = None, []
            if channel == 0:  # web: canonical or legacy, as in the usual mix
                variant = LEGACY if rng.random() < 1 / 6 else WEB
            else:
                variant = MOBILE if channel == 1 else API
            return self._order_body(placed, serial, variant, warn, errors)

        serial = self.next_serial
        self.next_serial += 1
        if self.silent_orders and self._window(self.silent_orders, placed, placed + 1) >= 0:
            # the feed is down: the order is never seen; its mandatory error cases go to
            # the synthetic carriers at the end, its warning case is lost
            self.lost_orders[self._silent_index("orders", placed, placed + 1)] += 1
            self.warn_at.pop(serial, None)
            self.leftover_errors.extend(self.errors_at.pop(serial, []))
            return 0
        warn = self.warn_at.pop(serial, None)
        errors = self.errors_at.pop(serial, [])

        variant = self._pick_variant()
        if warn is not None:
            allowed = _WARNING_VARIANTS[warn]
            if variant not in allowed:
                variant = allowed[0] if len(allowed) == 1 else allowed[rng.randrange(len(allowed))]
        elif errors:
            fits = [v for v in _ALL if all(v in _ERROR_VARIANTS[e] for e in errors)]
            if fits and variant not in fits:
                variant = API if API in fits else fits[0]
        if self.drop_now is not None:
            ch = _CHANNEL_OF[variant]
            self.hour_counts[ch] += 1
            factor = self.drop_now.get(ch)
            # an order that carries a mandatory case is always kept
            if factor is not None and warn is None and not errors and self.rng_inj.random() >= factor:
                self.dropped_now[ch] += 1
                return 0
        elif self.spike_at:
            self.hour_counts[_CHANNEL_OF[variant]] += 1
        return self._order_body(placed, serial, variant, warn, errors)

    def _order_body(
        self, placed: int, serial: int, variant: int, warn: str | None, errors: list[str]
    ) -> int:
        rng = self.rng
        if warn is None and rng.random() < _P_WARNING_PER_ORDER:
            choices = _WARNINGS_FOR[variant]
            warn = choices[rng.randrange(len(choices))]
        if rng.random() < _P_ERROR_PER_ORDER:
            choices = _REPEATABLE_ERRORS[variant]
            extra = choices[rng.randrange(len(choices))]
            if extra not in errors:
                errors.append(extra)

        d, tags = self._make_order(serial, variant, warn, count_sales=True)
        tpl = _encode(d)
        # the last item: whether a line of the order was written yet (SampleSummary.orders)
        ref = [tpl, variant == MOBILE, tags, False]
        events = self._lifecycle(placed)
        random_ = rng.random
        arrivals = []
        for k, (ts, st) in enumerate(events):
            arr = ts + int(random_() * 20)
            nxt = events[k + 1][0] if k + 1 < len(events) else None
            if (
                not self.forced_out_of_order
                and st == _CONFIRMED
                and k + 1 < len(events)
                and events[k + 1][1] == _SHIPPED
            ):
                self.forced_out_of_order = True
                arr = events[k + 1][0] + _between(random_, 600, 10800)
                self.delayed += 1
            elif not self.forced_cross_day and (ts - self.base) // 86400 < self.days - 1:
                self.forced_cross_day = True
                midnight = self.base + ((ts - self.base) // 86400 + 1) * 86400
                arr = midnight + _between(random_, 3600, 21600)
                self.delayed += 1
            elif random_() < _P_LATE:
                if nxt is not None and rng.random() < 0.5:
                    arr = nxt + _between(random_, 60, 10800)
                else:
                    arr = ts + _between(random_, 7200, 172800)
                self.delayed += 1
            arrivals.append(arr)
            self.seq += 1
            self._push((arr, self.seq, _EVENT, ref, ts, st))

        for name in errors:
            if variant not in _ERROR_VARIANTS[name]:
                self.leftover_errors.append(name)
                continue
            k = rng.randrange(len(events))
            ts, st = events[k]
            self._push_error(
                name, d, variant, ts, st, arrivals[k] + _between(random_, 1, 600), serial
            )
        return 1

    def _lifecycle(self, placed: int) -> list[tuple[int, int]]:
        random_ = self.rng.random
        ev = [(placed, _PENDING)]
        r = random_()
        t = placed
        if r < 0.05:
            pass  # stays pending
        elif r < 0.09:
            ev.append((t + _between(random_, 300, 21600), _CANCELLED))
        else:
            t += _between(random_, 60, 1800)
            ev.append((t, _CONFIRMED))
            if r < 0.13:
                pass  # stays confirmed
            elif r < 0.17:
                ev.append((t + _between(random_, 3600, 43200), _CANCELLED))
            else:
                t += _between(random_, 7200, 108000)
                ev.append((t, _SHIPPED))
                t += _between(random_, 43200, 216000)
                ev.append((t, _DELIVERED))
                if random_() < 0.07:
                    ev.append((t + _between(random_, 21600, 259200), _REFUNDED))
        end = self.end
        return [e for e in ev if e[0] < end]
