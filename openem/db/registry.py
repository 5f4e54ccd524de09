"""Imports every domain's tables so metadata (and Alembic) sees them all."""

from openem.access import models as access_models
from openem.alerts import models as alerts_models
from openem.bus import outbox
from openem.checkins import models as checkins_models
from openem.crypto import store as crypto_store
from openem.db.base import Base
from openem.devices import models as devices_models
from openem.disclosures import models as disclosures_models
from openem.http import ratelimit
from openem.ingest import models as ingest_models
from openem.locations import models as locations_models
from openem.retention import models as retention_models
from openem.rules import models as rules_models
from openem.subjects import models as subjects_models
from openem.zones import models as zones_models

__all__ = [
    "Base",
    "access_models",
    "alerts_models",
    "checkins_models",
    "crypto_store",
    "devices_models",
    "disclosures_models",
    "ingest_models",
    "locations_models",
    "outbox",
    "ratelimit",
    "retention_models",
    "rules_models",
    "subjects_models",
    "zones_models",
]
