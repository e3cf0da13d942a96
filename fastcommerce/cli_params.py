"""The command line's parameter types and shared options, kept apart from the commands."""

from __future__ import annotations

import os
from typing import Any

import click
import orjson

from .errors import FastCommerceError
from .plugins import collect_streams, make_plugin_manager
from .settings import DEFAULT_SETTLE


class Formats(click.Choice):
    """An output format; the one chosen is remembered on the root context, so an error the
    command raises is printed as JSON when the output is (:func:`error_text`)."""

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> Any:
        chosen = super().convert(value, param, ctx)
        if ctx is not None and isinstance(ctx.find_root().obj, dict):
            ctx.find_root().obj["format"] = chosen
        return chosen


FORMATS = Formats(["text", "json"])


def error_text(ctx: click.Context, message: str, kind: str) -> str:
    """The one line an error prints on stderr: ``fastcommerce: error: ...``, or with
    ``--format json`` a JSON object ``{"error": {"message": ..., "kind": ...}}``."""
    if (ctx.obj or {}).get("format") == "json":
        return orjson.dumps({"error": {"message": message, "kind": kind}}).decode()
    return f"fastcommerce: error: {message}"


def emit(data: Any, fmt: str, text: str) -> None:
    """``data`` as indented JSON with ``--format json``, else ``text``."""
    if fmt == "json":
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())
    else:
        click.echo(text)


def entrypoint_selection() -> list[str] | None:
    """The entry-point plugins ``FASTCOMMERCE_LOAD_PLUGINS`` names (None: all installed)."""
    value = os.environ.get("FASTCOMMERCE_LOAD_PLUGINS")
    if value is None:
        return None
    return [n.strip() for n in value.split(",") if n.strip()]


SETTLE_OPTION: dict[str, Any] = {
    "type": click.FloatRange(min=0), "default": None, "metavar": "SECONDS", "envvar": "FASTCOMMERCE_SETTLE",
    "help": f"A file's last line without its line break is held back (checkpoint before it) until the file has "
            f"not been modified for this many seconds [default: {DEFAULT_SETTLE:g}]; 0: the files are complete, "
            "take it now."}


WORKERS_OPTION: dict[str, Any] = {
    "type": click.IntRange(min=1), "default": None, "metavar": "N", "envvar": "FASTCOMMERCE_WORKERS",
    "help": "Processes that decode a large batch, this one included [default: 2 on two or more cores]; "
            "1: decode in this process only. The rows are the same whatever N."}


class StreamName(click.ParamType):
    """A stream the loaded plugins register (``--block``, ``FASTCOMMERCE_LOAD_PLUGINS``), checked at run time."""

    name = "stream"

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> str:
        obj = (ctx.find_root().obj if ctx is not None else None) or {}
        try:
            streams = collect_streams(make_plugin_manager(only_entrypoints=entrypoint_selection(),
                                                          blocked=obj.get("blocked", ())))
        except FastCommerceError:
            return value  # the pipeline says what is wrong with the plugins
        if value not in streams:
            self.fail(f"unknown stream {value!r}; the loaded plugins register: {', '.join(streams.names)}", param, ctx)
        return value
