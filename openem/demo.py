"""Fictional organisations, staff and subjects for `openem demo`. Nothing here is a real person."""

from __future__ import annotations

import random
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from openem.access import service as access_service
from openem.access.models import Organisation, OrganisationKind, Role
from openem.access.principal import SYSTEM
from openem.access.schemas import OrganisationCreate, UserCreate
from openem.access.tokens import issue_token
from openem.checkins import enrolment as checkins_enrolment
from openem.checkins import service as checkins_service
from openem.checkins.config import CheckinConfig
from openem.checkins.models import OPEN_STATUSES, CheckinPrompt
from openem.crypto.envelope import KeyRing
from openem.devices import service as devices_service
from openem.devices.models import Device
from openem.devices.schemas import DeviceCreate
from openem.logs import get_logger
from openem.retention import notices
from openem.sim.world import FACE_CHECKIN_SUBJECTS, Life, face_checkin_of, life_of
from openem.subjects import assessments as assessments_service
from openem.subjects import service as subjects_service
from openem.subjects.models import DeviceKind, ImmigrationStatus, Order
from openem.subjects.schemas import Conviction, OrderCreate, SubjectCreate
from openem.zones import service as zones_service
from openem.zones.index import ZoneKind
from openem.zones.schemas import ScheduleIn, WindowIn, ZoneCreate

DEMO_TIMEZONE = "Europe/London"
log = get_logger(__name__)

assert notices  # importing it sends the privacy notice at every enrolment

DEMO_PASSWORD = "demo-password-not-for-production"

ORGANISATIONS = (
    ("Home Office Immigration Enforcement (demo)", OrganisationKind.home_office),
    ("MoJ Electronic Monitoring Centre (demo)", OrganisationKind.moj),
    ("Example Constabulary (demo)", OrganisationKind.police),
    ("OpenEM Supplier (demo)", OrganisationKind.supplier),
)

STAFF = (
    ("caseworker", "Casey Worker", Role.caseworker, 0, "north"),
    ("operator", "Opal Operator", Role.operator, 1, None),
    ("supervisor", "Sam Supervisor", Role.supervisor, 0, "north"),
    ("police", "Pat Constable", Role.police, 2, None),
    ("approver", "Avery Approver", Role.approver, 0, None),
    ("auditor", "Audrey Auditor", Role.auditor, 1, None),
    ("admin", "Ada Admin", Role.admin, 3, None),
)

GIVEN = ("Arin", "Bex", "Cato", "Dara", "Eko", "Fen", "Gil", "Hale", "Ivo", "Jory", "Kit", "Lumi")
FAMILY = ("Ashdown", "Brackley", "Corran", "Dunmore", "Elsby", "Farrow", "Garside", "Hewlin")
NATIONALITIES = ("ALB", "NGA", "POL", "ROU", "JAM", "IND", "PAK", "VNM", "BRA", "SOM")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str
    api_token: str


def _organisation(session: Session, name: str, kind: OrganisationKind) -> Organisation:
    existing = session.scalar(select(Organisation).where(Organisation.name == name))
    if existing:
        return existing
    data = OrganisationCreate(name=name, kind=kind)
    return access_service.create_organisation(session, principal=SYSTEM, data=data)


def seed_staff(session: Session, *, now: datetime) -> list[DemoLogin]:
    organisations = [_organisation(session, name, kind) for name, kind in ORGANISATIONS]
    logins = []
    for username, display, role, org_index, team in STAFF:
        user = access_service.find_user_by_username(session, username=username)
        if user is None:
            user = access_service.create_user(
                session,
                principal=SYSTEM,
                data=UserCreate(
                    username=username,
                    display_name=display,
                    role=role,
                    organisation_id=organisations[org_index].id,
                    team=team,
                    password=DEMO_PASSWORD,
                ),
            )
        issued = issue_token(session, user=user, label="demo", now=now, ttl=timedelta(days=7))
        logins.append(DemoLogin(username, role, DEMO_PASSWORD, issued.secret))
    return logins


def seed_subjects(session: Session, *, count: int, now: datetime, seed: int = 7) -> int:
    rng = random.Random(seed)
    created = 0
    for index in range(count):
        reference = f"DEMO-{index:05d}"
        if subjects_service.list_subjects(session, principal=SYSTEM, reference=reference).items:
            continue
        kind = DeviceKind.smartwatch if index % 3 else DeviceKind.fitted_tag
        subject = subjects_service.create_subject(
            session,
            principal=SYSTEM,
            data=SubjectCreate(
                given_name=rng.choice(GIVEN),
                family_name=rng.choice(FAMILY),
                date_of_birth=date(
                    1970 + rng.randrange(35), rng.randrange(1, 13), rng.randrange(1, 28)
                ),
                nationality=rng.choice(NATIONALITIES),
                home_office_reference=reference,
                caseload_team="north" if index % 2 == 0 else "south",
            ),
        )
        subject.fictional = True
        order = subjects_service.create_order(
            session,
            principal=SYSTEM,
            data=OrderCreate(
                subject_id=subject.id,
                legal_basis_reference="Immigration Act 2016 Sch. 10 (demo)",
                conviction=Conviction(
                    offence="fictional offence for the demo",
                    court="Demo Crown Court",
                    conviction_date=date(2024, 1, 15),
                ),
                immigration_status=ImmigrationStatus.immigration_bail,
                device_kind=kind,
                starts_at=now - timedelta(days=rng.randrange(1, 60)),
                ends_at=now + timedelta(days=365),
                checkins_per_day=0 if kind == DeviceKind.fitted_tag else rng.randrange(1, 6),
                waking_window_start=None if kind == DeviceKind.fitted_tag else time(8),
                waking_window_end=None if kind == DeviceKind.fitted_tag else time(21),
            ),
        )
        device = devices_service.register_device(
            session,
            principal=SYSTEM,
            data=DeviceCreate(
                kind=kind, serial=f"DEMO-{kind.value[:3].upper()}-{index:05d}", firmware="demo-1.0"
            ),
        )
        devices_service.assign_device(
            session, principal=SYSTEM, device_id=device.id, order_id=order.id, now=now
        )
        seed_zones(session, subject_id=subject.id, life=life_of(device.serial, index), now=now)
        created += 1
    return created


