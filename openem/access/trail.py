"""Reading the audit trail: search, export, verification and aggregate reports (auditors)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openem.access import audit, chain
from openem.access.models import AuditEntry
from openem.access.policy import require
from openem.access.principal import Principal
from openem.errors import Invalid
from openem.pagination import MAX_LIMIT, Page

EXPORT_LIMIT = 100_000
EXPORT_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_role",
    "actor_organisation_id",
    "action",
    "record_type",
    "record_id",
    "subject_id",
    "purpose",
    "purpose_detail",
    "outcome",
    "source",
    "prev_hash",
    "hash",
)


def _check_window(query: audit.AuditQuery) -> None:
    if query.since and query.until and query.until <= query.since:
        raise Invalid("until must be after since", field="until")


def _note_search(
    session: Session, principal: Principal, query: audit.AuditQuery, action: str
) -> None:
    audit.record(
        session,
        principal=principal,
        action=action,
        record_type="audit_entry",
        subject_id=query.subject_id,
        record_id=str(query.actor_id) if query.actor_id else None,
    )


def search(
    session: Session,
    *,
    principal: Principal,
    query: audit.AuditQuery,
    cursor: str | None,
    limit: int,
) -> Page[AuditEntry]:
    """Newest first; the cursor is the last ``seq`` seen."""
    require(principal, "audit:read")
    _check_window(query)
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    statement = audit.search_query(query)
    if cursor:
        if not cursor.isdigit():
            raise Invalid("cursor is not valid", field="cursor")
        statement = statement.where(AuditEntry.seq < int(cursor))
    rows = list(session.scalars(statement.order_by(AuditEntry.seq.desc()).limit(limit + 1)))
    _note_search(session, principal, query, "audit.search")
    next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)


def _row(entry: AuditEntry) -> dict[str, str | int | None]:
    values: dict[str, str | int | None] = {}
    for name in EXPORT_FIELDS:
        value = getattr(entry, name)
        values[name] = (
            value.isoformat()
            if isinstance(value, datetime)
            else (value if value is None or isinstance(value, int) else str(value))
        )
    return values


def export(
    session: Session, *, principal: Principal, query: audit.AuditQuery, fmt: str
) -> Iterator[str]:
    """All matching entries, oldest first, as CSV or JSON Lines chunks."""
    require(principal, "audit:read")
    _check_window(query)
    if fmt not in ("csv", "json"):
        raise Invalid("format must be csv or json", field="format")
    statement = audit.search_query(query).order_by(AuditEntry.seq).limit(EXPORT_LIMIT)
    rows = [_row(entry) for entry in session.scalars(statement)]
    _note_search(session, principal, query, "audit.export")

    def chunks() -> Iterator[str]:
        if fmt == "json":
            for row in rows:
                yield json.dumps(row, sort_keys=True) + "\n"
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
        yield buffer.getvalue()

    return chunks()


def verify(session: Session, *, principal: Principal) -> chain.Verification:
    require(principal, "audit:read")
    result = chain.verify(session)
    audit.record(session, principal=principal, action="audit.verify", record_type="audit_entry")
    return result


def access_report(
    session: Session,
    *,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
) -> list[tuple[str, str, str | None, int]]:
    """Counts of audited actions by outcome and role: no subject, no person, no record id."""
    require(principal, "reports:read")
    _check_window(audit.AuditQuery(since=since, until=until))
    statement = select(
        AuditEntry.action, AuditEntry.outcome, AuditEntry.actor_role, func.count()
    ).group_by(AuditEntry.action, AuditEntry.outcome, AuditEntry.actor_role)
    if since:
        statement = statement.where(AuditEntry.at >= since)
    if until:
        statement = statement.where(AuditEntry.at < until)
    rows = session.execute(
        statement.order_by(AuditEntry.action, AuditEntry.outcome, AuditEntry.actor_role)
    )
    return [(action, outcome, role, int(count)) for action, outcome, role, count in rows]
