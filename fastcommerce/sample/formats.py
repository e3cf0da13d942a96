"""Money, JSON and timestamp text exactly as the sample writes it.

Money is written as JSON numbers with their exact digits (``_num`` marks them, ``_encode``
unmarks them), so that prices keep their trailing zeros; timestamps come from a cached
formatter because the generator writes millions of them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from .constants import _EPOCH, MOBILE

_MONEY_RE = re.compile(r'"@M@([^"@]*)@"')
_IST = 19800  # +05:30 in seconds


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))


def _num(text: str) -> str:
    """A JSON number written exactly as ``text`` (see ``_encode``)."""
    return f"@M@{text}@"


def _encode(obj: Any, *, spaced: bool = False) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(", ", ": ") if spaced else (",", ":"))
    return _MONEY_RE.sub(r"\1", text)


def _reformat(line: str) -> str:
    """The same JSON object, with its top-level keys reversed and spaced separators."""
    obj = json.loads(line, parse_float=_num)
    return _encode(dict(reversed(list(obj.items()))), spaced=True)


def _iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with a ``Z`` (microseconds only when there are some)."""
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


class _Clock:
    """Fast ISO-8601 formatting of integer epoch seconds."""

    _HMS: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        if not _Clock._HMS:
            _Clock._HMS = [
                f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
            ]
        self._hms = _Clock._HMS

    def _day(self, d: int) -> str:
        s = self._days.get(d)
        if s is None:
            s = (_EPOCH + timedelta(days=d)).isoformat()
            if len(self._days) < 4096:
                self._days[d] = s
        return s

    def z(self, t: int) -> str:
        d, s = divmod(t, 86400)
        day = self._days.get(d) or self._day(d)
        return f"{day}T{self._hms[s]}Z"

    def ist(self, t: int) -> str:
        d, s = divmod(t + _IST, 86400)
        day = self._days.get(d) or self._day(d)
        return f"{day}T{self._hms[s]}+05:30"

    def text(self, t: int, variant: int) -> str:
        return self.ist(t) if variant == MOBILE else self.z(t)
