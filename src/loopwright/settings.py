"""One typed settings tree, read from ``LOOPWRIGHT_*`` environment variables (and a ``.env`` file).

Settings are built once at the edge (the CLI, :func:`loopwright.connect`, the server) and passed down;
nothing deeper in the code reads the environment. Tests build their own::

    >>> from loopwright.settings import Settings
    >>> settings = Settings(workspace="/tmp/ws")
    >>> settings.resolved_database_url()
    'sqlite:////tmp/ws/loopwright.db'

Nested groups use a double underscore: ``LOOPWRIGHT_TRACKING__FLUSH_INTERVAL_S=0.5``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "StoreSettings", "TrackingSettings"]


class TrackingSettings(BaseModel):
    """How runs buffer and write what they log."""

    flush_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest time a logged metric waits in memory before it is written to the store. "
        "A kill -9 of the training process loses at most this much.",
    )
    max_buffered_points: int = Field(
        1_000_000,
        ge=1_000,
        description="Points held in memory before log_metric waits for the writer (back-pressure, "
        "never a drop).",
    )
    batch_size: int = Field(
        50_000, ge=100, description="Largest number of metric points written in one transaction."
    )
    capture_git: bool = Field(True, description="Record the git commit and dirty flag of the run's code.")


class StoreSettings(BaseModel):
    """How the metadata store connects."""

    sqlite_busy_timeout_s: float = Field(
        60.0, gt=0, description="How long a SQLite writer waits for another process's lock."
    )
    pool_size: int = Field(5, ge=1, description="Connections kept open to a server database.")
    echo_sql: bool = Field(False, description="Log every SQL statement (debugging).")


class Settings(BaseSettings):
    """All of Loopwright's configuration. Every field can be set as ``LOOPWRIGHT_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="LOOPWRIGHT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    workspace: Path = Field(
        Path(".loopwright"),
        description="Folder of the embedded workspace: the SQLite database and local artifacts.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata store, e.g. postgresql+psycopg://user@host/db. "
        "Default: SQLite at <workspace>/loopwright.db.",
    )
    artifact_uri: str | None = Field(
        None,
        description="fsspec URL or folder of the artifact store, e.g. s3://bucket/prefix. "
        "Default: <workspace>/artifacts.",
    )
    user: str | None = Field(None, description="Name recorded as the author of runs. Default: the OS user.")
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"} or ":" not in value:
            raise ValueError(
                f"LOOPWRIGHT_DATABASE_URL must be a sqlite:/// or postgresql:// URL. Got {value!r} instead."
            )
        return value

    def resolved_database_url(self) -> str:
        """The metadata store URL, with the default filled in and ``postgres://`` normalised."""
        if self.database_url is None:
            return f"sqlite:///{self.workspace.expanduser().absolute() / 'loopwright.db'}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    def resolved_artifact_uri(self) -> str:
        """The artifact store location, with the default filled in."""
        if self.artifact_uri is None:
            return str(self.workspace.expanduser().absolute() / "artifacts")
        return self.artifact_uri
