"""A benchmark's own topics, consumer groups and article alias on the running stack,
the environment that points `newswatch` subprocesses at them, and the clean-up."""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.es_admin import ensure_articles_index
from pipelines.kafka_admin import TopicSpec, ensure_topics, topic_specs
from pipelines.settings import Settings, load_settings


@dataclass
class BenchEnv:
    unique: str
    settings: Settings
    es: Elasticsearch
    env: dict[str, str]
    specs: list[TopicSpec]

    def cleanup(self, *indices: str) -> None:
        self.settings.kafka.admin().delete_topics(
            [s.name for s in self.specs])
        alias = self.settings.articles_alias
        names = [*self.es.indices.get(index=f"{alias}-*").body, *indices]
        self.es.indices.delete(index=",".join(names), ignore_unavailable=True)
        self.es.indices.delete_index_template(name=alias)


def bench_env(**extra: Any) -> BenchEnv:
    """Fresh names for everything a benchmark writes; ``extra`` adds settings."""
    unique = uuid.uuid4().hex[:8]
    overrides = {"topic_raw": f"bench.raw.{unique}", "topic_classified": f"bench.cls.{unique}",
                 "topic_deadletter": f"bench.dead.{unique}",
                 "articles_alias": f"newswatch-bench-{unique}",
                 "pipeline_group_id": f"bench-{unique}", **extra}
    settings = load_settings(**overrides)
    specs = topic_specs(settings)
    ensure_topics(settings.kafka, specs)
    es = settings.elasticsearch.client()
    ensure_articles_index(es, settings.deploy_dir, settings.articles_alias)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "HF_HUB_OFFLINE": "1",
           **{f"NEWSWATCH_{k.upper()}": str(v) for k, v in overrides.items()}}
    return BenchEnv(unique, settings, es, env, specs)
