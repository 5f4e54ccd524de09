"""Keyset pagination: stable and fast however deep the page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from openem.errors import Invalid

T = TypeVar("T")

MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def paginate(
    session: Session,
    query: Select[Any],
    key: InstrumentedAttribute[uuid.UUID],
    *,
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if cursor:
        try:
            after = uuid.UUID(cursor)
        except ValueError as error:
            raise Invalid("cursor is not valid", field="cursor") from error
        query = query.where(key > after)
    rows = list(session.scalars(query.order_by(key).limit(limit + 1)).unique())
    next_cursor = str(getattr(rows[limit - 1], key.key)) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)
