"""The `newswatch classify` / `evaluate` contract that other tools rely on, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from classifiers.labels import LABELS


def newswatch(state_dir, *args):
    env = {"PATH": os.environ["PATH"], "NEWSWATCH_STATE_DIR": str(state_dir),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "pipelines", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = [
    json.dumps({"id": 1, "title": "Chinese fund buys forest", "text": "A Chinese fund "
                "bought 300 hectares of forest in Hokkaido.", "extra": "ignored"}),
    json.dumps({"id": "b", "title": None, "text": "The council approved new bicycle lanes."}),
    json.dumps({"id": "c", "title": "", "text": ""}),
]


def test_one_output_line_per_input_in_order(trained, tmp_path):
    registry, result = trained
    source = write_lines(tmp_path / "in.jsonl", GOOD)
    out = tmp_path / "out.jsonl"
    run = newswatch(registry.root.parent, "classify", "--input", str(source), "--output", str(out))
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, "b", "c"]
    for row in rows:
        assert set(row) == {"id", "scores", "labels", "evidence"}
        assert set(row["scores"]) == set(LABELS)
        assert all(0.0 <= v <= 1.0 for v in row["scores"].values())
        assert set(row["labels"]) <= set(LABELS) and set(row["evidence"]) == set(row["labels"])
    by_version = tmp_path / "v.jsonl"
    again = newswatch(registry.root.parent, "classify", "--input", str(source), "--output",
                      str(by_version), "--model", result.version)
    assert again.returncode == 0 and by_version.read_text() == out.read_text()


@pytest.mark.parametrize(("bad", "message"), [
    ("{not json", "line 2: not JSON"),
    (json.dumps({"id": 9, "title": "no text"}), 'line 2: no "text" string'),
    (json.dumps([1, 2]), "line 2: not a JSON object"),
])
def test_a_bad_line_fails_the_run_and_leaves_no_output(trained, tmp_path, bad, message):
    registry, _ = trained
    source = write_lines(tmp_path / "in.jsonl", [GOOD[0], bad, GOOD[1]])
    out = tmp_path / "out.jsonl"
    run = newswatch(registry.root.parent, "classify", "--input", str(source), "--output", str(out))
    assert run.returncode == 2
    assert message in " ".join(run.stderr.split()) and "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == [source]  # no OUT, no partial file


def test_without_a_model_it_says_how_to_train_one(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", GOOD)
    run = newswatch(tmp_path / "empty-state", "classify", "--input", str(source), "--output",
                    str(tmp_path / "out.jsonl"))
    assert run.returncode == 1
    assert "no model has been trained yet: run `newswatch train --promote`" in \
        " ".join(run.stderr.split())
    assert not (tmp_path / "out.jsonl").exists()


def test_evaluate_prints_per_label_metrics_and_confusion(trained, tmp_path):
    registry, _ = trained
    labelled = write_lines(tmp_path / "l.jsonl", [
        json.dumps({"id": 1, "title": "", "text": "A Chinese fund bought a forest in Hokkaido.",
                    "labels": ["property_purchase"]}),
        json.dumps({"id": 2, "title": "", "text": "Rain is expected tomorrow.", "labels": []}),
    ])
    run = newswatch(registry.root.parent, "evaluate", "--input", str(labelled))
    assert run.returncode == 0, run.stderr
    for needle in ("precision", "recall", "F1", "TP", "FP", "FN", "TN", "macro-F1",
                   *LABELS):
        assert needle in run.stdout
    bad = write_lines(tmp_path / "b.jsonl", [json.dumps({"id": 1, "text": "x",
                                                         "labels": ["gossip"]})])
    run = newswatch(registry.root.parent, "evaluate", "--input", str(bad))
    assert run.returncode == 2 and "unknown labels ['gossip']" in run.stderr


def test_models_list_marks_the_current_model(trained):
    registry, result = trained
    run = newswatch(registry.root.parent, "models", "list")
    assert run.returncode == 0 and result.version in run.stdout and "*" in run.stdout
