"""Documentation that cannot rot: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from openem.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`OPENEM_{name.upper()}`" not in text]
    assert missing == []


def test_every_permission_of_the_policy_is_documented() -> None:
    from openem.access.policy import PERMISSIONS

    text = (DOCS / "access.md").read_text()
    assert [name for name in PERMISSIONS if f"`{name}`" not in text] == []


def test_every_alert_type_is_documented() -> None:
    from openem.alerts.types import CATALOGUE, AlertType

    text = (DOCS / "rules.md").read_text()
    missing = [t.value for t in AlertType if f"| `{t.value}` | {CATALOGUE[t].alert_class} |"
               not in text]
    assert missing == []
