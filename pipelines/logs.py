"""Logging configuration, done once, by the CLI."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

from pipelines.console import err_console
from pipelines.redact import redact_text


class _DropImportNoise(logging.Filter):
    """Beam warns at import that Google Cloud client libraries are missing; newswatch
    does not use them, and a warning on every start would teach users to ignore warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and "apitools not found" in record.getMessage())


class _RedactCredentials(logging.Filter):
    """No URL credentials in any log line, whichever library or stage wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg}\n{redact_text(text)}"
        return True


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
    # The Elasticsearch transport warns each time a request finds the node away (twice a
    # second while `stack up` waits for it to boot); newswatch's own retry loops and
    # health checks report a store that is away, once per attempt and with context.
    logging.getLogger("elastic_transport.node_pool").setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropImportNoise())
        handler.addFilter(_RedactCredentials())
    for noisy in ("elastic_transport", "httpx", "httpcore", "urllib3", "apache_beam"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
