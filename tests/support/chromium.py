"""A Selenium driver on Debian's headless Chromium, for the board's browser tests and
benchmark (nothing downloads a browser: pipelines/stack/browser.py finds or installs
Debian's packages)."""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from pipelines.stack.browser import CHROMIUM_FLAGS, ensure_browser


def chromium_driver(profile_dir: Path) -> webdriver.Chrome:
    """Headless Chromium with the project's flags and a fresh profile in ``profile_dir``."""
    found = ensure_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = str(found.chromium)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    return webdriver.Chrome(options=options, service=Service(str(found.driver)))
