"""Why someone opens a subject's history: a fixed list, stored with each audit entry."""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    breach_notified = "breach_notified"
    intelligence = "intelligence"
    court_order = "court_order"
    welfare_concern = "welfare_concern"
    subject_access_request = "subject_access_request"
