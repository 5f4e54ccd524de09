"""Settings, read once from the environment (``OPENEM_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
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
