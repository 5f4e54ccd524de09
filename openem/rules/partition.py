"""Several rules consumers side by side, each owning a share of the subjects.

The rule state is read-modify-write per (subject, condition), so exactly one
consumer may take a subject's messages. With ``OPENEM_RULES_PARTITIONS=N`` each of N
processes (``OPENEM_RULES_PARTITION`` = 0 .. N-1) has its own durable consumers
(``rules-telemetry-p<i>of<N>``), takes the messages of the subjects it owns
(``subject_id`` as a 128-bit integer, modulo N) and acks the others untouched; its
sweep looks only at its own subjects' devices, and partition 0 also escalates. A
subject's telemetry (all its devices) and check-in outcomes go to the same process,
in the order the bus delivers them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from openem.errors import Invalid


@dataclass(frozen=True)
class Partition:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise Invalid("a rules partition needs 0 <= index < count", field="rules_partition")

    def owns(self, subject_id: uuid.UUID) -> bool:
        return self.count == 1 or subject_id.int % self.count == self.index

    @property
    def escalates(self) -> bool:
        """Escalation looks at every alert: one partition does it."""
        return self.index == 0

    def durable(self, name: str) -> str:
        return name if self.count == 1 else f"{name}-p{self.index}of{self.count}"


WHOLE = Partition()
