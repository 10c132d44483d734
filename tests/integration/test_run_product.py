"""`newswatch run`: the whole product from one command, stopped by one Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from classifiers.registry import Registry
from pipelines.seed_feed import seed_feed_xml
from tests.integration.pipeline_helpers import PipelineEnv

pytestmark = pytest.mark.integration


def test_run_brings_seed_articles_to_search_and_alerts_then_stops_on_ctrl_c(
        fresh_env: PipelineEnv, tmp_path):
    penv = fresh_env
    seeds = seed_feed_xml(penv.settings.seeds_dir).decode()
    expected = seeds.count("<item>")
    assert expected == 14
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": []}))
    alerts_index = f"{penv.settings.articles_alias}-alerts"
    env = {**penv.env, "NEWSWATCH_ALERTS_INDEX": alerts_index,
           "NEWSWATCH_ALERTS_GROUP_ID": f"{penv.settings.pipeline_group_id}-alerts"}
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "pipelines", "run", "--feeds", str(feeds)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while penv.count() < expected:
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(1)
        docs = penv.indexed()
        assert len(docs) == expected
        assert {d.source for d in docs.values()} == {"seed articles (local)"}
        (first_model,) = Registry(penv.settings.models_dir).list()  # made by `run` itself
        assert first_model.approach == "head" and first_model.current
        assert {d.model_version for d in docs.values()} == {first_model.version}
        by_url = {d.url.rpartition("/")[2]: d for d in docs.values()}
        assert by_url["004-5"].labels == ["property_purchase"]  # LABELS.md's reference
        # Each document carries exactly the labels its scores reach under the thresholds
        # that training recorded with the model (not a default of 0.5).
        thresholds = json.loads((first_model.path / "thresholds.json").read_text())
        assert {d.id: sorted(d.labels) for d in docs.values()} == {
            d.id: sorted(label for label, score in d.scores.items()
                         if score >= thresholds[label]) for d in docs.values()}
        labelled = {d.id for d in docs.values() if d.labels}
        while True:  # the default rules fire for every labelled article (console: no webhook)
            if penv.es.indices.exists(index=alerts_index):
                penv.es.indices.refresh(index=alerts_index)
                hits = penv.es.search(index=alerts_index, size=100)["hits"]["hits"]
                done = [h for h in hits if h["_source"]["status"] != "pending"]
                if {h["_source"]["article_id"] for h in done} == labelled == {
                        h["_source"]["article_id"] for h in hits}:
                    break
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(1)
        assert {h["_source"]["status"] for h in hits} <= {"console", "suppressed"}
        assert sorted((h["_source"]["rule"], h["_source"]["article_id"]) for h in hits) == \
            sorted((label, d.id) for d in docs.values() for label in d.labels)  # default rules
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = process.wait(timeout=120)
        if penv.es.indices.exists(index=alerts_index):
            penv.es.indices.delete(index=alerts_index)
    text = (tmp_path / "run.log").read_text()
    assert code == 0, text[-3000:]
    assert "newswatch stopped." in text
    assert "Traceback" not in text  # Ctrl-C is a normal way to stop, not a crash
    assert "pipeline stopped state=DONE" in " ".join(text.split())
