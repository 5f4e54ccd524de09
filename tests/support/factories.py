"""Build real records through the services, as a user of the system would."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from openem.access import service as access_service
from openem.access.models import Organisation, OrganisationKind, Role, User
from openem.access.principal import SYSTEM, Principal
from openem.access.schemas import OrganisationCreate, UserCreate
from openem.access.tokens import issue_token
from openem.subjects import assessments as assessments_service
from openem.subjects import service as subjects_service
from openem.subjects.models import AssessmentKind, ImpactAssessment, Order, Subject
from openem.subjects.schemas import OrderCreate, SubjectCreate

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def organisation(
    session: Session, kind: OrganisationKind = OrganisationKind.home_office
) -> Organisation:
    return access_service.create_organisation(
        session,
        principal=SYSTEM,
        data=OrganisationCreate(name=f"Organisation {next(_counter)}", kind=kind),
    )


def user(
    session: Session, role: Role, *, team: str | None = "north", org: Organisation | None = None
) -> User:
    org = org or organisation(session)
    return access_service.create_user(
        session,
        principal=SYSTEM,
        data=UserCreate(
            username=f"user{next(_counter)}",
            display_name="Test User",
            role=role,
            organisation_id=org.id,
            team=team,
            password=PASSWORD,
        ),
    )


def principal_for(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        team=user.team,
        organisation_kind=user.organisation.kind,
    )


def token_for(session: Session, user: User) -> str:
    return issue_token(session, user=user, label="test", now=datetime.now(UTC)).secret


def subject_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "given_name": "Testy",
        "family_name": "Fictional",
        "date_of_birth": "1985-04-12",
        "nationality": "NGA",
        "home_office_reference": f"HO-{next(_counter):06d}",
        "caseload_team": "north",
    }
    data.update(overrides)
    return data


def subject(session: Session, **overrides: Any) -> Subject:
    return subjects_service.create_subject(
        session, principal=SYSTEM, data=SubjectCreate.model_validate(subject_data(**overrides))
    )


def order_data(subject_id: Any, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "subject_id": str(subject_id),
        "legal_basis_reference": "Immigration Act 2016 Sch. 10 para 2",
        "conviction": {
            "offence": "theft",
            "court": "Example Crown Court",
            "conviction_date": (date.today() - timedelta(days=400)).isoformat(),
        },
        "immigration_status": "deportation_order",
        "device_kind": "smartwatch",
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=180)).isoformat(),
        "checkins_per_day": 3,
    }
    data.update(overrides)
    return data


def assessments(session: Session, *, cohorts: tuple[str, ...] | None = None) -> None:
    """Approved, in-date DPIA and equality assessments for every cohort (or those named)."""
    today = date.today()
    for cohort in cohorts or assessments_service.ALL_COHORTS:
        for kind in AssessmentKind:
            if assessments_service.in_force(session, cohort=cohort, kind=kind, today=today):
                continue
            session.add(
                ImpactAssessment(
                    kind=kind,
                    cohort=cohort,
                    version=f"test-{next(_counter)}",
                    summary="Test assessment",
                    less_intrusive_options="reporting in person; curfew only; check-ins only",
                    approver="Test Approver",
                    approved_on=today - timedelta(days=30),
                    valid_until=today + timedelta(days=335),
                    recorded_at=datetime.now(UTC),
                )
            )
    session.flush()


def order(session: Session, subject_id: Any, **overrides: Any) -> Order:
    assessments(session)
    return subjects_service.create_order(
        session,
        principal=SYSTEM,
        data=OrderCreate.model_validate(order_data(subject_id, **overrides)),
    )