def _curfew(life: Life, now: datetime) -> ScheduleIn:
    """19:00-07:00, except for the wearer whose demo role is to be out during curfew: for
    them the curfew began an hour ago, so the demo shows a curfew alert within minutes."""
    if not life.scenario.out_after_curfew:
        return ScheduleIn(windows=[WindowIn(start=time(19), end=time(7), overnight=True)])
    local = now.astimezone(ZoneInfo(DEMO_TIMEZONE))
    start, end = (local - timedelta(hours=1)).time(), (local + timedelta(hours=3)).time()
    start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    return ScheduleIn(windows=[WindowIn(start=start, end=end, overnight=end <= start)])


def seed_zones(session: Session, *, subject_id: uuid.UUID, life: Life, now: datetime) -> None:
    """A home curfew zone and an exclusion zone, where the simulator will live the day."""
    zones_service.create_zone(
        session,
        principal=SYSTEM,
        subject_id=subject_id,
        now=now,
        data=ZoneCreate(
            name="Home (curfew)",
            kind=ZoneKind.INCLUSION,
            geometry={"type": "Point", "coordinates": [life.home.lon, life.home.lat]},
            radius_m=life.home_radius_m,
            schedule=_curfew(life, now),
        ),
    )
    zones_service.create_zone(
        session,
        principal=SYSTEM,
        subject_id=subject_id,
        now=now,
        data=ZoneCreate(
            name="Exclusion: victim's address (fictional)",
            kind=ZoneKind.EXCLUSION,
            geometry={"type": "Point", "coordinates": [life.exclusion.lon, life.exclusion.lat]},
            radius_m=life.exclusion_radius_m,
        ),
    )


def seed_assessments(session: Session, *, now: datetime) -> int:
    """Approved, in-date DPIA and equality assessments for every cohort (fictional)."""
    return assessments_service.approve_every_cohort_for_fictional_data(session, now=now)


@dataclass(frozen=True)
class FaceSetup:
    """What seeding needs to enrol demo faces: the key ring and data folder of the app."""

    keyring: KeyRing
    data_dir: Path
    config: CheckinConfig = field(default_factory=CheckinConfig)
    enrolment_jitters: int | None = None  # Settings.face_enrolment_jitters


def seed_checkins(session: Session, *, subjects: int, now: datetime, faces: FaceSetup) -> int:
    """Enrol a demo face for the first few smartwatch wearers (through the real enrolment:
    quality gate, encrypted photos and template) and give each one prompt due now, so the
    simulator answers it within seconds. Returns how many prompts were created."""
    from openem.checkins.faces import enrol_jpegs
    from openem.sim.faces import demo_faces

    wearers = []
    for index in range(min(subjects, FACE_CHECKIN_SUBJECTS)):
        serial = f"DEMO-SMA-{index:05d}"
        role = face_checkin_of(serial)
        device = session.scalar(select(Device).where(Device.serial == serial))
        if role is not None and device is not None and device.order_id is not None:
            wearers.append((role, device.order_id))
    if not wearers:
        return 0
    try:
        people = demo_faces(faces.data_dir)
    except (OSError, subprocess.CalledProcessError) as error:  # e.g. PyPI unreachable
        log.warning("demo_faces_unavailable", error_type=type(error).__name__)
        return 0
    created = 0
    for role, order_id in wearers:
        order = session.get(Order, order_id)
        assert order is not None
        face = people[role.own_face(len(people))]
        if checkins_enrolment.active_enrolment(session, subject_id=order.subject_id) is None:
            photos = face.enrolment_photos()
            result = enrol_jpegs(photos, faces.enrolment_jitters)
            try:
                checkins_enrolment.record_enrolment(
                    session, principal=SYSTEM, subject_id=order.subject_id, photos=photos,
                    result=result, now=now, keyring=faces.keyring, data_dir=faces.data_dir,
                )
            except checkins_enrolment.QualityRefused:
                log.warning("demo_face_refused", face=face.label)
                continue
        still_open = session.scalar(select(CheckinPrompt.id).where(
            CheckinPrompt.order_id == order_id, CheckinPrompt.status.in_(OPEN_STATUSES),
            CheckinPrompt.scheduled_at <= now,
        ).limit(1))
        if still_open is None:
            checkins_service.schedule_now(
                session, order_id=order_id, now=now, config=faces.config
            )
            created += 1
    return created


def seed(
    session: Session, *, subjects: int = 50, now: datetime | None = None,
    faces: FaceSetup | None = None,
) -> list[DemoLogin]:
    """Staff, assessments, subjects with devices and zones; with ``faces``, also enrolled
    faces and check-in prompts due now for a few smartwatch wearers."""
    now = now or datetime.now(UTC)
    logins = seed_staff(session, now=now)
    seed_assessments(session, now=now)
    seed_subjects(session, count=subjects, now=now)
    if faces is not None:
        seed_checkins(session, subjects=subjects, now=now, faces=faces)
    return logins
