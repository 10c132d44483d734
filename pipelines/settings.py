"""The one settings object of newswatch.

Every knob comes from here: defaults, then a YAML config file, then environment
variables prefixed ``NEWSWATCH_`` (env wins over the file, explicit arguments
win over both). Nothing else in the code base reads ``os.environ``: a test
asserts it, so that a deployment is fully described by its env and config file.

Settings are frozen: a stage receives them once and cannot mutate them behind
another stage's back. Secrets are ``SecretStr`` so they never reach a log line
or a repr.
"""

from __future__ import annotations

import getpass
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from pipelines.errors import ConfigError
from pipelines.es_connection import ElasticsearchConnection
from pipelines.kafka_connection import KafkaConnection
from pipelines.redact import redact_text

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_ENV_VAR = "NEWSWATCH_CONFIG"
_config_file: ContextVar[Path | None] = ContextVar("newswatch_config_file", default=None)


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _default_cache_dir() -> Path:
    """Downloads (server jars and zips) live outside the repo and survive a clean clone."""
    if _running_as_root():
        # Root's home is not traversable by the unprivileged Elasticsearch user.
        return Path("/var/cache/newswatch")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newswatch"


def _default_state_dir() -> Path:
    """Server data, logs, pid files and the model registry."""
    if _running_as_root():
        return Path("/var/lib/newswatch")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "newswatch"


def _default_java_home() -> Path | None:
    value = os.environ.get("JAVA_HOME")
    return Path(value) if value else None


class Settings(BaseSettings):
    """Configuration of every newswatch stage. Env: ``NEWSWATCH_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSWATCH_",
        frozen=True,
        extra="forbid",
    )

    # Where the clients connect. The embedded local stack listens on these ports too.
    kafka_bootstrap: str = "localhost:9092"
    es_url: str = "http://localhost:9200"
    # How a real deployment authenticates (pipelines/kafka_connection.py and
    # pipelines/es_connection.py build every client from these).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = Field(default=None,
                                               description="CA file of the brokers' TLS")
    es_api_key: SecretStr | None = Field(default=None, description="base64 id:key")
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_certs: Path | None = Field(default=None, description="CA file of the cluster's TLS")
    es_request_timeout_s: float = Field(default=60.0, gt=0)

    # Stores.
    topic_raw: str = "newswatch.articles.raw"
    topic_classified: str = "newswatch.articles.classified"
    topic_deadletter: str = "newswatch.deadletter"
    articles_alias: str = "newswatch-articles"

    # Local stack.
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    state_dir: Path = Field(default_factory=_default_state_dir)
    deploy_dir: Path = REPO_ROOT / "deploy"
    java_home: Path | None = Field(default_factory=_default_java_home)
    kafka_controller_port: int = 9093
    es_transport_port: int = 9300
    kafka_heap: str = "512m"
    es_heap: str = "1g"
    es_run_as_user: str = "newswatch"
    stack_start_timeout_s: float = 180.0

    # Classifier.
    seeds_dir: Path = REPO_ROOT / "seeds"
    model: str | None = Field(default=None, description="version or directory; None = current")

    # The Beam pipeline (docs/adr/0004-stream-runner.md).
    pipeline_group_id: str = "newswatch-pipeline"
    pipeline_batch_size: int = Field(default=64, ge=1)  # as `newswatch classify`
    pipeline_bulk_size: int = Field(default=200, ge=1)
    pipeline_threads: int = Field(default=2, ge=1)
    pipeline_summary_interval_s: float = Field(default=30.0, gt=0)
    pipeline_drain_timeout_s: float = Field(default=60.0, gt=0)
    pipeline_runner_args: list[str] = Field(
        default_factory=list, description="Beam options, e.g. ['--runner=FlinkRunner', ...]")

    # Alerts.
    alerts_index: str = "newswatch-alerts"
    alerts_group_id: str = "newswatch-alerter"
    alerts_file: Path = REPO_ROOT / "config" / "alerts.yaml"
    alerts_slack_max_attempts: int = Field(
        default=6, ge=1, description="posts of one message before Slack counts as away")
    alerts_retry_max_backoff_s: float = Field(
        default=60.0, gt=0, description="longest wait between retries of a batch while "
                                        "Elasticsearch or Slack is away")

    # Feedback: analysts' corrections, for retraining.
    feedback_index: str = "newswatch-feedback"
    analyst: str = Field(default_factory=getpass.getuser,
                         description="who `newswatch label` records as the analyst")

    # The analyst's board (pipelines/board/, docs/adr/0005-analyst-board.md). Loopback by
    # default; bound anywhere else, it refuses to start without a token.
    board_host: str = "127.0.0.1"
    board_port: int = Field(default=8765, ge=0, le=65535)
    board_token: SecretStr | None = Field(
        default=None, description="required when board_host is not loopback")

    # Secrets: never logged, never in git.
    slack_webhook_url: SecretStr | None = None

    @field_validator("slack_webhook_url", "board_token", "kafka_sasl_mechanism",
                     "kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_ca_location",
                     "es_api_key", "es_username", "es_password", "es_ca_certs", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # docker compose passes an unset variable as "": that means "not set".
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, value: str) -> str:
        host, _, port = value.split(",")[0].rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("es_url")
    @classmethod
    def _es_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @property
    def kafka(self) -> KafkaConnection:
        """Where Kafka is and how to authenticate: every Kafka client is built from this."""
        return KafkaConnection.from_settings(self)

    @property
    def elasticsearch(self) -> ElasticsearchConnection:
        """Where Elasticsearch is and how to authenticate: every client is built from this."""
        return ElasticsearchConnection.from_settings(self)

    @property
    def kafka_port(self) -> int:
        """Port of the first bootstrap server: where the local broker listens."""
        return int(self.kafka_bootstrap.split(",")[0].rpartition(":")[2])

    @property
    def es_port(self) -> int:
        return urlsplit(self.es_url).port or 9200

    @property
    def models_dir(self) -> Path:
        """The model registry (never in git)."""
        return self.state_dir / "models"

    @property
    def java_executable(self) -> str:
        """The ``java`` to run servers with: ``java_home`` if set, else the one on PATH."""
        if self.java_home is not None:
            return str(self.java_home / "bin" / "java")
        return "java"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = _config_file.get() or os.environ.get(CONFIG_ENV_VAR)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once, at the edge (the CLI or a test).

    ``config_file`` is a YAML file of field names to values; it may also come
    from ``NEWSWATCH_CONFIG``. Env vars override it; ``overrides`` override all.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    token = _config_file.set(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # Without the inputs: a rejected value may be a password or a URL with one.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {redact_text(e['msg'])}"
                             for e in exc.errors(include_input=False, include_url=False))
        raise ConfigError(f"invalid settings: {problems}") from None
    finally:
        _config_file.reset(token)
