"""Settings: every option explained, the secret key generated once and never printed."""

from __future__ import annotations

from nokor.config import Settings


def test_every_option_has_a_description():
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_default_database_is_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("NOKOR_DATABASE_URL", raising=False)
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'nokor.db'}"


def test_secret_key_is_generated_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("NOKOR_SECRET_KEY", raising=False)
    first = Settings(data_dir=tmp_path).effective_secret_key
    second = Settings(data_dir=tmp_path).effective_secret_key
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("NOKOR_DEFAULT_LOCALE", "ar")
    monkeypatch.setenv("NOKOR_DATA_DIR", str(tmp_path))
    assert Settings().default_locale == "ar"


def test_describe_masks_secrets(tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="super-secret-value-1234567890",
                        database_url="postgresql+psycopg://nokor:db-password@db.internal/nokor")
    printed = "\n".join(f"{n}={v}" for n, v, _ in settings.describe())
    assert "super-secret-value" not in printed and "db-password" not in printed
    assert "NOKOR_SECRET_KEY=********" in printed and "nokor:********@db.internal" in printed


def test_production_refuses_a_plain_http_base_url(tmp_path):
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="https"):
        Settings(data_dir=tmp_path, environment="production", base_url="http://nokor.gov.kh")
    secure = Settings(data_dir=tmp_path, environment="production", base_url="https://nokor.gov.kh")
    assert secure.force_https is True
