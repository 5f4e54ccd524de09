"""Settings, read once from the environment (``OPENEM_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    data_dir: Path = Field(Path("./var"), description="Folder for the database, blobs and exports.")
    key_file: Path = Field(
        Path("./var/master.key"),
        description="Master key file for envelope encryption; never stored in the database.",
    )
    log_json: bool = Field(False, description="Write logs as JSON lines instead of console text.")
    log_level: str = Field("INFO", description="Lowest log level written.")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest JSON request body accepted, in bytes."
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
