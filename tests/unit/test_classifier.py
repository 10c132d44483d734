"""The classifier: deterministic training, the registry layout, windows and evidence,
batches larger than one, and the int8 ONNX path judged by its decisions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from classifiers.base_model import base_model_dir
from classifiers.labels import LABELS
from classifiers.metrics import report, tune_thresholds
from classifiers.predictor import Document, Predictor
from classifiers.registry import ModelNotFound, Registry
from classifiers.train import TrainingConfig, contrastive_pairs, fit
from tests.classifier_fixtures import tiny_config, tiny_corpus


def test_training_config_round_trips_and_rejects_unknown_keys():
    config = tiny_config()
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown training options"):
        TrainingConfig.from_dict({"epochz": 3})


@pytest.mark.parametrize("approach", ["head", "plain", "setfit"])
def test_training_is_deterministic_for_a_seed(approach):
    corpus = tiny_corpus()
    examples = corpus.training_examples()[:16]
    first, _ = fit(tiny_config(), approach, examples, base_model_dir())
    second, _ = fit(tiny_config(), approach, examples, base_model_dir())
    other, _ = fit(tiny_config(seed=8), approach, examples, base_model_dir())
    a, b, c = (m.state_dict() for m in (first, second, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_the_frozen_head_reads_raw_embeddings_whatever_their_scale(tmp_path):
    """The head is fitted on standardised embeddings and the scaling is folded into its
    first layer: embeddings moved and stretched per dimension give the same head outputs
    on the moved inputs, and the saved head (with its hidden layer) gives them again."""
    from classifiers.model import Head, MultiLabelClassifier, load_tokenizer
    from classifiers.train import fit_head
    from classifiers.windows import Window

    examples = tiny_corpus().training_examples()[:12]
    windows = [Window(doc, [], "") for doc in range(len(examples)) for _ in range(2)]
    raw = torch.randn(len(windows), 384, generator=torch.Generator().manual_seed(3)) * 0.05
    shift, stretch = torch.linspace(-1, 1, 384), torch.linspace(0.5, 20, 384)
    config = tiny_config()
    outputs = []
    for features in (raw, raw * stretch + shift):
        torch.manual_seed(5)
        model = MultiLabelClassifier.from_base(base_model_dir(), LABELS)
        fit_head(config, config.frozen_head(), model, load_tokenizer(base_model_dir()),
                 examples, features=features, windows=windows)
        with torch.no_grad():
            outputs.append(model.head(features))
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-4, rtol=1e-4)
    assert outputs[0].shape == (len(windows), len(LABELS))

    model.save(tmp_path, load_tokenizer(base_model_dir()))
    saved = load_file(tmp_path / "head.safetensors")
    assert saved["hidden.weight"].shape == (config.head_hidden, 384)
    reloaded = Head.from_tensors(saved).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(raw * stretch + shift), outputs[1])


def test_registry_holds_weights_labels_thresholds_metrics_and_card(trained):
    registry, result = trained
    files = {p.relative_to(result.path).as_posix() for p in result.path.rglob("*")
             if p.is_file()}
    assert {"encoder/model.safetensors", "encoder/config.json", "encoder/tokenizer.json",
            "head.safetensors", "labels.json", "thresholds.json", "metrics.json",
            "training.json", "runtime.json", "README.md", "model.int8.onnx"} <= files
    assert not any(f.endswith((".bin", ".pkl", ".pt")) for f in files)  # no pickles
    assert json.loads((result.path / "labels.json").read_text()) == list(LABELS)
    assert set(load_file(result.path / "head.safetensors")) == {"weight", "bias"}
    metrics = json.loads((result.path / "metrics.json").read_text())
    chosen = metrics["chosen"]
    assert chosen["approach"] == "plain" and chosen["split"] == "test"
    assert chosen["n"] == len(tiny_corpus().test) == 10
    assert set(chosen["per_label"]) == set(LABELS) == set(chosen["brier"])
    assert {"precision", "recall", "f1"} <= set(chosen["per_label"]["tech_influence"])
    assert chosen == {"approach": "plain", "split": "test", "brier": chosen["brier"],
                      **metrics["approaches"]["plain"]["test"]}
    assert set(metrics["baselines"]) == {"keyword_rules", "zero_shot"}
    for reports in [*metrics["approaches"].values(), *metrics["baselines"].values()]:
        assert set(reports) == {"validation", "test", "seed_articles"}
    training = json.loads((result.path / "training.json").read_text())
    assert training["data_sha256"] == tiny_corpus().fingerprint()
    assert TrainingConfig.from_dict(training["config"]) == tiny_config()
    assert registry.current() == result.version
    assert [i.version for i in registry.list()] == [result.version]
    card = (result.path / "README.md").read_text()
    assert "## F1 on the test split (10 articles)" in card
    assert "the real corpus's train split" in card


def test_registry_errors_say_how_to_get_a_model(tmp_path):
    with pytest.raises(ModelNotFound, match="newswatch train --promote"):
        Registry(tmp_path).resolve(None)
    with pytest.raises(ModelNotFound, match="neither a model directory nor a version"):
        Registry(tmp_path).resolve("nope")


LONG = " ".join(f"Paragraph {i}: the town council discussed parking rules and bicycle lanes."
                for i in range(40))
DOCS = [
    Document("a", "Foreign fund buys Hokkaido forest", "A Chinese fund bought 300 hectares "
             "of forest and the water rights near a Self-Defense Forces base."),
    Document("b", None, LONG + " Finally, a Singapore investor bought the resort hotel."),
    Document("c", "", ""),
    Document("d", "Ministry cloud", "The ministry moved its systems to Amazon's cloud."),
]


def test_batches_larger_than_one_give_the_same_answers_as_one_by_one(trained):
    predictor = Predictor.load(trained[1].path, runtime="torch")
    together = predictor.predict(DOCS)
    alone = [predictor.predict([d])[0] for d in DOCS]
    assert [p.id for p in together] == ["a", "b", "c", "d"]
    for x, y in zip(together, alone, strict=True):
        assert x.labels == y.labels and x.evidence == y.evidence
        assert all(abs(x.scores[k] - y.scores[k]) < 1e-4 for k in LABELS)


def test_long_documents_are_windowed_and_evidence_is_a_passage_of_the_text(trained):
    predictor = Predictor.load(trained[1].path, runtime="torch")
    from classifiers.windows import make_windows

    windows = make_windows(predictor.tokenizer, [DOCS[1].full_text], 64, 16)
    assert len(windows) > 5  # 40 paragraphs do not fit one 64-token window
    assert windows[0].text in DOCS[1].full_text and windows[-1].text in DOCS[1].full_text
    low = Predictor(predictor.scorer, predictor.tokenizer, LABELS, [0.0] * 3,
                    window_tokens=64, window_stride=16)
    for prediction, document in zip(low.predict(DOCS), DOCS, strict=True):
        assert prediction.labels == list(LABELS)  # threshold 0: every label, with evidence
        assert set(prediction.evidence) == set(LABELS)
        for passage in prediction.evidence.values():
            assert passage in document.full_text
        assert all(0.0 <= s <= 1.0 for s in prediction.scores.values())


def test_the_int8_check_recorded_at_training_is_what_the_int8_path_serves(trained):
    """runtime.json's test-split figures and decision flips are reproduced by loading the
    int8 path in its served batch size, and nearly so in batches of 32 and of 3 (a
    dynamic-int8 graph scales each batch's activations, so batch size matters)."""
    from classifiers.scoring import WINDOWS_PER_BATCH

    corpus = tiny_corpus()
    runtime = json.loads((trained[1].path / "runtime.json").read_text())
    assert (runtime["f1_tolerance"], runtime["label_f1_tolerance"]) == (0.01, 0.02)
    documents = [Document(e.id, e.title, e.text) for e in corpus.test]
    torch_side = Predictor.load(trained[1].path, runtime="torch").predict(documents)
    truth = np.array([e.targets() for e in corpus.test]).astype(bool)
    for batch_size in (WINDOWS_PER_BATCH, 32, 3):
        int8 = Predictor.load(trained[1].path, runtime="onnx", batch_size=batch_size)
        assert int8.thresholds == tuple(runtime["thresholds"][label] for label in LABELS)
        onnx_side = int8.predict(documents)
        flips = sum((label in t.labels) != (label in o.labels)
                    for t, o in zip(torch_side, onnx_side, strict=True) for label in LABELS)
        served = np.array([[label in o.labels for label in LABELS] for o in onnx_side])
        served_f1 = report(LABELS, truth, served.astype(float), [0.5] * 3)["macro_f1"]
        if batch_size == WINDOWS_PER_BATCH:  # as judged at training time
            assert flips == runtime["flips"] and served_f1 == runtime["macro_f1"]["int8"]
        assert flips <= runtime["flips"] + 1  # one window's rounding either side at most
    expected = "onnx" if runtime["passed"] and runtime["int8_s"] < runtime["torch_s"] else "torch"
    assert runtime["default"] == expected == Predictor.load(trained[1].path).runtime


def test_int8_is_the_default_only_when_its_decisions_pass_the_f1_check(trained, tmp_path):
    import shutil

    from classifiers.onnx_export import SplitScores, judge_int8

    rng = np.random.default_rng(0)
    truth = rng.random((40, 3)) < 0.4
    torch_scores = np.clip(truth * 0.6 + rng.random((40, 3)) * 0.5, 0, 1)
    fast = {"torch": 2.0, "int8": 1.0}
    same = SplitScores(truth, torch_scores, torch_scores)
    passed = judge_int8(LABELS, same, same, [0.5] * 3, fast)
    assert (passed["passed"], passed["flips"], passed["default"]) == (True, 0, "onnx")
    assert judge_int8(LABELS, same, same, [0.5] * 3, {"torch": 1.0, "int8": 2.0})["default"] \
        == "torch"  # passed, but slower
    scrambled = np.roll(torch_scores, 7, axis=0)  # int8 output unrelated to the documents
    failed = judge_int8(LABELS, SplitScores(truth, torch_scores, scrambled),
                        SplitScores(truth, torch_scores, scrambled), [0.5] * 3, fast)
    assert not failed["passed"] and failed["default"] == "torch" and failed["flips"] > 0
    assert failed["macro_f1_delta"] < -0.01

    model = tmp_path / "model"
    shutil.copytree(trained[1].path, model)
    recorded = json.loads((model / "runtime.json").read_text())
    thresholds = json.loads((model / "thresholds.json").read_text())
    for default in ("torch", "onnx"):
        (model / "runtime.json").write_text(json.dumps(recorded | {"default": default}))
        predictor = Predictor.load(model)
        assert predictor.runtime == default
        source = recorded["thresholds"] if default == "onnx" else thresholds
        assert predictor.thresholds == tuple(source[label] for label in LABELS)


def test_training_reads_no_validation_or_test_article():
    corpus = tiny_corpus()
    trained_ids = {e.id for e in corpus.training_examples()}
    assert not trained_ids & {e.id for e in corpus.validation + corpus.test}
    assert {e.id for e in corpus.real.train} <= trained_ids


def test_thresholds_and_choice_ignore_the_test_split(tmp_path):
    """Flip every test label: the model, its thresholds and its validation figures stay the
    same to the bit; only the test report moves. Nothing is tuned on the test split."""
    from dataclasses import replace

    from classifiers.training_run import train

    corpus = tiny_corpus()
    flipped_test = [replace(e, labels=tuple(x for x in LABELS if x not in e.labels))
                    for e in corpus.test]
    flipped = replace(corpus, real=replace(corpus.real, test=flipped_test))
    config = tiny_config(approach="auto", head_steps=30)
    first, second = (train(config, c, base_model_dir(), Registry(tmp_path / name),
                           export_onnx=False)
                     for name, c in (("a", corpus), ("b", flipped)))
    assert first.approach == second.approach
    assert first.metrics["chosen"]["thresholds"] == second.metrics["chosen"]["thresholds"]
    for approach in first.metrics["approaches"]:
        assert (first.metrics["approaches"][approach]["validation"]
                == second.metrics["approaches"][approach]["validation"])
    assert first.metrics["chosen"]["per_label"] != second.metrics["chosen"]["per_label"]
    a, b = (load_file(r.path / "head.safetensors") for r in (first, second))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_contrastive_pairs_and_thresholds():
    import random

    examples = tiny_corpus().training_examples()
    pairs = contrastive_pairs(examples, 2, random.Random(1))
    for a, b, target in pairs:
        same = sorted(examples[a].labels) == sorted(examples[b].labels)
        assert target == (1.0 if same else 0.0) and a != b
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.6, 0.2, 0.7], [0.2, 0.4, 0.6]])
    thresholds = tune_thresholds(truth, scores)
    assert report(LABELS, truth, scores, thresholds)["macro_f1"] == 1.0
