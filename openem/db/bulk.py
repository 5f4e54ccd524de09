"""Insert many rows, skipping those that conflict, and learn which were new; plus
plain and replacing inserts (:func:`insert_all`) and reads by key (:func:`rows_by_key`)
sent the same way, by the driver.

On PostgreSQL the rows travel as one JSON document, an array per column,
expanded by ``json_to_record`` and ``unnest`` in one short statement (an array
per column rather than an object per row: no keys repeated on every row, and
about a third of the Python time to build and encode). A multi-row ``VALUES`` list
instead grows the statement text with the batch: psycopg then parses every new
text in Python (about 14 ms for 60 rows of 14 columns here), and SQLAlchemy
converts every value in Python; one ``json.dumps`` call encodes the whole statement's
rows in C, however many uploads they came from (ids and times are turned into text
first, each distinct value once; binary columns travel beside the document, in
binary). The statement answers with how many rows were new and, only when some were
not, which ones.

On SQLite the driver's ``executemany`` of one prepared ``INSERT ... ON CONFLICT
DO NOTHING`` is fastest (about 3x a ``json_each`` expansion, which parses each
row's JSON once per column). Its row count says whether every row was new; only
when some were not are the new ones read back, by ``rowid`` (callers hold SQLite's
one write lock for the transaction, so no other writer's rows can be among them).

:func:`driver_rows` converts rows before a transaction and :func:`insert_driver_rows`
inserts them inside it, so a writer holding SQLite's one lock spends it on the
insert alone.

Values are written as SQLAlchemy writes them for the same columns: on SQLite a
UUID as 32 hex digits, a timestamp as naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``
and a JSON value as its JSON text (tested by reading the rows back through the ORM).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from itertools import chain
from typing import Any, cast

from sqlalchemy import (
    JSON,
    DateTime,
    LargeBinary,
    Table,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

__all__ = [
    "Distinct",
    "DriverRows",
    "Repeated",
    "StoredRows",
    "delete_by_key",
    "driver_columns",
    "driver_rows",
    "insert_all",
    "insert_driver_rows",
    "insert_new",
    "join_rows",
    "query_by_key",
    "rows_after",
    "rows_by_key",
    "stored_rows_by_key",
]


def rows_by_key(
    session: Session | Connection,
    table: Table,
    key: str,
    values: Sequence[Any],
    *,
    for_update: bool = False,
    columns: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """The rows of ``table`` whose ``key`` is one of ``values``, in key order, typed as
    the ORM reads them (all columns, or ``columns``); ``for_update`` locks them on
    PostgreSQL until commit (SQLite's one writer holds the whole database already).

    One fixed statement whatever the number of values (the list travels as one
    parameter), sent by the driver: no statement compilation per call.
    """
    stored = stored_rows_by_key(session, table, key, values, for_update=for_update,
                                columns=columns)
    return [stored.typed(row) for row in stored.rows]


@dataclass(frozen=True, slots=True)
class StoredRows:
    """Rows as the driver gave them, in key order; :meth:`typed` gives a row as the ORM
    reads it. Comparing stored rows costs far less than typing them (a UUID or time from
    text is about a microsecond a value on SQLite)."""

    rows: list[tuple[Any, ...]]
    processors: list[tuple[str, Any]]
    key: str

    def typed(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return {
            name: convert(value) if convert is not None and value is not None else value
            for (name, convert), value in zip(self.processors, row, strict=True)
        }

    def by_key(self) -> dict[Any, tuple[Any, ...]]:
        """The rows by their key, typed (the key must be among the columns read)."""
        at = [name for name, _ in self.processors].index(self.key)
        convert = self.processors[at][1]
        return {
            row[at] if convert is None or row[at] is None else convert(row[at]): row
            for row in self.rows
        }


def stored_rows_by_key(
    session: Session | Connection,
    table: Table,
    key: str,
    values: Sequence[Any],
    *,
    for_update: bool = False,
    columns: tuple[str, ...] | None = None,
) -> StoredRows:
    """:func:`rows_by_key`, each row as the driver gave it."""
    listed = columns or tuple(column.name for column in table.c)
    if not values:
        return StoredRows([], [], key)
    connection = session.connection() if isinstance(session, Session) else session
    dialect = connection.dialect
    parameter = _key_parameter(dialect.name, table, key, values)
    statement = _rows_by_key(table, listed, key, for_update, dialect.name)
    with _driver_cursor(connection, statement, (parameter,)) as cursor:
        described = tuple(column[1] for column in cursor.description)
        rows = list(cursor.fetchall())
    return StoredRows(rows, _result_processors(table, listed, dialect, described), key)


def query_by_key(
    session: Session | Connection,
    template: str,
    table: Table,
    key: str,
    values: Sequence[Any],
    *parameters: Any,
) -> list[tuple[Any, ...]]:
    """The rows, as the driver gives them, of a query written once for both databases:
    ``{key_in}`` in ``template`` becomes ``key IN`` the ``values`` (``key`` a column of
    ``table``; one parameter however many values, so one fixed statement) and each
    ``{parameter}`` the next of ``parameters``. UUIDs come back as text on SQLite."""
    if not values:
        return []
    connection = session.connection() if isinstance(session, Session) else session
    dialect = connection.dialect.name
    statement = _filled(template, table, key, dialect)
    arguments = (_key_parameter(dialect, table, key, values), *parameters)
    with _driver_cursor(connection, statement, arguments) as cursor:
        return list(cursor.fetchall())


@cache
def _filled(template: str, table: Table, key: str, dialect: str) -> str:
    return template.format(
        key_in=_key_set(table, key, dialect), parameter="%s" if dialect == "postgresql" else "?"
    )


@contextmanager
def _driver_cursor(
    connection: Connection, statement: str, parameters: Any, *, many: bool = False
) -> Iterator[Any]:
    """The driver's own cursor, having run ``statement`` in ``connection``'s transaction.

    ``exec_driver_sql`` wraps every statement in a SQLAlchemy result, and for a query
    builds its columns from the cursor's description: 14-48 µs a statement here, several
    times what SQLite takes to run these. Errors are raised as SQLAlchemy raises them
    (``IntegrityError`` and the rest), without the parameters, which hold personal data.
    """
    cursor = connection.connection.cursor()
    try:
        try:
            if many:
                cursor.executemany(statement, parameters)
            else:
                cursor.execute(statement, parameters)
        except connection.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                statement, parameters, error, connection.dialect.loaded_dbapi.Error,
                hide_parameters=True, dialect=connection.dialect,
            ) from error
        yield cursor
    finally:
        cursor.close()


def _run(connection: Connection, statement: str, parameters: Any, *, many: bool = False) -> int:
    """:func:`_driver_cursor` for a statement that returns no rows; its row count."""
    with _driver_cursor(connection, statement, parameters, many=many) as cursor:
        return int(cursor.rowcount)


def rows_after(
    connection: Connection, table: Table, key: str, after: int, limit: int,
    columns: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` rows of ``table`` whose integer ``key`` is above ``after``, in key
    order, as the driver gives them (for columns the driver returns as the ORM would:
    integers, text, bytes)."""
    statement = _rows_after(table, key, columns, connection.dialect.name)
    with _driver_cursor(connection, statement, (after, limit)) as cursor:
        return list(cursor.fetchall())


def delete_by_key(session: Session, table: Table, key: str, values: Sequence[Any]) -> int:
    """Delete the rows whose ``key`` is one of ``values`` (one parameter, however many);
    how many were deleted."""
    if not values:
        return 0
    connection = session.connection()
    dialect = connection.dialect.name
    statement = f"DELETE FROM {table.name} WHERE {_key_set(table, key, dialect)}"
    return _run(connection, statement, (_key_parameter(dialect, table, key, values),))


@cache
def _rows_after(table: Table, key: str, columns: tuple[str, ...], dialect: str) -> str:
    mark = "%s" if dialect == "postgresql" else "?"
    return (
        f"SELECT {', '.join(columns)} FROM {table.name} WHERE {key} > {mark} "
        f"ORDER BY {key} LIMIT {mark}"
    )


def _key_parameter(dialect: str, table: Table, key: str, values: Sequence[Any]) -> str:
    """``values`` as the one JSON parameter of :func:`_key_set`."""
    encode = _postgresql_key if dialect == "postgresql" else _converters("sqlite", table, (key,))[0]
    return json.dumps([encode(value) if encode else value for value in values])


@cache
def _key_set(table: Table, key: str, dialect: str) -> str:
    """``key IN`` the values of one JSON array parameter (:func:`_key_parameter`)."""
    if dialect == "postgresql":
        key_type = table.c[key].type.compile(dialect=postgresql_dialect.dialect())
        return (
            f"{key} IN (SELECT CAST(value AS {key_type}) "
            f"FROM json_array_elements_text(CAST(%s AS json)))"
        )
    return f"{key} IN (SELECT value FROM json_each(?))"


@cache
def _rows_by_key(
    table: Table, columns: tuple[str, ...], key: str, for_update: bool, dialect: str
) -> str:
    listed = ", ".join(columns)
    where = _key_set(table, key, dialect)
    statement = f"SELECT {listed} FROM {table.name} WHERE {where} ORDER BY {key}"
    if for_update and dialect == "postgresql":
        statement += " FOR UPDATE"
    return statement


@lru_cache(maxsize=64)
def _result_processors(
    table: Table, columns: tuple[str, ...], dialect: Dialect, described: tuple[object, ...]
) -> list[tuple[str, Any]]:
    """Per column, what SQLAlchemy does to the driver's value (``described``: the
    driver's type codes, which some processors depend on)."""
    return [
        (name, table.c[name].type.dialect_impl(dialect).result_processor(dialect, coltype))
        for name, coltype in zip(columns, described, strict=True)
    ]


def insert_all(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    replacing_on: tuple[str, ...] = (),
) -> None:
    """Insert ``rows`` (all with the same keys), sent by the driver: no statement
    compilation and no per-value type processing by SQLAlchemy (on PostgreSQL one
    statement over one JSON document, on SQLite one ``executemany``). A row that
    clashes with a stored one on the unique columns ``replacing_on`` updates it.
    """
    if not rows:
        return
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    prepared = driver_rows(connection.dialect.name, table, rows)
    statement = _insert_all(table, prepared.columns, replacing_on, postgresql)
    if postgresql:
        _run(connection, statement, _parameters(prepared))
    else:
        _run(connection, statement, prepared.values, many=True)


@cache
def _insert_all(
    table: Table, columns: tuple[str, ...], replacing_on: tuple[str, ...], postgresql: bool
) -> str:
    listed = ", ".join(columns)
    if postgresql:
        selected, source = _column_arrays(table, columns, "%s")
        statement = f"INSERT INTO {table.name} ({listed}) SELECT {selected} FROM {source}"
    else:
        statement = f"INSERT INTO {table.name} ({listed}) VALUES ({', '.join('?' * len(columns))})"
    if replacing_on:
        updated = [name for name in columns if name not in replacing_on]
        statement += f" ON CONFLICT ({', '.join(replacing_on)}) DO UPDATE SET " + ", ".join(
            f"{name} = excluded.{name}" for name in updated
        )
    return statement


@dataclass(frozen=True, slots=True)
class DriverRows:
    """Rows for one table already in the form its driver takes: converted before a
    transaction, inserted inside it (:func:`insert_driver_rows`); parts for the same
    table and columns are put together with :func:`join_rows`.

    ``values`` is one parameter tuple per row on SQLite; on PostgreSQL, per column, its
    values ready for ``json.dumps`` (encoded once for the whole statement)."""

    table: Table
    columns: tuple[str, ...]
    count: int
    values: list[tuple[object, ...]] | dict[str, list[object]]


@dataclass(frozen=True, slots=True)
class Repeated:
    """One value for every row of a column (a batch's device id or arrival time)."""

    value: object


class Distinct(list[Any]):
    """A column whose values all differ (a batch's fix times): converted one by one,
    without first looking for repeats (hashing an aware time asks for its offset)."""


Column = Sequence[Any] | Repeated


def driver_rows(dialect: str, table: Table, rows: Sequence[dict[str, Any]]) -> DriverRows:
    """``rows`` (all with the same keys) converted as SQLAlchemy would for ``dialect``."""
    if not rows:
        return DriverRows(table, (), 0, [])
    columns: dict[str, Column] = {name: [row[name] for row in rows] for name in rows[0]}
    return driver_columns(dialect, table, len(rows), columns)


def driver_columns(
    dialect: str, table: Table, count: int, columns: dict[str, Column]
) -> DriverRows:
    """``count`` rows given a column at a time, converted as SQLAlchemy would for
    ``dialect``: a :class:`Repeated` value once for all its rows, and in a longer
    column each distinct id or time once."""
    if not count:
        return DriverRows(table, (), 0, [])
    names = tuple(columns)
    values = [
        _converted(columns[name], convert, count)
        for name, convert in zip(names, _converters(dialect, table, names), strict=True)
    ]
    if dialect == "postgresql":
        arrays = {name: list(column) for name, column in zip(names, values, strict=True)}
        return DriverRows(table, names, count, arrays)
    return DriverRows(table, names, count, list(zip(*values, strict=True)))


def _converted(
    column: Column, convert: Callable[[Any], object] | None, count: int
) -> Sequence[object]:
    if isinstance(column, Repeated):
        value = column.value
        return [value if convert is None or value is None else convert(value)] * count
    if len(column) != count:
        raise ValueError("every column needs one value per row")
    if convert is None:
        return column
    if count > _FEW and convert is not _json_text and type(column) is not Distinct:
        return _each_distinct(list(column), convert)
    return [None if value is None else convert(value) for value in column]


# Up to this many values a column is converted value by value; beyond, each distinct id
# or time once (rows given whole repeat their batch's ids and arrival time). JSON and
# binary values are seldom repeated, and dicts cannot be looked up.
_FEW = 8


def _parameters(rows: DriverRows) -> tuple[object, ...]:
    """PostgreSQL rows as the parameters of their statements: the JSON object of an array
    per column, then each binary column's values as they are (sent in binary: as hex in
    the JSON, a 6 KB event doubled in size and was parsed character by character)."""
    arrays = cast(dict[str, list[object]], rows.values)
    binary = _binary_columns(rows.table, rows.columns)
    if not binary:
        return (json.dumps(arrays, separators=(",", ":")),)
    document = {name: values for name, values in arrays.items() if name not in binary}
    return (json.dumps(document, separators=(",", ":")), *(arrays[name] for name in binary))


@cache
def _binary_columns(table: Table, columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        name for name in columns if isinstance(_stored_type(table, name), LargeBinary)
    )


def join_rows(parts: Sequence[DriverRows]) -> DriverRows | None:
    """The non-empty ``parts`` as one set of rows (None if there are none)."""
    filled = [part for part in parts if part.count]
    if not filled:
        return None
    first = filled[0]
    if any(part.table is not first.table or part.columns != first.columns for part in filled):
        raise ValueError("only rows for the same table and columns can be joined")
    if len(filled) == 1:
        return first
    count = sum(part.count for part in filled)
    if isinstance(first.values, dict):
        arrays = {
            name: list(chain.from_iterable(
                cast(dict[str, list[object]], part.values)[name] for part in filled
            ))
            for name in first.columns
        }
        return DriverRows(first.table, first.columns, count, arrays)
    values = [row for part in filled for row in cast(list[tuple[object, ...]], part.values)]
    return DriverRows(first.table, first.columns, count, values)


def insert_new(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    unique: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """Insert ``rows``, skipping those that clash on ``unique``; ``returning`` of the new ones.

    UUID columns come back as :class:`uuid.UUID` on both databases.
    """
    if not rows:
        return []
    prepared = driver_rows(session.get_bind().dialect.name, table, rows)
    found = insert_driver_rows(session, prepared, unique=unique, returning=returning)
    if found is None:
        return _typed(table, returning, [tuple(row[name] for name in returning) for row in rows])
    return found


def insert_driver_rows(
    session: Session, rows: DriverRows, *, unique: tuple[str, ...], returning: tuple[str, ...]
) -> list[tuple[Any, ...]] | None:
    """Insert ``rows``, skipping those that clash on ``unique``. None when every row was
    new (the caller has them); otherwise ``returning`` of the new ones, UUID columns as
    :class:`uuid.UUID`."""
    if not rows.count:
        return None
    if session.get_bind().dialect.name != "postgresql":
        found = _sqlite_insert_new(session, rows, unique, returning)
    else:
        statement = _column_arrays_insert(rows.table, rows.columns, unique, returning)
        parameters = (*_parameters(rows), rows.count)
        with _driver_cursor(session.connection(), statement, parameters) as cursor:
            inserted, new_rows = cursor.fetchone()
        if inserted == rows.count:
            return None
        found = new_rows or []
    return None if found is None else _typed(rows.table, returning, found)


def _typed(
    table: Table, returning: tuple[str, ...], found: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    uuids = [_is_uuid(table, name) for name in returning]
    as_uuid = cache(_as_uuid)  # a batch returns the same few device ids on every row
    return [
        tuple(
            as_uuid(value) if is_uuid else value
            for value, is_uuid in zip(row, uuids, strict=True)
        )
        for row in found
    ]


def _sqlite_insert_new(
    session: Session, rows: DriverRows, unique: tuple[str, ...], returning: tuple[str, ...]
) -> list[tuple[Any, ...]] | None:
    """None when every row was new; otherwise the new rows' ``returning``. SQLite gives
    each new row the rowid one above the table's largest, so the n rows one statement
    inserted are the n rowids up to the last it inserted."""
    connection = session.connection()
    table = rows.table
    statement = _executemany_insert(table, rows.columns, unique)
    inserted = _run(connection, statement, rows.values, many=True)
    if inserted == rows.count:
        return None
    if inserted == 0:
        return []
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    found = connection.exec_driver_sql(
        f"SELECT {', '.join(returning)} FROM {table.name} WHERE rowid > ? ORDER BY rowid",
        (last - inserted,),
    )
    return list(found)


def _each_distinct(column: list[Any], convert: Callable[[Any], object]) -> list[object]:
    """``column`` converted, each distinct value once (None stays None)."""
    converted: dict[object, object] = {v: convert(v) for v in set(column) if v is not None}
    converted[None] = None
    return list(map(converted.__getitem__, column))


@cache
def _converters(
    dialect: str, table: Table, columns: tuple[str, ...]
) -> list[Callable[[Any], object] | None]:
    """Per column, how its values are converted for ``dialect`` (None: sent as they are).
    PostgreSQL's bulk statements take JSON: ids and times as text (binary values travel
    beside the JSON, as they are: :func:`_parameters`)."""
    converters: list[Callable[[Any], object] | None] = []
    for name in columns:
        stored = _stored_type(table, name)
        if isinstance(stored, (Uuid, DateTime)):
            converters.append(_postgresql if dialect == "postgresql" else _sqlite)
        elif isinstance(stored, JSON) and dialect != "postgresql":
            converters.append(_json_text)
        else:
            converters.append(None)
    return converters


def _stored_type(table: Table, name: str) -> TypeEngine[Any]:
    """The column's type as stored (the implementation under a ``TypeDecorator``)."""
    column_type = table.c[name].type
    return column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type


def _json_text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _is_uuid(table: Table, name: str) -> bool:
    return isinstance(_stored_type(table, name), Uuid)


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value


def _postgresql_key(value: object) -> object:
    return _postgresql(value) if isinstance(value, (uuid.UUID, datetime)) else value


def _postgresql(value: object) -> str:
    if isinstance(value, datetime):
        return _aware(value).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} as a bulk row value")


# As SQLAlchemy stores a datetime on SQLite. The ``%`` operator writes it in about half
# the time of ``isoformat``, which goes through C's printf.
_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


def _sqlite(value: object) -> str:
    if isinstance(value, datetime):
        utc = _aware(value).astimezone(UTC)
        return _SQLITE_DATETIME % (
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond
        )
    if isinstance(value, uuid.UUID):
        return value.hex
    raise TypeError(f"cannot send a {type(value).__name__} as a bulk row value")


def _column_arrays(table: Table, columns: tuple[str, ...], parameter: str) -> tuple[str, str]:
    """What to select, and from what, for ``columns`` sent as :func:`_parameters` sends
    them (``parameter``: the JSON object's placeholder): arrays unnested side by side
    into rows, the JSON object's and then, in binary, each binary column's."""
    dialect = postgresql_dialect.dialect()
    record, arrays = [], []
    for name in columns:
        if isinstance(_stored_type(table, name), LargeBinary):
            arrays.append("CAST(%b AS bytea[])")
        else:
            record.append(f"{name} {table.c[name].type.compile(dialect=dialect)}[]")
            arrays.append(f"r.{name}")
    listed = ", ".join(columns)
    source = (
        f"json_to_record(CAST({parameter} AS json)) AS r({', '.join(record)}), "
        f"unnest({', '.join(arrays)}) AS u({listed})"
    )
    return ", ".join(f"u.{name}" for name in columns), source


@cache
def _column_arrays_insert(
    table: Table, columns: tuple[str, ...], unique: tuple[str, ...], returning: tuple[str, ...]
) -> str:
    """Parameters: the rows' JSON document, then their count."""
    selected, source = _column_arrays(table, columns, "%s")
    listed = ", ".join(columns)
    returned = ", ".join(returning)
    # How many rows were new, and only when some were not, which (as JSON: no row by row
    # fetching in the usual case).
    return (
        f"WITH inserted AS (INSERT INTO {table.name} ({listed}) "
        f"SELECT {selected} FROM {source} "
        f"ON CONFLICT ({', '.join(unique)}) DO NOTHING RETURNING {returned}) "
        f"SELECT count(*), CASE WHEN count(*) < %s "
        f"THEN json_agg(json_build_array({returned})) END FROM inserted"
    )


@cache
def _executemany_insert(table: Table, columns: tuple[str, ...], unique: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(unique)}) DO NOTHING"
    )
