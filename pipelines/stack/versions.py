"""The pinned server versions, read from ``deploy/versions.env`` (the one place they live)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import ConfigError


@dataclass(frozen=True)
class StackVersions:
    kafka: str
    log4j: str
    elasticsearch: str
    beam: str


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=value`` lines; blank lines and ``#`` comments ignored."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"versions file line {number} is not KEY=value: {raw!r}")
        values[key.strip()] = value.strip()
    return values


def load_versions(deploy_dir: Path) -> StackVersions:
    path = deploy_dir / "versions.env"
    try:
        values = parse_env_file(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} is missing: it pins the Kafka and Elasticsearch versions"
        ) from exc
    try:
        return StackVersions(
            kafka=values["KAFKA_VERSION"],
            log4j=values["LOG4J_VERSION"],
            elasticsearch=values["ELASTICSEARCH_VERSION"],
            beam=values["BEAM_VERSION"],
        )
    except KeyError as exc:
        raise ConfigError(f"{path} does not set {exc.args[0]}") from exc
