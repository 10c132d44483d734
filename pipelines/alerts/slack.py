"""Posting to a Slack incoming webhook, as Slack asks to be treated.

About one message per second per webhook; ``429`` carries ``Retry-After``
(honoured); ``5xx`` is retried with backoff; any other ``4xx`` (a revoked
webhook, a malformed payload) is permanent and raised as ``SlackRejected``, so
the caller dead-letters the alert instead of retrying forever. The webhook URL
is a secret: it is never logged or put in an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from pipelines.errors import NewswatchError

log = logging.getLogger(__name__)


class SlackRejected(NewswatchError):
    """Slack refused the message for good (a 4xx other than 429)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"Slack refused the message: HTTP {status} {body[:200]}")
        self.status = status
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.body))


class SlackUnavailable(NewswatchError):
    """Slack kept failing (5xx, 429, network) past the retry budget; try again later."""


class SlackWebhook:
    def __init__(self, url: SecretStr, *, min_interval_s: float = 1.0, max_attempts: int = 6,
                 max_backoff_s: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 timeout_s: float = 10.0) -> None:
        self._url = url
        self._client = httpx.Client(timeout=timeout_s)
        self.min_interval_s = min_interval_s
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._last_post = 0.0

    def post(self, payload: dict[str, Any]) -> None:
        """Deliver one message or raise SlackRejected / SlackUnavailable."""
        backoff = 1.0
        for attempt in range(1, self.max_attempts + 1):
            wait = self._last_post + self.min_interval_s - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            self._last_post = time.monotonic()
            try:
                response = self._client.post(self._url.get_secret_value(), json=payload)
            except httpx.HTTPError as exc:
                log.warning("slack post failed attempt=%d error=%s", attempt, type(exc).__name__)
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if response.status_code == 200:
                return
            if response.status_code == 429:
                retry_after = _seconds(response.headers.get("Retry-After"), backoff)
                log.warning("slack rate limited attempt=%d retry_after_s=%.1f", attempt,
                            retry_after)
                self._sleep(min(retry_after, self.max_backoff_s * 4))
                continue
            if response.status_code >= 500:
                log.warning("slack server error attempt=%d status=%d", attempt,
                            response.status_code)
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            raise SlackRejected(response.status_code, response.text)
        raise SlackUnavailable(f"Slack did not take the message after {self.max_attempts} "
                               "attempts (rate limits or server errors)")

    def close(self) -> None:
        self._client.close()


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
