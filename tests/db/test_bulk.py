"""Bulk inserts that skip rows already stored and say which rows were new."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Table, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openem.access.principal import SYSTEM
from openem.bus.outbox import OUTBOX, OutboxMessage
from openem.db.bulk import (
    Column,
    Distinct,
    Repeated,
    delete_by_key,
    driver_columns,
    driver_rows,
    insert_all,
    insert_driver_rows,
    insert_new,
    join_rows,
    query_by_key,
    rows_after,
    rows_by_key,
    stored_rows_by_key,
)
from openem.devices import service as devices
from openem.devices.models import DeviceHealth
from openem.devices.schemas import DeviceCreate
from openem.ingest.models import DeviceEvent
from openem.locations.models import Position

POSITIONS: Table = Position.__table__  # type: ignore[assignment]
EVENTS: Table = DeviceEvent.__table__  # type: ignore[assignment]
HEALTH: Table = DeviceHealth.__table__  # type: ignore[assignment]
AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def device_id(session: Session) -> uuid.UUID:
    device = devices.register_device(
        session, principal=SYSTEM, data=DeviceCreate(kind="fitted_tag", serial="BULK-1")
    )
    session.commit()
    return device.id


def _fix(device_id: uuid.UUID, seq: int) -> dict[str, object]:
    return {
        "device_id": device_id, "subject_id": None, "order_id": None, "seq": seq,
        "fixed_at": AT + timedelta(minutes=seq), "received_at": AT + timedelta(hours=1),
        "lat": 51.5 + seq / 1000, "lon": -0.12, "accuracy_m": 8.0, "speed_mps": None,
        "heading_deg": None, "altitude_m": None, "source": "gnss", "flags": "",
    }


def _insert(session: Session, table: Table, rows: list[dict[str, object]]) -> list[int]:
    with session.begin():
        inserted = insert_new(session, table, rows, unique=("device_id", "seq"), returning=("seq",))
        return sorted(seq for (seq,) in inserted)


def test_only_new_rows_are_inserted_and_reported(session: Session, device_id: uuid.UUID) -> None:
    assert _insert(session, POSITIONS, [_fix(device_id, s) for s in (1, 2, 3)]) == [1, 2, 3]
    assert _insert(session, POSITIONS, [_fix(device_id, s) for s in (2, 3, 4)]) == [4]
    assert _insert(session, POSITIONS, [_fix(device_id, s) for s in (1, 4)]) == []
    stored = session.execute(
        select(Position.seq, Position.fixed_at, Position.lat).order_by(Position.seq)
    ).all()
    assert [(row.seq, row.fixed_at, row.lat) for row in stored] == [
        (s, AT + timedelta(minutes=s), 51.5 + s / 1000) for s in (1, 2, 3, 4)
    ]


def test_rows_are_stored_as_the_orm_stores_them(session: Session, device_id: uuid.UUID) -> None:
    """Filters written with the ORM (UUID equality, time ranges) find bulk-inserted rows."""
    with session.begin():
        session.add(Position(**_fix(device_id, 1)))
    _insert(session, POSITIONS, [_fix(device_id, s) for s in (2, 3)])
    in_range = select(func.count()).where(
        Position.device_id == device_id,
        Position.fixed_at >= AT + timedelta(minutes=1),
        Position.fixed_at < AT + timedelta(minutes=3),
    )
    assert session.scalar(in_range) == 2
    received = select(func.count()).where(Position.received_at == AT + timedelta(hours=1))
    assert session.scalar(received) == 3


def test_returned_uuids_are_uuids(session: Session, device_id: uuid.UUID) -> None:
    with session.begin():
        inserted = insert_new(
            session, POSITIONS, [_fix(device_id, 1)], unique=("device_id", "seq"),
            returning=("device_id", "seq"),
        )
    assert inserted == [(device_id, 1)]


def test_json_columns_round_trip(session: Session, device_id: uuid.UUID) -> None:
    row = {
        "device_id": device_id, "subject_id": None, "seq": 7, "kind": "battery", "at": AT,
        "received_at": AT, "data": {"level": 14, "charging": False, "note": 'a "quoted" é'},
    }
    assert _insert(session, EVENTS, [row]) == [7]
    assert session.scalar(select(DeviceEvent.data)) == row["data"]


def test_no_rows_is_no_statement(session: Session) -> None:
    assert insert_new(session, POSITIONS, [], unique=("device_id", "seq"), returning=("seq",)) == []


def test_naive_timestamps_are_refused(session: Session, device_id: uuid.UUID) -> None:
    row = _fix(device_id, 1) | {"fixed_at": datetime(2026, 11, 28, 9, 0)}
    with pytest.raises(ValueError, match="timezone-aware"):
        _insert(session, POSITIONS, [row])
    assert session.scalar(select(Position.id)) is None


def test_insert_all_stores_rows_as_the_orm_reads_them(session: Session) -> None:
    rows = [
        {"subject": "s.1", "msg_id": "m-1", "payload": b'{"a":1}\x00\xff', "created_at": AT},
        {"subject": "s.2", "msg_id": "m-2", "payload": b"", "created_at": AT + timedelta(1)},
    ]
    with session.begin():
        insert_all(session, OUTBOX, rows)
    stored = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.subject, m.msg_id, m.payload) for m in stored] == [
        ("s.1", "m-1", b'{"a":1}\x00\xff'), ("s.2", "m-2", b"")
    ]
    earliest = select(func.count()).where(OutboxMessage.created_at == AT)
    assert session.scalar(earliest) == 1


def test_insert_all_of_no_rows_is_no_statement(session: Session) -> None:
    with session.begin():
        insert_all(session, OUTBOX, [])
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_rows_by_key_reads_rows_as_the_orm_does(session: Session) -> None:
    ids = []
    with session.begin():
        for serial, charging in (("BULK-A", True), ("BULK-B", False)):
            device = devices.register_device(
                session, principal=SYSTEM, data=DeviceCreate(kind="fitted_tag", serial=serial)
            )
            session.flush()
            session.add(DeviceHealth(
                device_id=device.id, subject_id=uuid.uuid4(), last_seen_at=AT, last_fix_at=AT,
                last_fix_lat=51.5, last_fix_lon=-0.12, battery_level=80, charging=charging,
                strap_state="intact", worn=None,
            ))
            ids.append(device.id)
    with session.begin():
        rows = rows_by_key(session, HEALTH, "device_id", [ids[1], uuid.uuid4(), ids[0]])
    session.expunge_all()
    expected = [
        {column.name: getattr(session.get(DeviceHealth, device_id), column.key)
         for column in HEALTH.c}
        for device_id in sorted(ids)
    ]
    assert rows == expected
    assert {type(row["last_seen_at"].tzinfo) for row in rows} == {type(AT.tzinfo)}
    assert [row["charging"] for row in rows] == [r["charging"] for r in expected]


def test_stored_rows_compare_equal_until_a_row_changes(session: Session) -> None:
    with session.begin():
        device = devices.register_device(
            session, principal=SYSTEM, data=DeviceCreate(kind="fitted_tag", serial="BULK-S")
        )
        session.flush()
        session.add(DeviceHealth(device_id=device.id, last_seen_at=AT, battery_level=80))
    with session.begin():
        first = stored_rows_by_key(session, HEALTH, "device_id", [device.id])
        again = stored_rows_by_key(session, HEALTH, "device_id", [device.id, uuid.uuid4()])
    with session.begin():
        insert_all(session, HEALTH, [{"device_id": device.id, "last_seen_at": AT,
                                      "battery_level": 79}], replacing_on=("device_id",))
    with session.begin():
        changed = stored_rows_by_key(session, HEALTH, "device_id", [device.id])

    assert list(first.by_key()) == [device.id]  # keyed by the typed id
    assert first.by_key() == again.by_key()
    assert changed.by_key()[device.id] != first.by_key()[device.id]
    assert changed.typed(changed.rows[0])["battery_level"] == 79
    assert first.typed(first.rows[0])["last_seen_at"] == AT


def test_a_refused_row_raises_as_sqlalchemy_would_without_its_values(session: Session) -> None:
    unknown_device = uuid.uuid4()  # the foreign key refuses it
    with pytest.raises(IntegrityError) as refused, session.begin():
        insert_all(session, OUTBOX, [{"subject": "openem.test", "msg_id": "kept",
                                      "payload": b"{}", "created_at": AT}])
        insert_all(session, HEALTH, [{"device_id": unknown_device, "last_fix_lat": 51.51234}])
    assert "51.51234" not in str(refused.value)  # the statement's values are not repeated
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # rolled back


def test_rows_after_a_key_come_in_key_order_up_to_the_limit(session: Session) -> None:
    with session.begin():
        insert_all(session, OUTBOX, [
            {"subject": "openem.test", "msg_id": f"m{n}", "payload": bytes([n]) * 3,
             "created_at": AT}
            for n in range(5)
        ])
        ids = sorted(session.scalars(select(OutboxMessage.id)))
    with session.begin():
        rows = rows_after(session.connection(), OUTBOX, "id", ids[1], 2,
                          ("id", "msg_id", "payload"))
    assert [(row[0], row[1], bytes(row[2])) for row in rows] == [
        (ids[2], "m2", b"\x02" * 3), (ids[3], "m3", b"\x03" * 3)
    ]


def test_delete_by_key_deletes_exactly_the_rows_named(session: Session) -> None:
    with session.begin():
        insert_all(session, OUTBOX, [
            {"subject": "openem.test", "msg_id": f"m{n}", "payload": b"{}", "created_at": AT}
            for n in range(4)
        ])
        ids = sorted(session.scalars(select(OutboxMessage.id)))
    with session.begin():
        assert delete_by_key(session, OUTBOX, "id", [ids[0], ids[2], 10**9]) == 2
        assert delete_by_key(session, OUTBOX, "id", []) == 0
    assert sorted(session.scalars(select(OutboxMessage.msg_id))) == ["m1", "m3"]


def test_rows_by_key_of_no_keys_is_no_rows(session: Session) -> None:
    assert rows_by_key(session, HEALTH, "device_id", []) == []


def test_a_query_by_key_reads_the_rows_of_the_keys_named_and_its_other_parameters(
    session: Session,
) -> None:
    with session.begin():
        insert_all(session, OUTBOX, [
            {"subject": f"openem.{kind}", "msg_id": f"m{n}", "payload": b"{}", "created_at": AT}
            for n, kind in enumerate(["a", "b", "a", "a"])
        ])
        ids = sorted(session.scalars(select(OutboxMessage.id)))
    query = "SELECT msg_id FROM outbox WHERE {key_in} AND subject = {parameter} ORDER BY id"
    with session.begin():
        named = [ids[0], ids[1], ids[3], 10**9]
        assert query_by_key(session, query, OUTBOX, "id", named, "openem.a") == [("m0",), ("m3",)]
        assert query_by_key(session, query, OUTBOX, "id", [], "openem.a") == []


def test_insert_all_replacing_on_a_key_updates_the_stored_row(
    session: Session, device_id: uuid.UUID
) -> None:
    health = {"device_id": device_id, "battery_level": 80, "charging": True, "last_seen_at": AT}
    with session.begin():
        insert_all(session, HEALTH, [health], replacing_on=("device_id",))
    later = health | {"battery_level": 12, "charging": None, "last_seen_at": AT + timedelta(1)}
    with session.begin():
        insert_all(session, HEALTH, [later], replacing_on=("device_id",))
    session.expunge_all()
    stored = session.get(DeviceHealth, device_id)
    assert stored is not None
    assert (stored.battery_level, stored.charging, stored.last_seen_at) == (
        12, None, AT + timedelta(1)
    )


def test_rows_converted_ahead_and_joined_are_inserted_as_one(
    session: Session, device_id: uuid.UUID
) -> None:
    dialect = session.get_bind().dialect.name
    parts = [
        driver_rows(dialect, POSITIONS, [_fix(device_id, 1), _fix(device_id, 2)]),
        driver_rows(dialect, POSITIONS, []),
        driver_rows(dialect, POSITIONS, [_fix(device_id, 3)]),
    ]
    rows = join_rows(parts)
    assert rows is not None and rows.count == 3
    with session.begin():
        assert insert_driver_rows(
            session, rows, unique=("device_id", "seq"), returning=("seq",)
        ) is None  # all new
    again = join_rows([driver_rows(dialect, POSITIONS, [_fix(device_id, s) for s in (3, 4)])])
    assert again is not None
    with session.begin():
        assert insert_driver_rows(
            session, again, unique=("device_id", "seq"), returning=("device_id", "seq")
        ) == [(device_id, 4)]
    stored = session.execute(select(Position.seq, Position.fixed_at).order_by(Position.seq))
    assert [tuple(row) for row in stored] == [
        (s, AT + timedelta(minutes=s)) for s in (1, 2, 3, 4)
    ]


def test_only_rows_for_the_same_table_and_columns_join(
    session: Session, device_id: uuid.UUID
) -> None:
    dialect = session.get_bind().dialect.name
    fixes = driver_rows(dialect, POSITIONS, [_fix(device_id, 1)])
    narrower = driver_rows(dialect, POSITIONS, [{"device_id": device_id, "seq": 2}])
    assert join_rows([driver_rows(dialect, POSITIONS, [])]) is None
    with pytest.raises(ValueError, match="same table and columns"):
        join_rows([fixes, narrower])


def test_rows_given_a_column_at_a_time_are_stored_as_rows_given_whole(
    session: Session, device_id: uuid.UUID
) -> None:
    dialect = session.get_bind().dialect.name
    by_row = [_fix(device_id, 1), _fix(device_id, 2)]
    columns: dict[str, Column] = {
        name: [row[name] for row in by_row] for name in by_row[0]
    }
    received = AT + timedelta(hours=1)
    columns |= {"device_id": Repeated(device_id), "received_at": Repeated(received),
                "speed_mps": Repeated(None)}
    by_column = driver_columns(dialect, POSITIONS, 2, columns)
    assert by_column.values == driver_rows(dialect, POSITIONS, by_row).values
    with session.begin():
        assert insert_driver_rows(
            session, by_column, unique=("device_id", "seq"), returning=("seq",)
        ) is None
    stored = session.execute(select(Position.device_id, Position.seq, Position.received_at))
    assert sorted(tuple(row) for row in stored) == [(device_id, s, received) for s in (1, 2)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_column_known_distinct_is_converted_as_any_other(dialect: str) -> None:
    times = [AT + timedelta(seconds=n) for n in range(12)]
    plain = driver_columns(dialect, POSITIONS, 12, {"fixed_at": times})
    distinct = driver_columns(dialect, POSITIONS, 12, {"fixed_at": Distinct(times)})
    assert distinct.values == plain.values
    with pytest.raises(ValueError, match="one value per row"):
        driver_columns(dialect, POSITIONS, 13, {"fixed_at": Distinct(times)})


def test_a_column_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="one value per row"):
        driver_columns("sqlite", POSITIONS, 3, {"seq": [1, 2]})


OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                        max_value=timedelta(hours=23, minutes=59)).map(timezone)


@given(at=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                       timezones=OFFSETS))
def test_sqlite_times_are_written_as_sqlalchemy_writes_them(at: datetime) -> None:
    """Bulk rows and ORM rows must compare as equal times in SQL: the same text."""
    dialect = sqlite.dialect()
    written_by_sqlalchemy = POSITIONS.c.fixed_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert written_by_sqlalchemy is not None
    rows = driver_columns("sqlite", POSITIONS, 1, {"fixed_at": [at]})
    assert rows.values == [(written_by_sqlalchemy(at),)]
