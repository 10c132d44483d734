"""The retraining loop on the real servers: the running pipeline switching models, feedback,
retraining, comparing, promoting, replaying into a new index behind the alias."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from classifiers.registry import Registry
from pipelines.settings import Settings
from tests.integration.pipeline_helpers import PipelineEnv, article, make_pipeline_env, stop
from tests.support.kafka_read import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def own_registry_env(stack: Settings, trained: tuple, tmp_path: Path) -> Iterator[PipelineEnv]:
    """A pipeline environment whose registry is its own (promoting here touches no other
    test): the tiny model as ``model-a``, and the same weights as ``model-b``."""
    _shared, result = trained
    registry = Registry(tmp_path / "registry")
    for version in ("model-a", "model-b"):
        shutil.copytree(result.path, registry.root / version)
    registry.promote("model-a")
    yield from make_pipeline_env(stack, (registry, SimpleNamespace(version="model-a")),
                                 tmp_path)


def test_the_running_pipeline_switches_to_a_promoted_model_losing_and_doubling_nothing(
        own_registry_env: PipelineEnv):
    penv = own_registry_env
    total = 120
    articles = [article(n) for n in range(total)]
    produced_all = threading.Event()

    def produce_steadily() -> None:
        for start in range(0, total, 6):
            penv.produce(articles[start:start + 6])
            time.sleep(0.25)
        produced_all.set()

    process = penv.start("run")  # no --model: it follows the registry
    producer = threading.Thread(target=produce_steadily)
    try:
        producer.start()
        penv.wait_for_count(20, process)
        promoted = penv.cli("models", "promote", "model-b")
        assert promoted.returncode == 0, promoted.stderr
        promoted_at = datetime.now().astimezone()
        producer.join()
        late = [article(n) for n in range(total, total + 10)]
        time.sleep(3)  # past the workers' registry check
        penv.produce(late)
        penv.wait_for_count(total + len(late), process)
        time.sleep(2)  # anything doubled or late would show now
        docs = penv.indexed()
    finally:
        produced_all.wait(60)
        code = stop(process)
    assert code == 0, penv.log_text()[-3000:]
    expected = {a.id for a in [*articles, *late]}
    assert set(docs) == expected and penv.count() == len(expected)
    versions = [docs[a.id].model_version for a in [*articles, *late]]
    assert versions[0] == "model-a"
    assert set(versions) == {"model-a", "model-b"}
    switch = versions.index("model-b")
    assert versions[switch:] == ["model-b"] * (len(versions) - switch)  # one switch, in order
    assert all(docs[a.id].model_version == "model-b" for a in late)
    first_b = min(d.classified_at for d in docs.values() if d.model_version == "model-b")
    print(f"promote -> first document classified by the new model: "
          f"{(first_b - promoted_at).total_seconds():.2f} s")
    log = penv.log_text()
    assert re.search(r"model switched from=model-a to=model-b load_s=\d", log)
    events = [k.decode() for k, _ in read_topic(penv.settings.kafka_bootstrap,
                                                 penv.settings.topic_classified)]
    assert sorted(events) == sorted(expected)  # each announced exactly once
