"""The first model of `newswatch run`: a head on the frozen encoder, trained on the shipped
corpus's train split. Trained here on a subset; its time is reported, not asserted
(machines are shared; bench/ and the issue note carry the full-corpus figure)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModel

from classifiers.base_model import base_model_dir
from classifiers.labels import LABELS
from classifiers.predictor import Document, Predictor
from classifiers.registry import Registry
from classifiers.training_run import train
from pipelines.run_local import FIRST_MODEL
from tests.classifier_fixtures import tiny_config, tiny_corpus


def test_first_model_is_a_head_on_the_unchanged_encoder_judged_on_test(tmp_path, capsys):
    assert FIRST_MODEL[:2] == ["--approach", "head"]
    corpus = tiny_corpus()
    started = time.perf_counter()
    result = train(replace(tiny_config(), approach="head", head_steps=60), corpus,
                   base_model_dir(), Registry(tmp_path), export_onnx=False)
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nfirst model (head) on {len(corpus.training_examples())} training examples: "
              f"{seconds:.1f} s")

    assert result.approach == "head"
    base = AutoModel.from_pretrained(base_model_dir(), local_files_only=True).state_dict()
    saved = load_file(result.path / "encoder" / "model.safetensors")
    assert all(torch.equal(saved[k], base[k]) for k in saved)  # the encoder is frozen
    head = load_file(result.path / "head.safetensors")  # a hidden layer, then the labels
    assert head["hidden.weight"].shape == (256, 384) and head["weight"].shape == (3, 256)
    training = json.loads((result.path / "training.json").read_text())
    assert training["config"]["window_tokens"] == tiny_config().head_window_tokens

    predictor = Predictor.load(result.path, runtime="torch")
    predictions = predictor.predict([Document(e.id, e.title, e.text) for e in corpus.test])
    labels = np.array([[label in p.labels for label in LABELS] for p in predictions])
    truth = np.array([[label in e.labels for label in LABELS] for e in corpus.test])
    recorded = json.loads((result.path / "metrics.json").read_text())["chosen"]
    for j, label in enumerate(LABELS):  # the recorded test figures are what it serves
        tp = int((labels[:, j] & truth[:, j]).sum())
        fp = int((labels[:, j] & ~truth[:, j]).sum())
        assert (recorded["per_label"][label]["tp"], recorded["per_label"][label]["fp"]) == (tp, fp)
