"""Logging configuration, done once, by the CLI."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

from pipelines.console import err_console


class _DropImportNoise(logging.Filter):
    """Beam warns at import that Google Cloud client libraries are missing; newswatch
    does not use them, and a warning on every start would teach users to ignore warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and "apitools not found" in record.getMessage())


def configure_logging(level: str = "INFO") -> None:
    """One handler on stderr; libraries' chatter capped at WARNING."""
    logging.basicConfig(
        level=level.upper(),
        format="%(name)s %(message)s",
        datefmt="%H:%M:%S",
        handlers=[RichHandler(console=err_console, show_path=False, markup=False)],
        force=True,
    )
    # Beam announces at WARNING that it stops the runner process it started.
    logging.getLogger("apache_beam.utils.subprocess_server").setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropImportNoise())
    for noisy in ("elastic_transport", "httpx", "httpcore", "urllib3", "apache_beam"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
