"""Sink URLs: only http and https, and never shown with the secrets they carry.

A webhook URL often is the credential: user info (``https://user:pass@host``), a token in
the path (``/services/T000/B000/XXXX``) or in the query (``?token=...``). Whatever prints or
logs a URL prints :func:`redact_url` of it, and the CLI's log processor passes every log
line's strings through :func:`redact_text`, so an exception message that quotes a URL does
not leak it either.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

SINK_SCHEMES = ("http", "https")
MASK = "***"

_WORD = re.compile(r"[a-z][a-z_-]{0,19}\Z")
"""A path segment kept as it is: a short lower-case word (``hooks``, ``services``,
``alerts``); one with a digit or a capital, or of a token's length, is masked."""

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def sink_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a sink's URL; ``None`` when it can (http or https, with a host)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme.lower() not in SINK_SCHEMES:
        return f"only http:// and https:// URLs are accepted, not {parts.scheme + ':' if parts.scheme else 'no scheme'}"
    if not parts.hostname:
        return "the URL has no host"
    return None


def redact_url(url: str) -> str:
    """``url`` with its user info, the path segments that may be tokens and the query's
    values masked: ``https://***@hooks.example.com/services/***?token=***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    netloc = ("***@" if "@" in parts.netloc else "") + (f"[{host}]" if ":" in host else host)
    if port is not None:
        netloc += f":{port}"
    path = "/".join(s if not s or _WORD.match(s) else MASK for s in parts.path.split("/"))
    out = f"{parts.scheme}://{netloc}{path}"
    if parts.query:
        out += "?" + "&".join(f"{p.split('=', 1)[0]}={MASK}" if "=" in p else MASK for p in parts.query.split("&"))
    return out


def redact_text(text: str) -> str:
    """Every URL in ``text`` redacted (an error message, a log line)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def redact_values(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every string value of the event, URLs redacted."""
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = redact_text(value)
    return event
