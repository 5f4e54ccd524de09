"""Who is acting: a staff user (by session or token) or the system itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID | None
    role: str
    organisation_id: uuid.UUID | None
    team: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    source: str | None = None
    organisation_kind: str | None = None
    session_id: uuid.UUID | None = None

    @property
    def is_system(self) -> bool:
        return self.user_id is None


SYSTEM = Principal(user_id=None, role="system", organisation_id=None)
