"""Faults of the stores, pipeline side: a store that refuses writes for its own reasons is
waited out. Nothing good is dead-lettered, nothing is committed before it is indexed, and
the pipeline drains cleanly afterwards."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from tests.integration.pipeline_helpers import PipelineEnv, article, make_pipeline_env, stop
from tests.support.kafka_read import read_topic


def write_index(penv: PipelineEnv) -> str:
    aliases = penv.es.indices.get_alias(name=penv.settings.articles_alias).body
    (index,) = [name for name, body in aliases.items()
                if body["aliases"][penv.settings.articles_alias].get("is_write_index", True)]
    return index


def wait_until_committed(penv: PipelineEnv, timeout_s: float = 60) -> None:
    """Every partition committed up to its end (an empty partition has nothing to commit)."""
    deadline = time.monotonic() + timeout_s
    while {p: max(o, 0) for p, o in penv.committed().items()} != penv.end_offsets():
        assert time.monotonic() < deadline, (penv.committed(), penv.end_offsets())
        time.sleep(0.5)


def wait_for_log(penv: PipelineEnv, text: str, process, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in penv.log_text():
        assert process.poll() is None, penv.log_text()[-4000:]
        assert time.monotonic() < deadline, penv.log_text()[-4000:]
        time.sleep(0.2)


def test_a_write_blocked_index_is_waited_out_and_nothing_good_is_dead_lettered(
        pipeline_env: PipelineEnv):
    penv = pipeline_env
    index = write_index(penv)
    penv.es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    articles = [article(n) for n in range(100)]
    process = penv.start("run")
    try:
        penv.produce(articles)
        # The pipeline has read them and been refused: it says so, and waits.
        wait_for_log(penv, "cluster_block_exception", process)
        wait_for_log(penv, "retrying in 1.0s", process)  # a second try, still refused
        assert penv.count() == 0
        assert all(offset < 0 for offset in penv.committed().values())  # nothing committed
        penv.es.indices.put_settings(index=index, settings={"index.blocks.write": False})
        penv.wait_for_count(len(articles), process)
        wait_until_committed(penv)
    finally:
        code = stop(process, signal.SIGTERM)
    log = penv.log_text()
    assert code == 0, log[-4000:]
    assert set(penv.indexed()) == {a.id for a in articles}
    assert read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_deadletter) == []
    assert "pipeline stopped state=DONE indexed=100 dead_lettered=0" in log
    assert "Traceback" not in log


@pytest.fixture
def short_drain_env(stack, trained, tmp_path) -> Iterator[PipelineEnv]:
    yield from make_pipeline_env(stack, trained, tmp_path,
                                 NEWSWATCH_PIPELINE_DRAIN_TIMEOUT_S="5")


def test_a_stop_while_the_store_refuses_commits_nothing_and_a_restart_indexes_all(
        short_drain_env: PipelineEnv):
    penv = short_drain_env
    index = write_index(penv)
    penv.es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    articles = [article(n) for n in range(10)]
    process = penv.start("run")
    try:
        penv.produce(articles)
        wait_for_log(penv, "cluster_block_exception", process)
    finally:
        code = stop(process, signal.SIGTERM)
    log = penv.log_text()
    assert code == 0, log[-4000:]
    assert "Traceback" not in log, log[-4000:]
    assert all(offset < 0 for offset in penv.committed().values())
    assert read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_deadletter) == []

    penv.es.indices.put_settings(index=index, settings={"index.blocks.write": False})
    process = penv.start("run")
    try:
        penv.wait_for_count(len(articles), process)
    finally:
        assert stop(process, signal.SIGTERM) == 0
    assert set(penv.indexed()) == {a.id for a in articles}


def test_a_dead_letter_too_large_for_kafka_is_cut_to_fit_and_the_pipeline_goes_on(
        pipeline_env: PipelineEnv):
    import base64
    import hashlib

    from pipelines.schema import DeadLetter

    penv = pipeline_env
    huge = b"\xff" + b"not json " * 111_000  # ~1 MB: fits the raw topic, not as base64 letter
    penv.produce([], extra=[(b"huge", huge)])
    after = article(1)
    penv.produce([after])
    process = penv.start("run")
    try:
        penv.wait_for_count(1, process)
        wait_until_committed(penv)
    finally:
        assert stop(process, signal.SIGTERM) == 0, penv.log_text()[-3000:]
    (key, value), = read_topic(penv.settings.kafka_bootstrap, penv.settings.topic_deadletter)
    letter = DeadLetter.model_validate_json(value)
    assert len(value) <= 900_000 and letter.step == "pipeline.parse"
    assert (letter.payload_truncated, letter.payload_size, letter.payload_sha256) == (
        True, len(huge), hashlib.sha256(huge).hexdigest())
    assert huge.startswith(base64.b64decode(letter.payload_b64))
    assert set(penv.indexed()) == {after.id}
