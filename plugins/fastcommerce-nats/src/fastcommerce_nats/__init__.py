"""fastcommerce-nats: read a NATS JetStream stream as a fastcommerce source.

``fastcommerce ingest orders nats://127.0.0.1:4222/orders`` appends the messages of the
JetStream stream ``orders`` after the source's checkpoint; ``--follow`` keeps doing so.
The stream sequence of a message is its position: it is stored where a file's line is
(the log's ``line`` column, a quarantined record's place ``nats://HOST:PORT/STREAM:SEQ``)
and the checkpoint, which commits in the append's transaction, holds the last one. The
consumer is ephemeral and never acknowledges: the database holds the only copy of how far
the stream was read, so the broker's idea of it can never disagree with the log's (see
docs/broker.md and docs/decisions.md).

The client (nats-py) is imported when a ``nats://`` URL is opened, not when the plugin is
loaded: every ``fastcommerce`` command loads the plugin, few read a broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastcommerce.hookspecs import hookimpl
from fastcommerce.message_sources import SourceOpener

if TYPE_CHECKING:
    from .jetstream import JetStreamSource

__all__ = ["SCHEME", "open_jetstream", "register_source_openers"]

SCHEME = "nats"


def open_jetstream(url: str) -> JetStreamSource:
    """The stream ``url`` names (``nats://[user:password@]HOST[:PORT]/STREAM``), connected."""
    from .jetstream import JetStreamSource

    return JetStreamSource(url)


@hookimpl
def register_source_openers() -> list[SourceOpener]:
    return [SourceOpener(scheme=SCHEME, open=open_jetstream,
                         description="a NATS JetStream stream: nats://HOST:PORT/STREAM")]
