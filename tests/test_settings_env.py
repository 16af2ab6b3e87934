"""Settings are read as pydantic-settings read them: arguments, else DRC_* (any case), else defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from drcompat.config import Settings
from drcompat.envconfig import SettingsError


def test_arguments_beat_the_environment_which_beats_defaults(monkeypatch):
    monkeypatch.setenv("DRC_MAX_CELLS", "5")
    monkeypatch.setenv("drc_monitoring_enabled", "false")  # names in any case
    monkeypatch.setenv("DRC_REGISTRY_TTL_SECONDS", "0.5")
    settings = Settings(registry_ttl_seconds=2)
    assert settings.max_cells == 5 and settings.monitoring_enabled is False
    assert settings.registry_ttl_seconds == 2.0 and isinstance(settings.registry_ttl_seconds, float)
    assert settings.max_columns == 20_000  # the default


@pytest.mark.parametrize(("text", "value"), [("1", True), ("YES", True), ("on", True), ("0", False), ("off", False)])
def test_booleans_read_as_pydantic_reads_them(monkeypatch, text, value):
    monkeypatch.setenv("DRC_DEMO_TOKEN", text)
    assert Settings().demo_token is value


def test_paths_optionals_tuples_and_literals(monkeypatch):
    monkeypatch.setenv("DRC_DATA_DIR", "/tmp/drc-data")
    monkeypatch.setenv("DRC_BATCH_ENDPOINT_URLS", '["http://127.0.0.1:9000"]')
    monkeypatch.setenv("DRC_STORAGE_BACKEND", "s3")
    settings = Settings(storage_root="relative/root", public_url=None)
    assert settings.data_dir == Path("/tmp/drc-data") and settings.storage_root == Path("relative/root")
    assert settings.batch_endpoint_urls == ("http://127.0.0.1:9000",) and settings.public_url is None
    assert settings.storage_backend == "s3"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("DRC_STORAGE_BACKEND", "ftp"),
        ("DRC_MAX_CELLS", "many"),
        ("DRC_DEMO_TOKEN", "maybe"),
        ("DRC_BATCH_ENDPOINT_URLS", "x"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(monkeypatch, name, text):
    monkeypatch.setenv(name, text)
    with pytest.raises(SettingsError, match=name.removeprefix("DRC_").lower()):
        Settings()


def test_frozen_comparable_copied_and_sent_as_json():
    settings = Settings(max_cells=7, credentials_file=None)
    with pytest.raises(AttributeError):
        settings.max_cells = 8  # type: ignore[misc]
    with pytest.raises(TypeError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]
    changed = settings.replace(max_cells=8)
    assert changed.max_cells == 8 and settings.max_cells == 7 and changed != settings
    again = Settings.from_json(settings.to_json())
    assert again == settings and hash(again) == hash(settings) and again.credentials_file is None
