"""The JetStream source: an ephemeral pull consumer from the checkpoint's position on."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError

from fastcommerce.errors import SourceError
from fastcommerce.logs import get_logger
from fastcommerce.message_sources import Message

__all__ = ["JetStreamSource", "parse_url"]

logger = get_logger(__name__)

SCHEME = "nats"
CONNECT_TIMEOUT = 3.0
CONSUMER_CHECK = 5.0  # seconds without a message after which the consumer is made again
_STREAM_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # JetStream's names: no whitespace, '.', '*', '>' or path separators
_T = TypeVar("_T")


class _Loop:
    """An asyncio loop on a thread of its own: the ingester is synchronous, nats-py is not,
    and the client's pings and reconnects keep running while the ingester commits or
    projects."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fastcommerce-nats", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


def _host_port(server: str) -> tuple[str, int]:
    parts = urlsplit(server)
    return parts.hostname or "127.0.0.1", parts.port or 4222


def parse_url(url: str) -> tuple[str, str, str]:
    """``(server URL for the client, the name the log knows the source by, stream name)``
    from ``nats://[user:password@]host[:port]/STREAM``. The log's name carries no
    credentials."""
    parts = urlsplit(url)
    stream = parts.path.strip("/")
    if parts.scheme.lower() != SCHEME or not parts.hostname:
        raise SourceError(f"{url}: not a NATS URL (nats://HOST:PORT/STREAM)")
    if not _STREAM_NAME.match(stream):
        raise SourceError(f"{url}: {stream!r} is not a JetStream stream name (nats://HOST:PORT/STREAM; "
                          "letters, digits, '-' and '_')")
    port = parts.port or 4222
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    auth = parts.netloc.rpartition("@")[0]
    server = f"nats://{auth + '@' if auth else ''}{host}:{port}"
    return server, f"nats://{host}:{port}/{stream}", stream


class JetStreamSource:
    """One JetStream stream, read in sequence order by an ephemeral pull consumer that
    starts at the position asked for. Implements :class:`fastcommerce.message_sources.MessageSource`."""

    def __init__(self, url: str, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self._server, self.url, self.stream = parse_url(url)
        self._loop = _Loop()
        self._sub: Any = None
        self._next = 0  # the stream sequence the consumer delivers next
        self._consumer_seq = 0  # the consumer's own sequence of the last message it delivered
        self._closing = False
        self._active = time.monotonic()  # when the consumer last delivered (or was created)
        log = logger.bind(source=self.url)

        async def on_error(exc: Exception) -> None:
            log.warning("nats_error", error=f"{type(exc).__name__}: {exc}")

        async def on_disconnected() -> None:
            if self._closing:
                return
            log.warning("nats_disconnected", reason="reconnecting; the checkpoint says where to go on")

        async def on_reconnected() -> None:
            log.info("nats_reconnected")

        try:
            # the client retries a first connection for ever: a server that is not there is said at once
            socket.create_connection(_host_port(self._server), timeout=connect_timeout).close()
            self._nc = self._loop.run(nats.connect(self._server, connect_timeout=connect_timeout,
                                                   max_reconnect_attempts=-1, allow_reconnect=True,
                                                   error_cb=on_error, disconnected_cb=on_disconnected,
                                                   reconnected_cb=on_reconnected),
                                      timeout=connect_timeout * 3)
        except Exception as exc:
            self._loop.stop()
            raise SourceError(f"{self.url}: cannot connect to the NATS server: {type(exc).__name__}: {exc}") from exc
        self._js = self._nc.jetstream()
        self._info()  # a missing stream is said now, not at the first fetch

    def _info(self) -> api.StreamInfo:
        try:
            return self._loop.run(self._js.stream_info(self.stream), timeout=30)
        except NotFoundError:
            raise SourceError(f"{self.url}: no JetStream stream {self.stream!r} on the server "
                              f"(create it: nats stream add {self.stream} --subjects '{self.stream}.>')") from None
        except (NatsError, TimeoutError) as exc:
            raise SourceError(f"{self.url}: {type(exc).__name__}: {exc}") from exc

    def identity(self) -> bytes:
        """The stream's name and creation time: a stream deleted and created again under the
        same name (its sequences start at 1 again) is another stream."""
        info = self._info()
        created = getattr(info, "created", None) or ""
        return hashlib.sha256(f"jetstream\0{self.stream}\0{created}".encode()).digest()

    def last_position(self) -> int:
        return int(self._info().state.last_seq)

    def fetch(self, after: int, limit: int, wait: float) -> Sequence[Message]:
        if self._sub is None or after + 1 != self._next:
            self._subscribe(after + 1)
        try:
            msgs = self._loop.run(self._sub.fetch(limit, timeout=max(wait, 0.001)), timeout=max(wait, 0.001) + 30)
        except (NatsTimeout, TimeoutError):
            if time.monotonic() - self._active > CONSUMER_CHECK:
                # quiet for a while: the consumer may be gone (the server deletes an idle one,
                # and a restarted server has none), and a pull to it waits for ever; the next
                # fetch starts a new one where this one was
                self._reset()
            return []
        except NatsError as exc:  # a dropped connection, say: the next fetch starts a new consumer
            self._reset()
            raise SourceError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        out: list[Message] = []
        for m in msgs:
            seq = m.metadata.sequence
            if seq.consumer != self._consumer_seq + 1 or seq.stream < self._next:
                # a message the client dropped (or one from an earlier pull): never skip
                # one silently; the next fetch starts a consumer after the last one kept
                self._reset()
                break
            self._consumer_seq, self._next = seq.consumer, seq.stream + 1
            out.append(Message(seq.stream, m.data))
        self._active = time.monotonic()
        return out

    def _subscribe(self, start: int) -> None:
        self._reset()
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
                                    ack_policy=api.AckPolicy.NONE, inactive_threshold=60.0,
                                    mem_storage=True, num_replicas=1)
        try:
            self._sub = self._loop.run(self._js.pull_subscribe(">", stream=self.stream, config=config), timeout=30)
        except NotFoundError:
            raise SourceError(f"{self.url}: the JetStream stream {self.stream!r} is gone") from None
        except (NatsError, TimeoutError) as exc:
            raise SourceError(f"{self.url}: cannot create a consumer: {type(exc).__name__}: {exc}") from exc
        self._next, self._consumer_seq = start, 0
        self._active = time.monotonic()

    def _reset(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                self._loop.run(sub.unsubscribe(), timeout=5)
            except Exception:  # noqa: BLE001, S110 - the server drops an idle ephemeral consumer itself
                pass

    def close(self) -> None:
        self._closing = True
        try:
            self._reset()
            self._loop.run(self._nc.close(), timeout=5)
        except Exception:  # noqa: BLE001, S110 - closing: nothing left to lose
            pass
        finally:
            self._loop.stop()
