"""A real NATS JetStream server, named by FASTCOMMERCE_TEST_BROKER; each test gets a stream
of its own, deleted afterwards. Unset: the tests skip with one line (they fail instead
with FASTCOMMERCE_REQUIRE_BROKER=1, as CI sets it)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterable
from urllib.parse import urlsplit

import nats
import pytest


def broker_server() -> str:
    url = os.environ.get("FASTCOMMERCE_TEST_BROKER")
    required = os.environ.get("FASTCOMMERCE_REQUIRE_BROKER") == "1"
    if not url:
        message = "FASTCOMMERCE_TEST_BROKER is not set (e.g. nats://127.0.0.1:4222): broker tests skipped"
        pytest.fail(message) if required else pytest.skip(message)
    if urlsplit(url).scheme != "nats":
        message = f"FASTCOMMERCE_TEST_BROKER={url} is not a nats:// server: the JetStream tests skipped"
        pytest.fail(message) if required else pytest.skip(message)
    parts = urlsplit(url)
    return f"nats://{parts.netloc}"


class JetStream:
    """One throwaway stream: ``url`` for fastcommerce, ``publish`` for the test."""

    def __init__(self, server: str, name: str) -> None:
        self.server, self.name = server, name
        self.url = f"{server}/{name}"

    async def _call(self, work):
        nc = await nats.connect(self.server, connect_timeout=3, max_reconnect_attempts=1)
        try:
            return await work(nc.jetstream())
        finally:
            await nc.close()

    def create(self) -> None:
        self.run(lambda js: js.add_stream(name=self.name, subjects=[f"{self.name}.>"]))

    def delete(self) -> None:
        self.run(lambda js: js.delete_stream(self.name))

    def publish(self, bodies: Iterable[bytes]) -> list[int]:
        """Publish each body (and wait for JetStream's ack); their stream sequences."""
        async def work(js):
            acks = [await js.publish(f"{self.name}.orders", body) for body in bodies]
            return [a.seq for a in acks]
        return self.run(work)

    def run(self, work):
        return asyncio.run(self._call(work))


@pytest.fixture
def jetstream():
    server = broker_server()
    stream = JetStream(server, f"fc_test_{uuid.uuid4().hex[:10]}")
    stream.create()
    yield stream
    try:
        stream.delete()
    except Exception:  # noqa: BLE001, S110 - already deleted by the test
        pass
