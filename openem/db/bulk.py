"""Insert many rows, skipping those that conflict, and learn which were new.

On PostgreSQL the rows travel as one JSON document, expanded by
``json_to_recordset`` in a single short statement: a multi-row ``VALUES`` list
makes the statement text grow with the batch, and psycopg then parses every
new text in Python (about 14 ms for 60 rows of 14 columns here), and arrays
per column are dumped value by value in Python too. On SQLite the rows go as
one ``executemany`` that SQLAlchemy batches into multi-row inserts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Executable, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

__all__ = ["insert_new"]


def insert_new(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    unique: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """Insert ``rows``, skipping those that clash on ``unique``; ``returning`` of the new ones."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        statement = _recordset_insert(table, columns, unique, returning)
        document = json.dumps(rows, separators=(",", ":"), default=_json_value)
        return [tuple(row) for row in session.execute(statement, {"rows": document})]
    inserted = session.execute(_sqlite_insert(table, unique, returning), list(rows))
    return [tuple(row) for row in inserted]


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} as a bulk row value")


@cache
def _recordset_insert(
    table: Table, columns: tuple[str, ...], unique: tuple[str, ...], returning: tuple[str, ...]
) -> Executable:
    dialect = postgresql.dialect()
    record = ", ".join(f"{name} {table.c[name].type.compile(dialect=dialect)}" for name in columns)
    listed = ", ".join(columns)
    return text(
        f"INSERT INTO {table.name} ({listed}) "
        f"SELECT {listed} FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
        f"ON CONFLICT ({', '.join(unique)}) DO NOTHING RETURNING {', '.join(returning)}"
    )


@cache
def _sqlite_insert(table: Table, unique: tuple[str, ...], returning: tuple[str, ...]) -> Executable:
    return (
        sqlite_insert(table)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(*(table.c[name] for name in returning))
    )
