"""Elasticsearch administration: is the cluster there, and do the template and alias exist."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from pipelines.errors import NewswatchError
from pipelines.es_connection import ElasticsearchConnection
from pipelines.settings import Settings

log = logging.getLogger(__name__)

TEMPLATE_FILE = "elasticsearch/articles-template.json"


def es_client(settings: Settings) -> Elasticsearch:
    return settings.elasticsearch.client()


def es_answers(es: ElasticsearchConnection, timeout_s: float = 3.0) -> bool:
    """True when the cluster answers (with the deployment's credentials) green or yellow."""
    try:
        health = es.client(max_retries=0).options(request_timeout=timeout_s).cluster.health()
    except (ApiError, TransportError):
        return False
    return health.get("status") in ("green", "yellow")


def articles_template(deploy_dir: Path, alias: str) -> dict[str, Any]:
    """The articles index template body, bound to the indices behind ``alias``."""
    body = json.loads((deploy_dir / TEMPLATE_FILE).read_text(encoding="utf-8"))
    body.pop("_comment", None)
    body["index_patterns"] = [f"{alias}-*"]
    body["priority"] = 100
    body["_meta"] = {"managed_by": "newswatch", "alias": alias}
    return body


def first_index_name(alias: str) -> str:
    return f"{alias}-000001"


def ensure_articles_index(client: Elasticsearch, deploy_dir: Path, alias: str) -> bool:
    """Put the template (always, so mapping changes land) and create the first index
    behind the alias when there is none. Returns True when it created the index."""
    client.indices.put_index_template(name=alias, **articles_template(deploy_dir, alias))
    if client.indices.exists_alias(name=alias):
        return False
    if client.indices.exists(index=alias):
        raise NewswatchError(
            f"Elasticsearch has an index named {alias!r} where newswatch expects an alias: "
            "it was probably auto-created by writing to it directly; delete it or choose "
            "another NEWSWATCH_ARTICLES_ALIAS"
        )
    try:
        client.indices.create(
            index=first_index_name(alias), aliases={alias: {"is_write_index": True}}
        )
    except ApiError as exc:
        if exc.meta.status == 400 and "resource_already_exists" in str(exc):
            return False
        raise
    log.info("elasticsearch index created: %s -> %s", alias, first_index_name(alias))
    return True


def new_index_name(alias: str, now: datetime) -> str:
    """A rebuilt index behind ``alias``: same prefix (so the template applies), dated."""
    return f"{alias}-{now:%Y%m%d-%H%M%S}"


def alias_targets(client: Elasticsearch, alias: str) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return sorted(client.indices.get_alias(name=alias).body)


def switch_alias(client: Elasticsearch, alias: str, index: str) -> list[str]:
    """Point ``alias`` (reads and writes) at ``index`` alone, in one atomic request.

    Searches and writes through the alias see the old index or the new one, never
    neither: Kibana, the alerter and the streaming pipeline keep working across it.
    The new index is refreshed first: a bulk-loaded index whose last writes are not yet
    searchable would make the alias read as empty (or short) until its next refresh.
    Returns the indices the alias pointed at before.
    """
    client.indices.refresh(index=index)
    previous = alias_targets(client, alias)
    actions: list[dict[str, Any]] = [{"remove": {"index": old, "alias": alias}}
                                     for old in previous if old != index]
    actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
    client.indices.update_aliases(actions=actions)
    log.info("elasticsearch alias switched alias=%s to=%s from=%s", alias, index,
             ",".join(previous) or "-")
    return previous
