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
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PredictionLogSettings", "ServerSettings", "Settings", "StoreSettings", "TrackingSettings"]


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


class PredictionLogSettings(BaseModel):
    """Where and how a server logs the predictions it serves."""

    folder: Path | None = Field(
        None,
        description="Folder of the prediction log (segments and Parquet partitions). "
        "Default: <workspace>/predictions.",
    )
    segment_bytes: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="Size at which a log segment is closed and handed to the compactor.",
    )
    segment_max_age_s: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="Age at which a log segment is closed even if small, so that quiet deployments are "
        "compacted too.",
    )
    compact_interval_s: float = Field(
        10.0, gt=0, le=3_600, description="How often the compactor turns closed segments into Parquet."
    )
    fsync: Literal["never", "always"] = Field(
        "never",
        description="'never': entries are handed to the operating system before a response is sent, which "
        "survives kill -9 of the server; 'always': also flushed to disk, which survives a power loss and "
        "costs a disk flush per request.",
    )


class ServerSettings(BaseModel):
    """How ``loopwright server`` listens and serves predictions."""

    host: str = Field(
        "127.0.0.1",
        description="Address to listen on. Only loopback addresses are accepted until the server has "
        "authentication.",
    )
    port: int = Field(8000, ge=0, le=65_535, description="Port to listen on (0: any free port).")
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest request body accepted; a larger one is refused with 413 before it is read.",
    )
    refresh_interval_s: float = Field(
        1.0,
        gt=0,
        le=3_600,
        description="How often the server checks for changed deployments and moved aliases (one cheap "
        "query) and loads what changed.",
    )
    inline_rows: int = Field(
        64,
        ge=0,
        description="Requests of at most this many rows run the model on the event loop, which is fastest "
        "for small requests; larger ones run in a worker thread so they do not hold up the others.",
    )
    max_batch_rows: int = Field(
        256,
        ge=0,
        description="Micro-batching: small requests to one deployment that arrive together are predicted "
        "in one model call of up to this many rows. It never waits for more requests, so a lone request is "
        "not delayed. 0 or 1 turns it off.",
    )
    shadow_queue_size: int = Field(
        1024,
        ge=1,
        description="Requests waiting for their shadow model; when full, shadow copies are dropped and "
        "counted (shadow traffic is best-effort and never delays a response).",
    )
    log_predictions: bool = Field(
        True,
        description="Append every prediction to the prediction log before answering. Turn off only to "
        "measure what logging costs.",
    )


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
    prediction_log: PredictionLogSettings = Field(default_factory=PredictionLogSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

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

    def resolved_prediction_log_folder(self) -> Path:
        """The prediction log's folder, with the default filled in."""
        folder = self.prediction_log.folder or self.workspace / "predictions"
        return folder.expanduser().absolute()

    def resolved_artifact_uri(self) -> str:
        """The artifact store location, with the default filled in."""
        if self.artifact_uri is None:
            return str(self.workspace.expanduser().absolute() / "artifacts")
        return self.artifact_uri
