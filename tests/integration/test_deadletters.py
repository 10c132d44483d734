"""Dead letters can be read and re-driven once their cause is fixed: the record is indexed,
once, however often it is re-driven."""

from __future__ import annotations

import json

from tests.integration.pipeline_helpers import PipelineEnv, article


def test_list_show_and_redrive_a_refused_document_once_its_cause_is_fixed(
        pipeline_env: PipelineEnv):
    penv = pipeline_env
    index = f"{penv.settings.articles_alias}-strict"
    penv.es.indices.create(index=index, mappings={"properties": {"source": {"type": "long"}}})
    good = [article(n, source="1234") for n in range(2)]
    refused = article(99, source="not-a-number")
    penv.produce([*good, refused])
    first = penv.cli("pipeline", "replay", "--since", "2000-01-01", "--index", index)
    assert "replay read=3 indexed=2 dead_lettered=1" in first.stderr, first.stderr[-3000:]

    listed = penv.cli("deadletters", "list", "--step", "pipeline.index")
    assert listed.returncode == 0, listed.stderr[-3000:]
    text = " ".join(listed.stdout.split())
    assert "1 dead letters in" in text and "DocumentRejected" in text
    assert penv.cli("deadletters", "list", "--step", "pipeline.parse").stdout.count(
        "0 dead letters") == 1
    shown = penv.cli("deadletters", "show", "0")
    assert shown.returncode == 0, shown.stderr[-3000:]
    body = json.loads(shown.stdout)
    assert body["step"] == "pipeline.index" and json.loads(body["payload"])["id"] == refused.id
    missing = penv.cli("deadletters", "show", "7")
    assert missing.returncode == 2 and "no dead letter at offset 7" in missing.stderr

    dry = penv.cli("deadletters", "redrive")
    assert "1 dead letters would be re-driven" in dry.stdout  # nothing sent without --yes
    # The cause: the index's mapping. Fixed, the letter goes back through the pipeline.
    penv.es.indices.delete(index=index)
    penv.es.indices.create(index=index, mappings={"properties": {"source": {"type": "keyword"}}})
    for _ in range(2):  # twice: still one document
        sent = penv.cli("deadletters", "redrive", "--step", "pipeline.index", "--yes")
        assert sent.returncode == 0, sent.stderr[-3000:]
        assert f"re-drove 1 records to {penv.settings.topic_raw} (pipeline.index 1)" in \
            " ".join(sent.stdout.split())
        again = penv.cli("pipeline", "replay", "--since", "2000-01-01", "--index", index)
        assert again.returncode == 0, again.stderr[-3000:]
    assert set(penv.indexed(index)) == {a.id for a in [*good, refused]}
    assert penv.count(index) == 3
    penv.es.indices.delete(index=index)
