"""Following the promoted model: a running pipeline switches when a new one is promoted.

The registry's ``current`` pointer is replaced atomically by ``newswatch models
promote``; a worker re-reads it at most every ``check_every_s`` seconds, between
batches, loads the new model and uses it from the next batch on. A batch is
classified by exactly one model, so every document carries the version that
classified it, and nothing is dropped or classified twice by the switch. A model
that fails to load, for whatever reason its files give, or whose labels are not
the ones the pipeline writes, is logged once and the current one stays in use.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError

from classifiers.labels import LABELS
from classifiers.predictor import Predictor
from classifiers.registry import Registry

log = logging.getLogger(__name__)

# What a broken or foreign model directory raises while loading: missing or unreadable
# files, bad JSON, a corrupt safetensors file, tensors of the wrong shape.
LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError)


class ModelRefused(ValueError):
    """A model that loads but does not fit the pipeline (other labels than it writes)."""


def check_labels(model_dir: Path, expected: tuple[str, ...] = LABELS) -> None:
    """Refuse, before loading anything, a model whose labels are not the pipeline's."""
    labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    if labels != list(expected):
        raise ModelRefused(f"its labels {labels} are not the pipeline's {list(expected)}")


class PromotedVersion:
    """The registry's current version, read at most every ``check_every_s`` seconds."""

    def __init__(self, registry_root: Path, check_every_s: float = 2.0) -> None:
        self.registry = Registry(registry_root)
        self.check_every_s = check_every_s
        self._version: str | None = None
        self._checked = float("-inf")

    def get(self) -> str | None:
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            self._version = self.registry.current()
        return self._version


class ModelSlot:
    """The model a worker classifies with: fixed, or following the promoted one."""

    def __init__(self, predictor: Predictor, load: Callable[[Path], Predictor],
                 promoted: PromotedVersion | None = None) -> None:
        self._predictor = predictor
        self._load = load
        self._promoted = promoted
        self._refused: set[str] = set()
        self._lock = threading.Lock()

    def get(self) -> Predictor:
        if self._promoted is None:
            return self._predictor
        with self._lock:
            version = self._promoted.get()
            if version and version != self._predictor.version and version not in self._refused:
                self._switch(version)
            return self._predictor

    def _switch(self, version: str) -> None:
        started = time.monotonic()
        try:
            predictor = self._load(self._promoted.registry.root / version)  # type: ignore[union-attr]
        except LOAD_ERRORS as exc:
            self._refused.add(version)
            log.error("promoted model %s does not load (%s: %s); staying on %s", version,
                      type(exc).__name__, exc, self._predictor.version)
            return
        log.info("model switched from=%s to=%s load_s=%.1f", self._predictor.version, version,
                 time.monotonic() - started)
        self._predictor = predictor
