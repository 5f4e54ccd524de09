"""The bus: publish, and durable pull subscriptions with explicit ack.

Delivery is at least once: a message that is not acked within ``ack_wait``
is delivered again, so every consumer must be idempotent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Message(Protocol):
    subject: str
    data: bytes
    msg_id: str | None
    deliveries: int

    async def ack(self) -> None: ...

    async def nak(self) -> None: ...


class Subscription(ABC):
    @abstractmethod
    async def fetch(self, batch: int = 100, timeout: float = 1.0) -> list[Message]:
        """Up to ``batch`` messages; an empty list when none arrive within ``timeout``."""

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class ConsumerOptions:
    durable: str
    ack_wait: float = 30.0


class Bus(ABC):
    @abstractmethod
    async def publish(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        """Publish durably; a repeated ``msg_id`` within the dedup window is stored once."""

    @abstractmethod
    async def subscribe(
        self, subject: str, *, durable: str, ack_wait: float = 30.0
    ) -> Subscription: ...

    @abstractmethod
    async def ping(self) -> bool: ...

    @abstractmethod
    async def purge(self, subject: str, *, match: Callable[[bytes], bool]) -> int:
        """Delete retained messages on ``subject`` whose payload ``match`` accepts; count them."""

    async def close(self) -> None:
        return None


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` is one or more trailing tokens."""
    wanted, actual = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(actual) > index
        if index >= len(actual) or (token != "*" and token != actual[index]):
            return False
    return len(wanted) == len(actual)
