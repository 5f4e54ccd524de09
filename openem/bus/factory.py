"""Pick the bus from ``OPENEM_BUS_URL``."""

from __future__ import annotations

from openem.bus.base import Bus
from openem.bus.memory import MemoryBus
from openem.bus.nats import MAX_AGE_S, NatsBus


async def connect_bus(url: str, *, max_age_s: float = MAX_AGE_S) -> Bus:
    """The bus ``url`` names; a NATS stream keeps a message ``max_age_s`` at most."""
    if url.startswith("memory://"):
        return MemoryBus()
    if url.startswith(("nats://", "tls://")):
        return await NatsBus.connect(url, max_age_s=max_age_s)
    raise ValueError("OPENEM_BUS_URL must start with memory:// or nats://")
