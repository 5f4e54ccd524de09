"""In-process bus for the embedded default: one process, nothing to install.

The log keeps what a consumer may still need: every :data:`TRIM_EVERY` publishes,
the messages every consumer has acknowledged are dropped. Before any consumer has
subscribed (an ingest-only process) the most recent :data:`UNCONSUMED_LIMIT` are
kept, as a JetStream stream limited by message count would keep them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from openem.bus.base import Bus, Message, Subscription, subject_matches
from openem.logs import get_logger

log = get_logger(__name__)
DEDUP_WINDOW_S = 120.0
TRIM_EVERY = 1_000
UNCONSUMED_LIMIT = 100_000


@dataclass
class _Stored:
    subject: str
    data: bytes
    msg_id: str | None


@dataclass
class _Delivered:
    subject: str
    data: bytes
    msg_id: str | None
    deliveries: int
    _consumer: _Consumer
    _index: int

    async def ack(self) -> None:
        self._consumer.pending.pop(self._index, None)
        self._consumer.deliveries.pop(self._index, None)

    async def nak(self) -> None:
        if self._index in self._consumer.pending:
            self._consumer.pending[self._index] = 0.0


@dataclass
class _Consumer:
    pattern: str
    ack_wait: float
    next_index: int = 0
    pending: dict[int, float] = field(default_factory=dict)
    deliveries: dict[int, int] = field(default_factory=dict)

    @property
    def oldest_needed(self) -> int:
        """The position of the oldest message this consumer may still be given."""
        return min(self.pending, default=self.next_index)


class MemorySubscription(Subscription):
    def __init__(self, bus: MemoryBus, consumer: _Consumer) -> None:
        self._bus = bus
        self._consumer = consumer

    def _take(self, batch: int) -> list[Message]:
        consumer, bus = self._consumer, self._bus
        now = time.monotonic()
        indexes = [i for i, deadline in sorted(consumer.pending.items()) if deadline <= now]
        while len(indexes) < batch and consumer.next_index < bus.end:
            if subject_matches(consumer.pattern, bus.at(consumer.next_index).subject):
                indexes.append(consumer.next_index)
            consumer.next_index += 1
        taken: list[Message] = []
        for index in indexes[:batch]:
            consumer.pending[index] = now + consumer.ack_wait
            consumer.deliveries[index] = consumer.deliveries.get(index, 0) + 1
            stored = bus.at(index)
            taken.append(
                _Delivered(
                    stored.subject,
                    stored.data,
                    stored.msg_id,
                    consumer.deliveries[index],
                    consumer,
                    index,
                )
            )
        return taken

    async def fetch(self, batch: int = 100, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            taken = self._take(batch)
            if taken or time.monotonic() >= deadline:
                return taken
            self._bus.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bus.arrived.wait(), min(0.05, timeout))


class MemoryBus(Bus):
    def __init__(self) -> None:
        self.log: list[_Stored] = []
        self.first = 0  # the position of log[0]: consumers count from the first message
        self.consumers: dict[str, _Consumer] = {}
        self.arrived = asyncio.Event()
        self._recent_ids: OrderedDict[str, float] = OrderedDict()
        self._since_trim = 0
        self._dropped_unconsumed = False

    @property
    def end(self) -> int:
        """The position the next message will take."""
        return self.first + len(self.log)

    def at(self, position: int) -> _Stored:
        return self.log[position - self.first]

    def trim(self) -> None:
        """Drop the messages no consumer can be given again."""
        self._since_trim = 0
        if self.consumers:
            keep_from = min(consumer.oldest_needed for consumer in self.consumers.values())
        else:
            keep_from = self.end - UNCONSUMED_LIMIT
            if keep_from > self.first and not self._dropped_unconsumed:
                self._dropped_unconsumed = True  # said once: it goes on while nobody consumes
                log.warning("memory_bus_dropping_unconsumed", kept=UNCONSUMED_LIMIT)
        if keep_from > self.first:
            del self.log[: keep_from - self.first]
            self.first = keep_from

    def _duplicate(self, msg_id: str) -> bool:
        now = time.monotonic()
        while self._recent_ids and next(iter(self._recent_ids.values())) < now - DEDUP_WINDOW_S:
            self._recent_ids.popitem(last=False)
        if msg_id in self._recent_ids:
            return True
        self._recent_ids[msg_id] = now
        return False

    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        if msg_id is not None and self._duplicate(msg_id):
            return
        self.log.append(_Stored(subject, data, msg_id))
        self.arrived.set()
        self._since_trim += 1
        if self._since_trim >= TRIM_EVERY:
            self.trim()

    async def subscribe(
        self, subject: str, *, durable: str, ack_wait: float = 30.0
    ) -> Subscription:
        consumer = self.consumers.setdefault(
            durable, _Consumer(subject, ack_wait, next_index=self.first)
        )
        return MemorySubscription(self, consumer)

    async def ping(self) -> bool:
        return True

    async def purge(self, subject: str, *, match: Callable[[bytes], bool]) -> int:
        """Blank the matching entries in place (consumers index the log by position)."""
        removed = 0
        for index, stored in enumerate(self.log, start=self.first):
            if stored.subject == subject and match(stored.data):
                self.log[index - self.first] = _Stored(subject="", data=b"", msg_id=None)
                for consumer in self.consumers.values():
                    consumer.pending.pop(index, None)
                    consumer.deliveries.pop(index, None)
                removed += 1
        return removed
