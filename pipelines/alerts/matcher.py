"""Matching rules against Elasticsearch itself, so that a rule means what the same query
means in Kibana: each rule's query, filtered to the newest articles' ids, in one
``_msearch``. The local Elasticsearch has no percolator; this needs none."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

from elasticsearch import Elasticsearch

from pipelines.alerts.rules import AlertRule, RuleProblem
from pipelines.errors import NewswatchError
from pipelines.schema import ClassifiedArticle

log = logging.getLogger(__name__)


def validate_rules(client: Elasticsearch, index: str, rules: Sequence[AlertRule],
                   positions: dict[str, int] | None = None,
                   ) -> tuple[list[AlertRule], list[RuleProblem]]:
    """Ask Elasticsearch whether each rule's query parses; a bad one is left out, named."""
    good, problems = [], []
    for number, rule in enumerate(rules, start=1):
        position = (positions or {}).get(rule.name, number)
        answer = client.indices.validate_query(index=index, query=rule.es_filter(["x"]),
                                               explain=True)
        if answer.get("valid"):
            good.append(rule)
        else:
            explanations = answer.get("explanations") or [{}]
            reason = explanations[0].get("error") or answer.get("error") or "invalid query"
            problems.append(RuleProblem(rule.name, position, f"query {rule.query!r}: {reason}"))
    return good, problems


class MatchingUnavailable(NewswatchError):
    """Elasticsearch answered a rule's search with an error: the batch is tried again."""


def matching_ids(client: Elasticsearch, index: str, rules: Sequence[AlertRule],
                 ids: Sequence[str]) -> dict[str, set[str]]:
    """For each rule, which of ``ids`` it matches. Rules were validated at start, so a
    rule's search that errors now is the store's trouble (a shard, a closed index, a
    timeout): it raises MatchingUnavailable, and the batch is handled again later rather
    than matching nothing and being committed."""
    if not rules or not ids:
        return {}
    searches: list[dict] = []
    for rule in rules:
        searches += [{"index": index},
                     {"query": rule.es_filter(list(ids)), "size": len(ids), "_source": False}]
    responses = client.msearch(searches=searches)["responses"]
    matched: dict[str, set[str]] = {}
    failed = {rule.name: response["error"] for rule, response in zip(rules, responses,
                                                                      strict=True)
              if "error" in response}
    if failed:
        name, error = next(iter(failed.items()))
        reason = error.get("type", error) if isinstance(error, dict) else error
        raise MatchingUnavailable(f"{len(failed)} of {len(rules)} rules' searches failed, "
                                  f"e.g. rule {name}: {reason}")
    for rule, response in zip(rules, responses, strict=True):
        matched[rule.name] = {hit["_id"] for hit in response["hits"]["hits"]}
    return matched


def history_matches(client: Elasticsearch, index: str, rule: AlertRule, since: datetime,
                    until: datetime, page: int = 500) -> Iterator[ClassifiedArticle]:
    """The articles published in [since, until) that ``rule`` matches, oldest first.

    History is read page by page and each page goes through ``matching_ids``, the
    function the live alerter uses, so a backtest means what the live rule means.
    """
    query = {"range": {"published_at": {"gte": since.isoformat(), "lt": until.isoformat()}}}
    after: list | None = None
    while True:
        extra = {"search_after": after} if after else {}
        hits = client.search(index=index, query=query, size=page,
                             sort=[{"published_at": "asc"}, {"id": "asc"}], **extra)["hits"]["hits"]
        if not hits:
            return
        ids = [hit["_id"] for hit in hits]
        matched = matching_ids(client, index, [rule], ids).get(rule.name, set())
        for hit in hits:
            if hit["_id"] in matched:
                yield ClassifiedArticle.model_validate(hit["_source"])
        after = hits[-1]["sort"]
