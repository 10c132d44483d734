"""Reading the YAML files users edit (feeds, alert rules), with errors naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import ConfigError


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document; a missing file or bad YAML is a ConfigError naming ``what``."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc
