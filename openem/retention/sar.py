"""Subject access: one zip with everything OpenEM holds about one person, and nobody else.

``records/<section>.json`` for every section (see ``registry.register_exporter``),
``trail.geojson``, ``photos/``, ``access_log.json`` (who accessed the data and
why), ``manifest.json``, and a readable ``summary.html`` / ``summary.pdf`` in
the subject's language where a translation exists.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import Principal
from openem.access.purposes import Purpose
from openem.checkins import retention as checkin_retention
from openem.crypto.envelope import KeyRing
from openem.errors import NotFound
from openem.retention import exporters as builtin_exporters
from openem.retention import summary as render
from openem.retention.registry import ExportScope, ExportSection, exporters
from openem.retention.schedules import ORDER_END, Schedule
from openem.subjects import wording
from openem.subjects.models import Subject

# Sections every archive names, held or not, so the subject sees what was checked.
EXPECTED = ("checkin_decisions", "alerts", "disclosures")
DAYS_PER_YEAR = 365.25

assert builtin_exporters  # the built-in exporters register on import
assert checkin_retention  # so does the check-in domain


@dataclass(frozen=True)
class Archive:
    filename: str
    content: bytes
    sections: dict[str, int]
    language: str


def _summary(
    *,
    language: str,
    now: datetime,
    sections: dict[str, ExportSection],
    schedules: dict[str, Schedule],
) -> render.Summary:
    text = wording.texts(language)
    names = text["section_names"]
    listed = [
        (names.get(name, name), f"{len(s.records)} {text['records']}" if s.records else "")
        for name, s in sections.items()
    ]
    listed = [(name, count or text["not_held"]) for name, count in listed]
    log = sections["access_log"].records if "access_log" in sections else []
    counts = Counter(
        (r["by_role"] or "system", r["by_organisation"] or "OpenEM", r["purpose"] or "-")
        for r in log
    )
    access = [
        text["access_row"].format(count=c, role=role, organisation=org, purpose=purpose)
        for (role, org, purpose), c in sorted(counts.items())
    ]
    retention = [
        text["retention_row"].format(
            description=s.description, years=round(s.days / DAYS_PER_YEAR, 1)
        )
        for s in schedules.values()
        if s.event == ORDER_END
    ]
    return render.Summary(
        lang=language,
        title=text["summary_title"],
        intro=text["summary_intro"].format(date=now.date().isoformat()),
        sections_heading=text["sections_heading"],
        sections=listed,
        access_heading=text["access_heading"],
        access=access,
        retention_heading=text["retention_heading"],
        retention=retention,
        rights_heading=text["rights_heading"],
        rights_text=text["rights_text"],
    )


def export(
    session: Session,
    *,
    principal: Principal,
    subject_id: uuid.UUID,
    now: datetime,
    data_dir: Path,
    keyring: KeyRing | None,
    schedules: dict[str, Schedule],
) -> Archive:
    require(principal, "sar:export")
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("no such subject")
    entry = audit.record(
        session,
        principal=principal,
        action="subject.access_export",
        record_type="subject",
        record_id=subject.id,
        subject_id=subject.id,
        purpose=Purpose.subject_access_request,
    )
    entry.at = now
    session.flush()
    scope = ExportScope(subject_id=subject_id, now=now, data_dir=data_dir, keyring=keyring)
    sections = {name: exporter(session, scope) for name, exporter in exporters()}
    for name in EXPECTED:
        sections.setdefault(name, ExportSection())
    language = wording.resolve(subject.language)
    summary = _summary(language=language, now=now, sections=sections, schedules=schedules)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, section in sections.items():
            target = "access_log.json" if name == "access_log" else f"records/{name}.json"
            archive.writestr(target, json.dumps(section.records, indent=1, ensure_ascii=False))
            for path, content in section.files.items():
                archive.writestr(path, content)
        manifest = {
            "subject_id": str(subject_id),
            "generated_at": now.isoformat(),
            "language": language,
            "sections": {name: len(section.records) for name, section in sections.items()},
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        archive.writestr("summary.html", render.html(summary))
        archive.writestr("summary.pdf", render.pdf(summary))
    return Archive(
        filename=f"subject-access-{now:%Y%m%dT%H%M%SZ}.zip",
        content=buffer.getvalue(),
        sections={name: len(section.records) for name, section in sections.items()},
        language=language,
    )


def save(archive: Archive, *, data_dir: Path, subject_id: uuid.UUID) -> Path:
    """Keep a copy under OPENEM_DATA_DIR/exports/<subject>/, purged with the subject's data."""
    folder = data_dir / "exports" / str(subject_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / archive.filename
    path.write_bytes(archive.content)
    return path
