"""Settings, read once from the environment (``OPENEM_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting OpenEM reads; each is documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="OPENEM_", extra="ignore", frozen=True)

    database_url: str = Field(
        "sqlite:///./var/openem.db",
        description="SQLAlchemy URL: SQLite (embedded default) or postgresql+psycopg:// (PostGIS).",
    )
    bus_url: str = Field(
        "memory://",
        description="Message bus: memory:// (embedded) or nats://host:4222 (JetStream).",
    )
    bus_max_age_days: float = Field(
        7.0, gt=0, le=3650,
        description="Days the NATS stream keeps a message before JetStream drops it.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    data_dir: Path = Field(Path("./var"), description="Folder for the database, blobs and exports.")
    key_file: Path = Field(
        Path("./var/master.key"),
        description="Master key file for envelope encryption; never stored in the database.",
    )
    log_json: bool = Field(False, description="Write logs as JSON lines instead of console text.")
    opentelemetry: bool = Field(
        False,
        description="FastAPI's own OpenTelemetry spans and metrics, for a process that "
        "configures an OpenTelemetry SDK; off, no request pays for looking one up.",
    )
    log_level: str = Field("INFO", description="Lowest log level written.")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest JSON request body accepted, in bytes."
    )
    telemetry_max_wait_s: float = Field(
        5.0, gt=0, le=600,
        description="Once an upload has waited this long to be stored, new uploads are "
        "refused with 503 until the queue drains.",
    )
    telemetry_retry_after_s: int = Field(
        30, ge=1, le=3600,
        description="Retry-After of an upload refused as overloaded: a random number of "
        "seconds from this to twice this.",
    )
    tile_url: str = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="Map tile URL template for the dashboard.",
    )
    workers: int = Field(1, ge=1, le=64, description="HTTP worker processes for `openem serve`.")
    session_cookie_secure: bool = Field(
        True, description="Send the dashboard session cookie only over HTTPS (off for local http)."
    )
    session_idle_minutes: int = Field(
        30, ge=1, le=24 * 60, description="A dashboard session ends after this long unused."
    )
    session_max_hours: int = Field(
        12, ge=1, le=72, description="A dashboard session ends this long after login, used or not."
    )
    login_max_failures: int = Field(
        5, ge=1, le=100, description="Failed logins in a row before an account is locked."
    )
    login_lockout_minutes: int = Field(
        15, ge=1, le=24 * 60, description="How long a locked account stays locked."
    )
    login_rate_per_minute: int = Field(
        10, ge=1, le=10_000, description="Login attempts allowed per client address per minute."
    )
    pairing_rate_per_minute: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Failed device pairings allowed per client address per minute.",
    )

    # --- optional OpenID Connect sign-in (docs/access.md) ---
    oidc_issuer: str = Field(
        "", description="Issuer URL of the agency's identity provider; empty turns OIDC off."
    )
    oidc_client_id: str = Field("", description="OpenEM's client id at the identity provider.")
    oidc_client_secret: SecretStr = Field(
        SecretStr(""), description="Client secret; empty for a public client (PKCE only)."
    )
    oidc_redirect_url: str = Field(
        "", description="Callback URL registered at the provider (.../api/v1/auth/oidc/callback)."
    )
    oidc_username_claim: str = Field(
        "preferred_username", description="ID-token claim holding the OpenEM username."
    )
    oidc_trust_mfa: bool = Field(
        False, description="Accept the provider's MFA (amr has mfa or otp) in place of TOTP."
    )

    # --- rules and alerts (issue 4) ---
    rules_worker: bool = Field(
        True, description="Run the rules consumer and the periodic sweep inside the app process."
    )
    rules_partitions: int = Field(
        1, ge=1, description="How many rules consumer processes share the subjects."
    )
    rules_partition: int = Field(
        0, ge=0, description="Which share of the subjects this process's rules consumer takes."
    )
    rules_open_after_fixes: int | None = Field(
        3, ge=1, description="Consecutive violating fixes before a zone violation opens."
    )
    rules_open_after_minutes: float | None = Field(
        None, ge=0, description="Or: minutes of violating fixes before opening (set fixes empty)."
    )
    rules_close_after_fixes: int | None = Field(
        3, ge=1, description="Consecutive compliant fixes before a zone violation closes."
    )
    rules_close_after_minutes: float | None = Field(
        None, ge=0, description="Or: minutes of compliant fixes before closing (set fixes empty)."
    )
    rules_late_after_minutes: float = Field(
        5.0, ge=0, description="A violation decided by a fix received this much later is late."
    )
    rules_replay_days: float = Field(
        7.0, gt=0, le=31, description="How far back late fixes replay a zone's history."
    )
    rules_signal_loss_minutes: float = Field(
        20.0, gt=0, description="Device talking but no fix for this long: a signal-loss alert."
    )
    rules_device_silent_minutes: float = Field(
        30.0, gt=0, description="Nothing at all from a device for this long: a device-silent alert."
    )
    rules_removal_leeway_minutes: float = Field(
        30.0, ge=0, le=240,
        description="A strap cut, case opened or watch taken off this long before a recorded "
        "removal is the removal, not tamper.",
    )
    rules_battery_warning_levels: tuple[int, ...] = Field(
        (30, 15, 5), description="Battery levels (%) at which the wearer is warned via the inbox."
    )
    rules_battery_alert_level: int = Field(
        5, ge=0, le=100, description="Battery level (%) at or below which a technical alert opens."
    )
    rules_checkin_repeat_count: int = Field(
        3, ge=2, description="Missed or failed check-ins within the window for a repeat alert."
    )
    rules_checkin_repeat_hours: float = Field(
        24.0, gt=0, description="Window for counting repeated check-in failures, in hours."
    )
    rules_violation_fix_interval_s: int = Field(
        15, ge=1, description="Fix and upload interval sent to a device while a zone is violated."
    )
    rules_sweep_interval_s: float = Field(
        30.0, gt=0, description="How often the sweep checks for silence and escalations."
    )
    alerts_escalation_minutes: tuple[int, int, int, int] = Field(
        (5, 15, 60, 240),
        description="Minutes an alert of priority 1, 2, 3, 4 may stay unacknowledged.",
    )
    alerts_stream_poll_s: float = Field(
        0.2, gt=0, le=5, description="How often the alert stream looks for new alert events."
    )
    retention_days: dict[str, int] = Field(
        default_factory=dict,
        description="Retention period in days per data class (JSON object); default six years.",
    )
    retention_max_days: int = Field(
        2192, ge=1, description="Longest retention period this deployment allows, in days."
    )
    purge_batch_size: int = Field(
        500, ge=1, le=10_000, description="Rows deleted per statement by the purge."
    )
    purge_schedule: bool = Field(
        True, description="Run the daily purge and review escalation inside `openem serve`."
    )
    purge_interval_s: int = Field(
        86_400, ge=60, description="Seconds between scheduled purges inside `openem serve`."
    )

    # --- check-ins and biometrics (issue 5) ---
    checkin_scheduler: bool = Field(
        True, description="Plan, issue and expire check-in prompts inside the app process."
    )
    checkin_interval_s: float = Field(
        30.0, gt=0, description="How often the check-in task plans, issues and expires prompts."
    )
    checkin_spacing_minutes: int = Field(
        90, ge=0, le=24 * 60, description="Least time between two check-in prompts of a day."
    )
    checkin_response_minutes: int = Field(
        15, ge=1, le=24 * 60, description="How long the wearer has to answer a check-in prompt."
    )
    checkin_late_upload_hours: float = Field(
        24.0, ge=0, description="How long after its window a capture made inside it is accepted."
    )
    face_threshold: float | None = Field(
        None, gt=0, lt=2,
        description="Face match threshold (distance); empty: the calibrated default of the model.",
    )
    face_enrolment_jitters: int | None = Field(
        None, ge=0, le=100,
        description="Jittered copies averaged per enrolment photo; empty: the model's default "
        "(docs/biometrics.md). Fewer make enrolment faster and templates slightly worse.",
    )
    face_workers: int = Field(
        2, ge=1, le=64, description="Face verification worker processes (dlib is not thread-safe)."
    )
    biometrics_landmarks_68: bool = Field(
        False,
        description="Also use dlib's 68-point landmarks for liveness (non-commercial training "
        "data: see docs/models.md).",
    )

    @property
    def bus_max_age_s(self) -> float:
        return self.bus_max_age_days * 86_400

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_redirect_url):
            raise ValueError(
                "OPENEM_OIDC_ISSUER needs OPENEM_OIDC_CLIENT_ID and OPENEM_OIDC_REDIRECT_URL"
            )
        if self.oidc_issuer and not self.oidc_issuer.startswith(("https://", "http://")):
            raise ValueError("OPENEM_OIDC_ISSUER must be an http(s) URL")
        return self

    @model_validator(mode="after")
    def _retention_in_bounds(self) -> Settings:
        for name, days in self.retention_days.items():
            if days <= 0:
                raise ValueError(f"retention for {name} must be at least one day")
            if days > self.retention_max_days:
                raise ValueError(
                    f"retention for {name} is over the deployment maximum "
                    f"({self.retention_max_days} days)"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
