"""Logging configuration, done once, by the CLI."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

from pipelines.console import err_console


def configure_logging(level: str = "INFO") -> None:
    """One handler on stderr; libraries' chatter capped at WARNING."""
    logging.basicConfig(
        level=level.upper(),
        format="%(name)s %(message)s",
        datefmt="%H:%M:%S",
        handlers=[RichHandler(console=err_console, show_path=False, markup=False)],
        force=True,
    )
    for noisy in ("elastic_transport", "httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
