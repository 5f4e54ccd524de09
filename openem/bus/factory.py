"""Pick the bus from ``OPENEM_BUS_URL``."""

from __future__ import annotations

from openem.bus.base import Bus
from openem.bus.memory import MemoryBus
from openem.bus.nats import NatsBus


async def connect_bus(url: str) -> Bus:
    if url.startswith("memory://"):
        return MemoryBus()
    if url.startswith(("nats://", "tls://")):
        return await NatsBus.connect(url)
    raise ValueError("OPENEM_BUS_URL must start with memory:// or nats://")
