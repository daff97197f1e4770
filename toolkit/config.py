"""Settings from PITLANE_* environment variables and pitlane.toml.

Precedence: environment > ./pitlane.toml > $PITLANE_HOME/pitlane.toml > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_home() -> Path:
    env = os.environ.get("PITLANE_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "pitlane"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PITLANE_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="embedded database, settings, caches")
    registry_url: str | None = Field(default=None, description="registry server; embedded when unset")
    token: str | None = Field(default=None, description="API token for the registry")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in home when unset")
    webhook_secret: str | None = Field(default=None, description="HMAC secret for Git push webhooks")
    ray_address: str | None = Field(default=None, description="Ray cluster for distributed work")
    executor: str = Field(default="local", description="run executor of the registry: local or ray")
    workers: int = Field(default=0, description="parallel workers for ingest/extraction; 0 = cpu count")
    data_repo: Path | None = Field(default=None, description="data repo whose catalog the registry's data pages show")
    dataset_repo: Path | None = Field(
        default=None, description="repo of the registry's dataset pages (default: data_repo)"
    )
    # --- what a network-facing registry may touch (docs/registry.md, "Security model") ---
    allowed_storage: list[str] = Field(
        default_factory=list,
        description="URL prefixes package files may live under (s3://bucket/prefix/, file:///srv/dvc/); "
        "the server opens no other location",
    )
    allowed_remotes: list[str] = Field(
        default_factory=lambda: ["https://", "ssh://"],
        description="Git URL prefixes the server may fetch (remotes, experiment and dataset repos)",
    )
    data_project: str | None = Field(
        default=None, description="project the registry's data repo and dataset repo belong to"
    )
    max_body_bytes: int = Field(default=1024 * 1024, description="largest request body (publish: 32x)")
    audit_key: str | None = Field(
        default=None, description="HMAC key of the audit chain (default: $PITLANE_HOME/audit.key, created once)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_files = [default_home() / "pitlane.toml", Path("pitlane.toml")]
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=[p for p in toml_files if p.is_file()]),
        )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'registry.db'}"


def get_settings() -> Settings:
    """Settings read now: cheap, and never stale when tests change the environment."""
    return Settings()
