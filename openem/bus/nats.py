"""NATS JetStream bus for production: durable, replicated, shared by worker processes."""

from __future__ import annotations

from collections.abc import Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from openem.bus.base import Bus, Message, Subscription

DUPLICATE_WINDOW_S = 120.0
# The bus carries telemetry (locations, personal data) to consumers that acknowledge it
# within seconds; the database is the record. A message older than this is dropped by
# JetStream itself, whether or not a purge ever names its subject.
MAX_AGE_S = 7 * 24 * 3600.0


class _NatsMessage:
    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.subject = msg.subject
        self.data = msg.data
        self.msg_id = (msg.headers or {}).get("Nats-Msg-Id")
        self.deliveries = msg.metadata.num_delivered

    async def ack(self) -> None:
        await self._msg.ack()

    async def nak(self) -> None:
        await self._msg.nak()


class NatsSubscription(Subscription):
    def __init__(self, subscription: JetStreamContext.PullSubscription) -> None:
        self._subscription = subscription

    async def fetch(self, batch: int = 100, timeout: float = 1.0) -> list[Message]:
        try:
            msgs = await self._subscription.fetch(batch, timeout=timeout)
        except (NatsTimeout, TimeoutError):
            return []
        return [_NatsMessage(msg) for msg in msgs]

    async def close(self) -> None:
        await self._subscription.unsubscribe()


class NatsBus(Bus):
    def __init__(self, client: Client, js: JetStreamContext, stream: str) -> None:
        self._client = client
        self._js = js
        self.stream = stream

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        stream: str = "OPENEM",
        subjects: str = "openem.>",
        max_age_s: float = MAX_AGE_S,
    ) -> NatsBus:
        """Connect, creating the stream or bringing an existing one to this configuration."""
        client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3)
        js = client.jetstream()
        config = StreamConfig(
            name=stream, subjects=[subjects], max_age=max_age_s,
            duplicate_window=min(DUPLICATE_WINDOW_S, max_age_s),  # JetStream's rule
        )
        try:
            await js.stream_info(stream)
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)
        return cls(client, js, stream)

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self._js.publish(subject, data, stream=self.stream, headers=headers)

    async def subscribe(
        self, subject: str, *, durable: str, ack_wait: float = 30.0
    ) -> Subscription:
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait)
        subscription = await self._js.pull_subscribe(
            subject, durable=durable, stream=self.stream, config=config
        )
        return NatsSubscription(subscription)

    async def ping(self) -> bool:
        if not self._client.is_connected:
            return False
        await self._client.flush(timeout=2)
        return True

    async def purge(self, subject: str, *, match: Callable[[bytes], bool]) -> int:
        """Read ``subject`` with an ephemeral consumer and delete the matching messages by seq."""
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0
        )
        subscription = await self._js.pull_subscribe(subject, stream=self.stream, config=config)
        removed = 0
        try:
            while True:
                try:
                    msgs = await subscription.fetch(256, timeout=0.5)
                except (NatsTimeout, TimeoutError):
                    break
                for msg in msgs:
                    if match(msg.data):
                        await self._js.delete_msg(self.stream, msg.metadata.sequence.stream)
                        removed += 1
        finally:
            await subscription.unsubscribe()
        return removed

    async def delete_stream(self) -> None:
        await self._js.delete_stream(self.stream)

    async def close(self) -> None:
        if self._client.is_connected:
            await self._client.flush(timeout=2)
        await self._client.close()
