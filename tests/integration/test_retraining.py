"""The retraining loop on the real servers: the running pipeline switching models, feedback,
retraining, comparing, promoting, replaying into a new index behind the alias."""

from __future__ import annotations

import json
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


TEXTS = {
    "tech_influence": "A state-backed chip fund hired the research team and licensed the "
                      "semiconductor patents; engineers were flown abroad for training.",
    "property_purchase": "A foreign company bought farmland and forest next to the air base; "
                         "the land registry shows the buyer is state-linked.",
    "infrastructure_dependency": "The power grid now depends on imported inverters that the "
                                 "foreign vendor maintains by remote access.",
}


def test_feedback_retrain_compare_promote_replay_into_a_new_index_and_back(
        own_registry_env: PipelineEnv, tmp_path: Path):
    from dataclasses import asdict

    from pipelines.feedback.examples import is_held_out
    from tests.classifier_fixtures import tiny_config, write_tiny_seeds

    penv = own_registry_env
    settings = penv.settings
    names = list(TEXTS)
    articles = [article(n, title=f"Report {n}", text=TEXTS[names[n % 3]]) for n in range(12)]
    penv.produce(articles)
    first = penv.cli("pipeline", "replay", "--model", "model-a")
    assert first.returncode == 0, first.stderr[-3000:]
    assert {d.model_version for d in penv.indexed().values()} == {"model-a"}

    # Feedback, and bad feedback named clearly.
    bad_id = penv.cli("label", "no-such-article", "--labels", "tech_influence")
    assert bad_id.returncode == 2 and "no article with id 'no-such-article'" in bad_id.stderr
    bad_label = penv.cli("label", "art-00000", "--labels", "tech_influense")
    assert bad_label.returncode == 2
    assert "unknown labels ['tech_influense']; known: tech_influence" in bad_label.stderr
    neither = penv.cli("label", "art-00000")
    assert neither.returncode == 2 and "give either --labels a,b or --none" in neither.stderr
    truth = {a.id: [names[n % 3]] for n, a in enumerate(articles[:10])}
    for article_id, labels in truth.items():
        result = penv.cli("label", article_id, "--labels", ",".join(labels),
                          env_extra={"NEWSWATCH_ANALYST": "ana"})
        assert result.returncode == 0, result.stderr[-2000:]
    again = penv.cli("label", "art-00001", "--none", "--note", "just a price list")
    assert again.returncode == 0, again.stderr
    truth["art-00001"] = []
    held = sorted(i for i in truth if is_held_out(i))
    trained_on = sorted(i for i in truth if not is_held_out(i))
    assert held and trained_on, "the fixed ids must give both slices"

    out = tmp_path / "feedback.jsonl"
    exported = penv.cli("feedback", "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["article"]: r["labels"] for r in rows} == truth
    assert rows[0] == {"id": "feedback/art-00000", "article": "art-00000", "title": "Report 0",
                       "text": TEXTS["tech_influence"], "labels": ["tech_influence"],
                       "source": "feedback"}
    stored = penv.es.get(index=settings.feedback_index, id="art-00001")["_source"]
    assert stored["labels"] == [] and stored["previous_labels"] == ["property_purchase"]
    assert stored["note"] == "just a price list" and stored["model_version"] == "model-a"
    assert penv.es.get(index=settings.feedback_index, id="art-00000")["_source"][
        "analyst"] == "ana"

    # Retrain on the seeds plus feedback; compare; promote.
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(asdict(tiny_config())))
    tiny_seeds = write_tiny_seeds(tmp_path / "seeds")
    trained = penv.cli("train", "--with-feedback", "--config", str(config), "--no-onnx",
                       timeout=900, env_extra={"NEWSWATCH_SEEDS_DIR": str(tiny_seeds)})
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (f"training on the seeds plus {len(trained_on)} analyst-labelled articles "
            f"({len(held)} held out") in trained.stdout
    registry = Registry(settings.models_dir)
    new = next(i.version for i in registry.list() if i.version not in ("model-a", "model-b"))
    training = json.loads((settings.models_dir / new / "training.json").read_text())
    assert training["extra_groups"] == trained_on
    compared = penv.cli("models", "compare", "model-a", new)
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert f"held-out feedback: {len(held)} articles" in compared.stdout
    cells = re.sub("[│┃]", " ", compared.stdout)
    for label in [*names, "macro-F1"]:  # both models, on both views
        assert re.search(rf"{label}\s+\d\.\d\d\s+\d\.\d\d\s+\d\.\d\d\s+\d\.\d\d", cells), cells
    assert penv.cli("models", "promote", new).returncode == 0

    # Rebuild the index with the new model while the alias is being read.
    old_indices = sorted(penv.es.indices.get_alias(name=settings.articles_alias).body)
    counts: list[int] = []
    errors: list[str] = []
    reading = threading.Event()

    def read_alias() -> None:
        while not reading.is_set():
            try:
                counts.append(penv.es.count(index=settings.articles_alias)["count"])
            except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
                errors.append(repr(exc))
            time.sleep(0.05)

    reader = threading.Thread(target=read_alias)
    reader.start()
    try:
        rebuilt = penv.cli("pipeline", "replay", "--into-new-index")
    finally:
        reading.set()
        reader.join()
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert errors == [] and counts and min(counts) == len(articles)
    new_indices = sorted(penv.es.indices.get_alias(name=settings.articles_alias).body)
    assert len(new_indices) == 1 and new_indices != old_indices
    assert f"alias {settings.articles_alias} -> {new_indices[0]} (was {old_indices[0]})" in \
        " ".join(rebuilt.stdout.split())
    docs = penv.indexed()
    assert set(docs) == {a.id for a in articles} and penv.count() == len(articles)
    assert {d.model_version for d in docs.values()} == {new}
    assert penv.count(old_indices[0]) == len(articles)  # the old index stays until pruned

    listed = penv.cli("index", "list")
    assert old_indices[0] in listed.stdout and new_indices[0] in listed.stdout
    pruned = penv.cli("index", "prune", "--yes")
    assert pruned.returncode == 0 and f"deleted 1 indices: {old_indices[0]}" in pruned.stdout
    assert not penv.es.indices.exists(index=old_indices[0])
    assert penv.count() == len(articles)

    rolled = penv.cli("models", "rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert registry.current() == "model-a"
    assert f"current model: model-a (was {new})" in rolled.stdout
