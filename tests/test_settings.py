"""Settings come from LOOPWRIGHT_* variables, with defaults that make an embedded workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from loopwright.settings import Settings


def test_defaults_make_an_embedded_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.workspace == Path(".loopwright")
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / '.loopwright' / 'loopwright.db'}"
    assert settings.resolved_artifact_uri() == str(tmp_path / ".loopwright" / "artifacts")
    assert settings.tracking.flush_interval_s == 1.0


def test_environment_variables_with_the_prefix_and_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPWRIGHT_WORKSPACE", "/data/ws")
    monkeypatch.setenv("LOOPWRIGHT_DATABASE_URL", "postgres://team@db:5432/loopwright")
    monkeypatch.setenv("LOOPWRIGHT_ARTIFACT_URI", "s3://bucket/prefix")
    monkeypatch.setenv("LOOPWRIGHT_TRACKING__FLUSH_INTERVAL_S", "0.5")
    monkeypatch.setenv("LOOPWRIGHT_STORE__SQLITE_BUSY_TIMEOUT_S", "5")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.workspace == Path("/data/ws")
    assert settings.resolved_database_url() == "postgresql+psycopg://team@db:5432/loopwright"
    assert settings.resolved_artifact_uri() == "s3://bucket/prefix"
    assert settings.tracking.flush_interval_s == 0.5
    assert settings.store.sqlite_busy_timeout_s == 5.0


def test_a_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LOOPWRIGHT_WORKSPACE=/from/dotenv\n")
    assert Settings().workspace == Path("/from/dotenv")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "database_url",
            "mysql://root@localhost/db",
            "LOOPWRIGHT_DATABASE_URL must be a sqlite:/// or postgresql:// URL. Got 'mysql://root@localhost/db' "
            "instead.",
        ),
        ("tracking", {"flush_interval_s": 0}, "flush_interval_s\n  Input should be greater than 0"),
        (
            "tracking",
            {"max_buffered_points": 10},
            "max_buffered_points\n  Input should be greater than or equal",
        ),
    ],
)
def test_bad_settings_fail_at_construction_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value}, _env_file=None)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_settings_are_immutable() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        settings.workspace = Path("/elsewhere")  # type: ignore[misc]
