"""Impact assessments as gates: no order for a cohort without an approved, in-date DPIA and EqIA."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import audit
from openem.access.policy import require
from openem.access.principal import SYSTEM, Principal
from openem.errors import Conflict, Invalid
from openem.subjects.models import (
    AssessmentKind,
    DeviceKind,
    ImmigrationStatus,
    ImpactAssessment,
    cohort_of,
)

ALL_COHORTS = tuple(cohort_of(status, kind) for status in ImmigrationStatus for kind in DeviceKind)


class AssessmentMissing(Conflict):
    """Creating an order needs both assessments for its cohort, approved and in date."""


def record_assessment(
    session: Session,
    *,
    principal: Principal,
    kind: AssessmentKind,
    cohort: str,
    version: str,
    summary: str,
    less_intrusive_options: str,
    approver: str,
    approved_on: date,
    valid_until: date,
    now: datetime,
) -> ImpactAssessment:
    require(principal, "assessments:write")
    if cohort not in ALL_COHORTS:
        raise Invalid("cohort must be '<immigration_status>/<device_kind>'", field="cohort")
    if valid_until <= approved_on:
        raise Invalid("an assessment must be valid after its approval", field="valid_until")
    if approved_on > now.date():
        raise Invalid("approval date is in the future", field="approved_on")
    if not less_intrusive_options.strip():
        raise Invalid(
            "record the less intrusive options considered", field="less_intrusive_options"
        )
    taken = select(ImpactAssessment.id).where(
        ImpactAssessment.kind == kind,
        ImpactAssessment.cohort == cohort,
        ImpactAssessment.version == version,
    )
    if session.scalar(taken):
        raise Conflict("that version of the assessment is already recorded", field="version")
    assessment = ImpactAssessment(
        kind=kind,
        cohort=cohort,
        version=version,
        summary=summary,
        less_intrusive_options=less_intrusive_options,
        approver=approver,
        approved_on=approved_on,
        valid_until=valid_until,
        recorded_by=principal.user_id,
        recorded_at=now,
    )
    session.add(assessment)
    session.flush()
    audit.record(
        session,
        principal=principal,
        action="assessment.record",
        record_type="impact_assessment",
        record_id=assessment.id,
    )
    return assessment


def in_force(session: Session, *, cohort: str, kind: AssessmentKind, today: date) -> bool:
    query = select(ImpactAssessment.id).where(
        ImpactAssessment.cohort == cohort,
        ImpactAssessment.kind == kind,
        ImpactAssessment.approved_on <= today,
        ImpactAssessment.valid_until >= today,
    )
    return session.scalar(query.limit(1)) is not None


def require_assessments(session: Session, *, cohort: str, today: date) -> None:
    """Raise :class:`AssessmentMissing` naming what is missing for ``cohort``."""
    missing = [
        kind.value
        for kind in AssessmentKind
        if not in_force(session, cohort=cohort, kind=kind, today=today)
    ]
    if missing:
        raise AssessmentMissing(
            f"no approved, in-date impact assessment ({', '.join(missing)}) for cohort "
            f"{cohort}: record one before creating orders for this cohort",
            field="cohort",
        )


def list_assessments(
    session: Session, *, principal: Principal, cohort: str | None = None
) -> Sequence[ImpactAssessment]:
    require(principal, "assessments:read")
    query = select(ImpactAssessment).order_by(
        ImpactAssessment.cohort, ImpactAssessment.kind, ImpactAssessment.approved_on
    )
    if cohort:
        query = query.where(ImpactAssessment.cohort == cohort)
    return session.scalars(query).all()


def approve_every_cohort_for_fictional_data(session: Session, *, now: datetime) -> int:
    """Approved, in-date assessments for every cohort, for demos and benchmarks on fictional
    data only: a real deployment records its own, approved by a person."""
    recorded = 0
    for cohort in ALL_COHORTS:
        for kind in AssessmentKind:
            if in_force(session, cohort=cohort, kind=kind, today=now.date()):
                continue
            record_assessment(
                session,
                principal=SYSTEM,
                kind=kind,
                cohort=cohort,
                version=f"demo-{now:%Y%m%d}",
                summary="Demo assessment: fictional, for the demo deployment only.",
                less_intrusive_options=(
                    "reporting in person; curfew-only monitoring; check-ins without location"
                ),
                approver="Demo Data Protection Officer",
                approved_on=now.date(),
                valid_until=now.date() + timedelta(days=365),
                now=now,
            )
            recorded += 1
    return recorded
