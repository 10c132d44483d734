"""The Prism runner binary: built once from the Go module proxy into the cache dir.

Beam's Python SDK would download Prism from GitHub releases, which this
project cannot rely on (docs/adr/0004-stream-runner.md); the Go module proxy
serves the same source at the same version, and the Go toolchain builds it in a
minute or two, once. The binary is named by the Beam version, so a version bump
builds a new one and never runs a mismatched runner.

One line differs from upstream: Prism's job service listens on every interface
(``net.Listen("tcp", ":port")``, with no flag to choose), and it accepts pipelines,
that is code to run, from whoever reaches it. The build binds it to 127.0.0.1,
the only address the Python SDK ever dials. The line is replaced only where it is
exactly as expected; any other source stops the build with a clear error instead of
building a runner that listens everywhere.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

from pipelines.errors import DownloadError
from pipelines.settings import Settings
from pipelines.stack.versions import load_versions

log = logging.getLogger(__name__)

BEAM_MODULE = "github.com/apache/beam/sdks/v2"
PRISM_MAIN = "./go/cmd/prism"
JOB_SERVER_SOURCE = "go/pkg/beam/runners/prism/internal/jobservices/server.go"
LISTEN_EVERYWHERE = 'net.Listen("tcp", fmt.Sprintf(":%d", port))'
LISTEN_LOOPBACK = 'net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))'


def prism_path(settings: Settings) -> Path:
    version = load_versions(settings.deploy_dir).beam
    return settings.cache_dir / f"prism-{version}-loopback" / "prism"


def bind_to_loopback(source: str) -> str:
    """The job server's source with its listener on 127.0.0.1 (see the module docstring)."""
    if source.count(LISTEN_EVERYWHERE) != 1:
        raise DownloadError(
            f"Prism's {JOB_SERVER_SOURCE} does not hold the listen call newswatch binds to "
            f"loopback ({LISTEN_EVERYWHERE}): check the pinned BEAM_VERSION in "
            "deploy/versions.env against pipelines/stack/prism.py")
    return source.replace(LISTEN_EVERYWHERE, LISTEN_LOOPBACK)


def _go(go: str, args: list[str], cwd: Path | None = None) -> str:
    try:
        # The environment is inherited (GOPROXY, GOMODCACHE...); go.sum pins the sources.
        result = subprocess.run(["env", "GOFLAGS=-mod=mod", go, *args], cwd=cwd,
                                capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DownloadError(f"`go {args[0]}` for Prism timed out after 30 minutes") from exc
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip()[-1500:]
        raise DownloadError(f"`go {' '.join(args)}` for Prism failed "
                            f"(exit {result.returncode}):\n{detail}")
    return result.stdout


def ensure_prism(settings: Settings) -> Path:
    """The Prism binary for the pinned Beam version, built (once) if missing."""
    target = prism_path(settings)
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise DownloadError("Go is needed once to build Beam's Prism runner from the Go module "
                            "proxy: install Go 1.26+ (https://go.dev/dl/) or put `go` on PATH")
    version = load_versions(settings.deploy_dir).beam
    log.info("building the Prism runner %s from the Go module proxy (once, a minute or two)",
             version)
    module = json.loads(_go(go, ["mod", "download", "-json", f"{BEAM_MODULE}@v{version}"]))
    source = Path(module["Dir"])
    staging = target.parent.with_name(target.parent.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    src = staging / "src"
    src.mkdir(parents=True)
    for name in ("go.mod", "go.sum"):
        shutil.copyfile(source / name, src / name)
    shutil.copytree(source / "go", src / "go", copy_function=shutil.copyfile)
    server = src / JOB_SERVER_SOURCE
    server.write_text(bind_to_loopback(server.read_text(encoding="utf-8")), encoding="utf-8")
    _go(go, ["build", "-trimpath", "-o", str(staging / "prism"), PRISM_MAIN], cwd=src)
    target.parent.mkdir(parents=True, exist_ok=True)
    (staging / "prism").replace(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target
