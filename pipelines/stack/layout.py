"""Where a local server keeps its files under the state dir: one layout for both servers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import Settings
from pipelines.stack.versions import StackVersions


@dataclass(frozen=True)
class ServerLayout:
    """``STATE_DIR/<name>/{data,logs}`` and ``STATE_DIR/<name>.pid``.

    The pid file sits beside the server's folder, not in it: the Elasticsearch
    folder belongs to its unprivileged user, the pid file to whoever started it.
    """

    settings: Settings
    versions: StackVersions
    name: str

    @property
    def home(self) -> Path:
        return self.settings.state_dir / self.name

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pidfile(self) -> Path:
        return self.settings.state_dir / f"{self.name}.pid"

    @property
    def stdout_log(self) -> Path:
        return self.log_dir / "stdout.log"
