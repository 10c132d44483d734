from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from pipelines.errors import ConfigError
from pipelines.settings import load_settings


def test_defaults(monkeypatch):
    for name in ("NEWSWATCH_KAFKA_BOOTSTRAP", "NEWSWATCH_ES_URL", "NEWSWATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.kafka_bootstrap == "localhost:9092"
    assert settings.es_url == "http://localhost:9200"
    assert (settings.kafka_port, settings.es_port) == (9092, 9200)
    assert settings.topic_raw == "newswatch.articles.raw"


def test_env_overrides_config_file_which_overrides_defaults(tmp_path: Path, monkeypatch):
    config = tmp_path / "newswatch.yaml"
    config.write_text("kafka_bootstrap: broker:29092\nes_url: http://search:9201/\n")
    monkeypatch.setenv("NEWSWATCH_ES_URL", "http://other:9999")
    settings = load_settings(config)
    assert settings.kafka_bootstrap == "broker:29092"
    assert settings.es_url == "http://other:9999"
    assert settings.es_port == 9999


def test_config_file_from_env(tmp_path: Path, monkeypatch):
    config = tmp_path / "c.yaml"
    config.write_text("topic_raw: custom.raw\n")
    monkeypatch.setenv("NEWSWATCH_CONFIG", str(config))
    assert load_settings().topic_raw == "custom.raw"


def test_settings_are_frozen():
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.es_url = "http://elsewhere:9200"  # type: ignore[misc]


def test_secrets_never_show_in_repr_or_dump(monkeypatch):
    url = "https://hooks.example.invalid/services/T000/B000/abcdefgh"
    monkeypatch.setenv("NEWSWATCH_SLACK_WEBHOOK_URL", url)
    settings = load_settings()
    assert isinstance(settings.slack_webhook_url, SecretStr)
    assert settings.slack_webhook_url.get_secret_value() == url
    assert url not in repr(settings)
    assert url not in str(settings.model_dump())


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_webhook_setting_means_no_webhook(monkeypatch, value):
    monkeypatch.setenv("NEWSWATCH_SLACK_WEBHOOK_URL", value)  # what compose passes when unset
    assert load_settings().slack_webhook_url is None


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("NEWSWATCH_KAFKA_BOOTSTRAP", "no-port-here", "host:port"),
    ("NEWSWATCH_ES_URL", "localhost:9200", "http(s) URL"),
    ("NEWSWATCH_KAFKA_HEAP_TYPO", "1g", None),
])
def test_bad_values_are_clear_errors(monkeypatch, field, value, needle):
    monkeypatch.setenv(field, value)
    if needle is None:  # unknown NEWSWATCH_* env vars are ignored (env is shared)
        load_settings()
        return
    with pytest.raises(ConfigError, match="invalid settings") as caught:
        load_settings()
    assert needle in str(caught.value)


def test_unknown_key_in_config_file_is_an_error(tmp_path: Path):
    config = tmp_path / "c.yaml"
    config.write_text("kafka_bootstrapp: typo:9092\n")
    with pytest.raises(ConfigError, match="kafka_bootstrapp"):
        load_settings(config)


def test_missing_config_file_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.yaml")
