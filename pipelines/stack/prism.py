"""The Prism runner binary: built once from the Go module proxy into the cache dir.

Beam's Python SDK would download Prism from GitHub releases, which this
project cannot rely on (docs/adr/0004-stream-runner.md); the Go module proxy
serves the same source at the same version, and ``go install`` builds it in a
few minutes, once. The binary is named by the Beam version, so a version bump
builds a new one and never runs a mismatched runner.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from pipelines.errors import DownloadError
from pipelines.settings import Settings
from pipelines.stack.versions import load_versions

log = logging.getLogger(__name__)

PRISM_PACKAGE = "github.com/apache/beam/sdks/v2/go/cmd/prism"


def prism_path(settings: Settings) -> Path:
    version = load_versions(settings.deploy_dir).beam
    return settings.cache_dir / f"prism-{version}" / "prism"


def ensure_prism(settings: Settings) -> Path:
    """The Prism binary for the pinned Beam version, built with ``go install`` if missing."""
    target = prism_path(settings)
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise DownloadError("Go is needed once to build Beam's Prism runner from the Go module "
                            "proxy: install Go 1.24+ (https://go.dev/dl/) or put `go` on PATH")
    version = load_versions(settings.deploy_dir).beam
    staging = target.parent.with_name(target.parent.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    command = ["env", f"GOBIN={staging}", "GOFLAGS=-mod=mod", go, "install",
               f"{PRISM_PACKAGE}@v{version}"]
    log.info("building the Prism runner %s (once, a few minutes): %s", version, " ".join(command))
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                                check=False)
    except subprocess.TimeoutExpired as exc:
        raise DownloadError("building Prism timed out after 30 minutes") from exc
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip()[-1500:]
        raise DownloadError(f"building Prism {version} with go install failed "
                            f"(exit {result.returncode}):\n{detail}")
    built = staging / "prism"
    target.parent.mkdir(parents=True, exist_ok=True)
    built.replace(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target
