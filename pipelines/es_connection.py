"""The one place that builds Elasticsearch clients: from the settings, with one policy.

Every stage (pipeline sink and repeat check, alerter, board, admin commands) gets
its client from an ``ElasticsearchConnection``, so that the deployment's
credentials (API key, or user and password), its CA certificate and one retry
policy apply everywhere. The connection is a frozen, picklable value that Beam
ships to workers; each worker builds its own client.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elasticsearch import Elasticsearch
from pydantic import SecretStr

from pipelines.redact import redact_url

if TYPE_CHECKING:
    from pipelines.settings import Settings

# The one retry policy of the transport: a request that times out or finds the node
# away is retried this many times before the caller sees the error. Callers that
# must never give up (the sink) loop around this with their own back-off.
MAX_RETRIES = 3


@dataclass(frozen=True)
class ElasticsearchConnection:
    """Where the cluster is and how to authenticate."""

    url: str
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    request_timeout_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ElasticsearchConnection:
        return cls(url=settings.es_url, api_key=settings.es_api_key,
                   username=settings.es_username, password=settings.es_password,
                   ca_certs=settings.es_ca_certs,
                   request_timeout_s=settings.es_request_timeout_s)

    @property
    def shown_url(self) -> str:
        """The URL for logs and messages: credentials inside it are redacted."""
        return redact_url(self.url)

    def __str__(self) -> str:
        return self.shown_url

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"request_timeout": self.request_timeout_s,
                                   "retry_on_timeout": True, "max_retries": MAX_RETRIES}
        if self.api_key is not None:
            options["api_key"] = self.api_key.get_secret_value()
        elif self.username is not None:
            password = self.password.get_secret_value() if self.password else ""
            options["basic_auth"] = (self.username, password)
        if self.ca_certs is not None:
            options["ca_certs"] = str(self.ca_certs)
        return options

    def client(self, max_retries: int = MAX_RETRIES) -> Elasticsearch:
        """A client with the one policy. ``max_retries=0`` is for callers that wrap every
        request in a back-off of their own (the sink's ``while_reachable``)."""
        return Elasticsearch(self.url, **{**self.client_options(), "max_retries": max_retries})
