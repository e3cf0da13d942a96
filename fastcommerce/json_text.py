"""JSON text as the log takes it: one verdict per record, whichever parser reads it.

orjson first; the standard library only for what orjson refuses but JSON allows (integers
beyond 64 bits), never a string UTF-8 cannot hold, never nesting deeper than
:data:`MAX_NESTING`. Shared by the readers (:mod:`fastcommerce.sources`) and the reading
path (:mod:`fastcommerce.reading`), so ingest, re-decode and verify agree.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import orjson


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def unpaired_surrogate(value: Any) -> str | None:
    """The first string (key or value) in a parsed JSON value that holds an unpaired
    surrogate (``"\\ud800"``), else ``None``. JSON's grammar allows the escape, but such a
    string is not text that UTF-8 (the stream's encoding, and SQLite's) can hold: stored, it
    raised ``UnicodeEncodeError``. orjson refuses it; the stdlib parser does not, so every
    value that parser gives is checked."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return v
        elif t is dict:
            stack.extend(v)
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
    return None


MAX_NESTING = 512
"""Deepest nesting of arrays and objects a record may have. The verdict on a record is a
function of its bytes alone: orjson refuses beyond 1,024 levels and the stdlib parser at a
depth that moves with the caller's stack, so anything deeper than this is malformed on every
path (ingest, re-decode, verify)."""

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep(body: bytes, limit: int = MAX_NESTING) -> bool:
    """Whether ``body`` nests arrays and objects deeper than ``limit`` (brackets inside
    strings do not count). Cheap when it cannot be: fewer openers than ``limit``."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for m in _TOKENS.finditer(body):
        c = m.group()
        if c == b"[" or c == b"{":
            depth += 1
            if depth > limit:
                return True
        elif c == b"]" or c == b"}":
            depth -= 1
    return False


def stdlib_json(text: str | bytes, **options: Any) -> Any:
    """``json.loads`` with headroom: the C scanner recurses once per level, so the caller's
    own stack depth must not decide whether a record within :data:`MAX_NESTING` parses."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 4 * MAX_NESTING)
    try:
        return json.loads(text, **options)
    finally:
        sys.setrecursionlimit(limit)


def parse_json(body: bytes) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, reason)``. orjson first; stdlib only for what orjson
    refuses but JSON allows (integers beyond 64 bits), never a string UTF-8 cannot hold."""
    if too_deep(body):
        return None, f"not valid JSON: nested deeper than {MAX_NESTING} levels"
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start})"
    if not text.strip():
        return None, "blank line"
    try:
        value = stdlib_json(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None, f"not valid JSON: {first_error}"
    bad = unpaired_surrogate(value)
    if bad is not None:
        shown = json.dumps(bad if len(bad) <= 40 else bad[:40] + "...")  # escaped: UTF-8 cannot hold it
        return None, f"not valid JSON text: {shown} holds an unpaired surrogate, which UTF-8 cannot encode"
    return value, None


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
