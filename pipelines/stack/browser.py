"""Debian's Chromium and its driver, for the board's browser tests.

The local stack fetches its servers from the registries it is allowed to use; the
browser is the same: Debian's ``chromium`` and ``chromium-driver`` packages through
``apt-get`` when they are missing. Nothing downloads a browser build of its own
(no Selenium Manager, no Playwright browsers): the test drives the system binary.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import StackError

log = logging.getLogger(__name__)

PACKAGES = ("chromium", "chromium-driver")
# Flags for a quiet, reproducible headless browser that contacts nothing by itself.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000")


@dataclass(frozen=True)
class Browser:
    """Where the system Chromium and its matching chromedriver are."""

    chromium: Path
    driver: Path


def find_browser() -> Browser | None:
    """The installed Chromium and driver, or None when either is missing."""
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        return None
    return Browser(Path(chromium), Path(driver))


def ensure_browser(install: bool = True) -> Browser:
    """Chromium and chromedriver, installed with apt-get when missing (root only: an
    unprivileged user gets the command to run instead of a sudo prompt in a test run)."""
    found = find_browser()
    if found is not None:
        return found
    command = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    if not install or not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise StackError("the board's browser tests need Debian's Chromium: run "
                         f"`sudo apt-get update && sudo {' '.join(command)}`")
    log.info("installing %s with apt-get", " ".join(PACKAGES))
    for step in (["apt-get", "update"], command):
        result = subprocess.run(step, capture_output=True, text=True, check=False,
                                timeout=900, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise StackError(f"`{' '.join(step)}` failed: {result.stderr.strip()[-500:]}")
    found = find_browser()
    if found is None:
        raise StackError(f"apt-get installed {' '.join(PACKAGES)} but chromium or "
                         "chromedriver is still not on PATH")
    return found
