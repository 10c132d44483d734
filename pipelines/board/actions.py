"""What the board changes: an analyst's labels, and a search saved as an alert rule.

Both go through the code the command line uses, so the board cannot write
anything the CLI would not: feedback through ``record_labels`` with the fields
``newswatch label`` records (who, when, labels before, the model version seen),
rules through ``alerts add``'s ``append_rule`` (its checks, its file rewrite),
after Elasticsearch has said the query parses (what the alerter checks at start).
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from classifiers.labels import LABELS
from pipelines.alerts import manage
from pipelines.alerts.matcher import validate_rules
from pipelines.alerts.rules import AlertRule
from pipelines.errors import ConfigError
from pipelines.feedback.store import record_labels
from pipelines.schema import Feedback
from pipelines.settings import Settings


def checked_labels(values: Any) -> list[str]:
    """The labels a request names, sorted as ``newswatch label`` stores them; an unknown
    label or a non-list is the request's fault (ConfigError, shown to the analyst)."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError("labels: expected a list of label names")
    unknown = sorted(set(values) - set(LABELS))
    if unknown:
        raise ConfigError(f"unknown labels {unknown}; known: {', '.join(LABELS)}")
    return sorted(set(values))


def record_feedback(settings: Settings, client: Elasticsearch, article_id: str,
                    labels: list[str], note: str | None = None) -> Feedback:
    """Store the analyst's labels for an article, exactly as ``newswatch label`` does."""
    feedback, _article = record_labels(client, settings.articles_alias,
                                       settings.feedback_index, settings.analyst, article_id,
                                       labels, note)
    return feedback


def save_rule(settings: Settings, client: Elasticsearch, name: str, query: str,
              label: list[str], source: list[str]) -> None:
    """Add the search as a rule to the rules file, as ``newswatch alerts add`` does.

    The query is checked by Elasticsearch first, as the alerter checks every rule at
    start: a rule saved from the board is one the alerter will run, not one it leaves
    out. A bad name, label or threshold is refused by the rules file's own checks.
    """
    labels = {}
    for item in label:
        key, _, value = item.partition("=")
        try:
            labels[key] = float(value or 0)
        except ValueError as exc:
            raise ConfigError(f"label {item!r}: expected LABEL=MIN_SCORE") from exc
    try:
        probe = AlertRule(name=name, query=query, labels=labels, sources=source)
    except ValueError as exc:
        raise ConfigError(f"rule {name!r}: {exc}") from exc
    _good, problems = validate_rules(client, settings.articles_alias, [probe])
    if problems:
        raise ConfigError(str(problems[0]))
    manage.append_rule(settings.alerts_file, name=name, query=query, labels=labels,
                       sources=source)
