"""Errors that carry a message meant for the user.

The CLI prints these without a stack trace and exits non-zero. They keep their
arguments in ``args`` so they survive pickling (Beam ships exceptions between
processes, and a dead-letter record stores them).
"""

from __future__ import annotations


class NewswatchError(Exception):
    """Base class: ``str(error)`` is a complete sentence a user can act on."""

    exit_code = 1


class ConfigError(NewswatchError):
    """A setting, config file or command-line value is wrong."""

    exit_code = 2


class StackError(NewswatchError):
    """The local Kafka/Elasticsearch stack could not be fetched, started or stopped."""


class DownloadError(StackError):
    """A server distribution could not be fetched from Maven Central."""
