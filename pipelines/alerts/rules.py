"""Alert rules: what an analyst watches, loaded from YAML and checked rule by rule.

A rule is a Kibana-style ``query_string`` plus label filters with score
thresholds and optional sources. A broken rule is reported by name and left
out; the other rules keep working. Whether a query parses is decided by
Elasticsearch itself (``_validate/query``), at load time, by the alerter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from classifiers.labels import LABELS
from pipelines.config_files import read_yaml
from pipelines.errors import ConfigError
from pipelines.schema import describe_errors


class AlertRule(BaseModel):
    """One watched pattern. ``labels`` maps a label to the minimum score that counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    query: str = "*"
    labels: dict[str, float] = Field(default_factory=dict)
    sources: list[str] = Field(default_factory=list)
    realert_minutes: float = Field(default=60.0, ge=0)
    digest_minutes: float | None = Field(default=None, gt=0)
    enabled: bool = True

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, labels: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(labels) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown labels {unknown}; known: {list(LABELS)}")
        bad = {k: v for k, v in labels.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"label thresholds must lie in [0, 1]: {bad}")
        return labels

    def es_filter(self, ids: list[str]) -> dict[str, Any]:
        """The Elasticsearch query: the rule's query and filters, over the given ids only."""
        filters: list[dict[str, Any]] = [{"ids": {"values": ids}}]
        for label, threshold in sorted(self.labels.items()):
            filters.append({"term": {"labels": label}})
            filters.append({"range": {f"scores.{label}": {"gte": threshold}}})
        if self.sources:
            filters.append({"terms": {"source": self.sources}})
        return {"bool": {"must": [{"query_string": {"query": self.query}}],
                         "filter": filters}}


@dataclass(frozen=True)
class RuleProblem:
    """A rule that was left out, and why, in words an analyst can act on."""

    name: str
    position: int
    error: str

    def __str__(self) -> str:
        return f"rule {self.name!r} (#{self.position}): {self.error}"


@dataclass(frozen=True)
class LoadedRules:
    rules: list[AlertRule]
    problems: list[RuleProblem]
    positions: dict[str, int]
    """Where each good rule stands in the file, for messages about it."""


def parse_rules(data: Any) -> LoadedRules:
    """Rules from the parsed YAML document ``{"rules": [...]}``; bad ones become problems."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ConfigError("an alerts file is a mapping with a list under 'rules'")
    rules: list[AlertRule] = []
    problems: list[RuleProblem] = []
    positions: dict[str, int] = {}
    for position, raw in enumerate(data["rules"], start=1):
        name = raw.get("name", "?") if isinstance(raw, dict) else "?"
        try:
            rule = AlertRule.model_validate(raw)
        except ValidationError as exc:
            problems.append(RuleProblem(str(name), position, describe_errors(exc, "rule")))
            continue
        if rule.name in positions:
            problems.append(RuleProblem(rule.name, position, "a rule with this name came before"))
            continue
        positions[rule.name] = position
        rules.append(rule)
    return LoadedRules(rules, problems, positions)


def load_rules(path: Path) -> LoadedRules:
    return parse_rules(read_yaml(path, "alerts file"))


def dump_rules(rules: list[AlertRule]) -> str:
    body = {"rules": [r.model_dump(exclude_defaults=False) for r in rules]}
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
