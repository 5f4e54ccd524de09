"""The audit trail is append-only and hash-chained; `openem audit verify` names the first
entry that was altered, removed or reordered, on both databases."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openem.access import audit, chain
from openem.access.models import AuditEntry
from openem.access.principal import SYSTEM
from openem.cli import app
from openem.db.session import transaction

runner = CliRunner()


def _write_entries(sessions: sessionmaker[Session], count: int) -> None:
    for index in range(count):  # one transaction each, like separate requests
        with transaction(sessions) as session:
            audit.record(
                session,
                principal=SYSTEM,
                action=f"test.{index}",
                record_type="test",
                record_id=str(index),
            )


@contextmanager
def _tamper(engine: Engine) -> Iterator[Connection]:
    """What an attacker with database access would do: bypass the append-only triggers."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_delete"))
        yield connection


def _verify(sessions: sessionmaker[Session]) -> chain.Verification:
    with sessions() as session:
        return chain.verify(session)


def test_entries_are_chained_in_order_and_verify(sessions: sessionmaker[Session]) -> None:
    _write_entries(sessions, 5)
    with sessions() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == chain.GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    result = _verify(sessions)
    assert result.ok and result.checked == 5 and result.head_hash == entries[-1].hash


def test_entries_of_a_rolled_back_transaction_are_not_written(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        audit.record(session, principal=SYSTEM, action="test.lost", record_type="test")
        raise RuntimeError("the request failed")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_a_refusal_is_written_even_though_its_transaction_rolls_back(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        audit.refuse(session, principal=SYSTEM, action="test.refused", record_type="test")
        raise RuntimeError("refused")
    with sessions() as session:
        outcomes = session.execute(select(AuditEntry.action, AuditEntry.outcome)).all()
    assert outcomes == [("test.refused", "refused")]
    assert _verify(sessions).ok


def test_the_database_refuses_update_and_delete_of_audit_entries(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    _write_entries(sessions, 1)
    for statement in (
        "UPDATE audit_entries SET action = 'edited'",
        "DELETE FROM audit_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert _verify(sessions).ok


def test_verify_names_an_edited_entry(engine: Engine, sessions: sessionmaker[Session]) -> None:
    _write_entries(sessions, 5)
    with _tamper(engine) as connection:
        connection.execute(text("UPDATE audit_entries SET record_id = 'x' WHERE seq = 3"))
    result = _verify(sessions)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "altered" in (result.problem or "")


def test_verify_names_the_entry_after_a_deleted_one(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    _write_entries(sessions, 5)
    with _tamper(engine) as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq = 2"))
    result = _verify(sessions)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "removed" in (result.problem or "")


def test_verify_names_a_reordered_entry(engine: Engine, sessions: sessionmaker[Session]) -> None:
    _write_entries(sessions, 5)
    with _tamper(engine) as connection:
        connection.execute(text("UPDATE audit_entries SET seq = 100 WHERE seq = 2"))
        connection.execute(text("UPDATE audit_entries SET seq = 2 WHERE seq = 3"))
        connection.execute(text("UPDATE audit_entries SET seq = 3 WHERE seq = 100"))
    result = _verify(sessions)
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "reordered" in (result.problem or "")


def test_openem_audit_verify_exits_nonzero_and_names_the_entry(
    engine: Engine, sessions: sessionmaker[Session], database_url: str
) -> None:
    _write_entries(sessions, 4)
    good = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert good.exit_code == 0, good.output
    assert "intact: 4 entries" in good.output
    with _tamper(engine) as connection:
        connection.execute(text("UPDATE audit_entries SET outcome = 'allowed' WHERE seq = 4"))
        connection.execute(text("UPDATE audit_entries SET action = 'changed' WHERE seq = 2"))
    bad = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert bad.exit_code == 1
    assert "broken at entry 2" in bad.output
