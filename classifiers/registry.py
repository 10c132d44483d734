"""The model registry: ``<state dir>/models/<version>/`` and a ``current`` pointer.

Weights never go into git; the registry lives in the state dir.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class ModelNotFound(LookupError):
    """No such model (or none trained yet); the message says how to get one."""


@dataclass(frozen=True)
class ModelInfo:
    version: str
    path: Path
    created_at: str
    approach: str
    macro_f1: float | None
    runtime: str
    current: bool


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def new_version(self, data_fingerprint: str) -> tuple[str, Path]:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        version = f"{stamp}-{data_fingerprint[:8]}"
        path = self.root / version
        suffix = 1
        while path.exists():
            suffix += 1
            path = self.root / f"{version}-{suffix}"
        return path.name, path

    def current(self) -> str | None:
        pointer = self.root / "current"
        return pointer.read_text().strip() or None if pointer.exists() else None

    def promote(self, version: str) -> None:
        if not (self.root / version / "labels.json").exists():
            raise ModelNotFound(f"no model {version!r} in {self.root}")
        temporary = self.root / "current.tmp"
        temporary.write_text(version + "\n")
        os.replace(temporary, self.root / "current")  # atomic: readers see old or new
        with (self.root / "promotions.log").open("a", encoding="utf-8") as history:
            history.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {version}\n")

    def previous(self) -> str | None:
        """The model promoted before the current one (that still exists), for a rollback."""
        history = self.root / "promotions.log"
        if not history.exists():
            return None
        current = self.current()
        versions = [line.split()[-1] for line in history.read_text().splitlines() if line.strip()]
        while versions and versions[-1] == current:
            versions.pop()
        for version in reversed(versions):
            if version != current and (self.root / version / "labels.json").exists():
                return version
        return None

    def resolve(self, spec: str | None) -> Path:
        """A model directory from a path, a version, or (None) the current model."""
        if spec:
            as_path = Path(spec)
            if (as_path / "labels.json").exists():
                return as_path
            if (self.root / spec / "labels.json").exists():
                return self.root / spec
            raise ModelNotFound(f"{spec!r} is neither a model directory nor a version in "
                                f"{self.root} (see `newswatch models list`)")
        current = self.current()
        if current is None:
            raise ModelNotFound("no model has been trained yet: run `newswatch train --promote` "
                                f"(the registry is {self.root})")
        return self.root / current

    def list(self) -> list[ModelInfo]:
        current = self.current()
        infos = []
        for path in sorted(self.root.glob("*/training.json")):
            directory = path.parent
            training = json.loads(path.read_text())
            metrics_path = directory / "metrics.json"
            metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
            runtime_path = directory / "runtime.json"
            runtime = json.loads(runtime_path.read_text()) if runtime_path.exists() else {}
            chosen = metrics.get("chosen", {})
            infos.append(ModelInfo(directory.name, directory, training.get("created_at", ""),
                                   training.get("approach", "?"), chosen.get("macro_f1"),
                                   runtime.get("default", "torch"), directory.name == current))
        return infos
