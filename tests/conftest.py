"""Shared fixtures.

Integration tests use the real local stack: a running one is reused, otherwise
the session starts it (and leaves it running for the next run; `newswatch stack
down` stops it). A stack that cannot be started fails the run; it never skips.
Every test gets its own topics and indices, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from pipelines.es_admin import ensure_articles_index, es_client
from pipelines.kafka_admin import TopicSpec, ensure_topics
from pipelines.settings import Settings, load_settings
from pipelines.stack import local_stack


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """The real Kafka + Elasticsearch, reused when running, else started."""
    if not all(s.answers for s in local_stack.status(settings)):
        local_stack.up(settings)
    statuses = local_stack.status(settings)
    assert all(s.answers for s in statuses), f"local stack is not healthy: {statuses}"
    return settings


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny real model, trained once per session and promoted in its own state dir.

    Returns (registry, TrainResult); the state dir is ``registry.root.parent``.
    """
    from classifiers.base_model import base_model_dir
    from classifiers.registry import Registry
    from classifiers.training_run import train
    from tests.classifier_fixtures import tiny_config, tiny_corpus

    registry = Registry(tmp_path_factory.mktemp("state") / "models")
    return registry, train(tiny_config(), tiny_corpus(), base_model_dir(), registry,
                           promote=True)


@pytest.fixture
def unique() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic(stack: Settings, unique: str) -> Iterator[str]:
    """A fresh single-partition topic, deleted afterwards."""
    name = f"newswatch.test.{unique}"
    ensure_topics(stack.kafka, [TopicSpec(name, 1)])
    yield name
    stack.kafka.admin().delete_topics([name])


@pytest.fixture
def es(stack: Settings) -> Elasticsearch:
    return es_client(stack)


@pytest.fixture
def articles_alias(stack: Settings, es: Elasticsearch, unique: str) -> Iterator[str]:
    """A fresh articles alias with its template and first index, removed afterwards."""
    alias = f"newswatch-test-{unique}"
    ensure_articles_index(es, stack.deploy_dir, alias)
    yield alias
    names = list(es.indices.get(index=f"{alias}-*", allow_no_indices=True).body)
    if names:  # the server refuses wildcard deletes (action.destructive_requires_name)
        es.indices.delete(index=",".join(names))
    es.indices.delete_index_template(name=alias)
