"""Fetching feed bytes over HTTP: ours, so that feedparser never touches the network.

One request per hop, redirects followed by hand so that every hop passes the
SSRF guard; conditional GET; a cap on body size, on redirects and on the whole
fetch (a server that trickles bytes forever); ``Retry-After`` read on 429/503.
Every failure becomes a ``FetchResult`` with a readable error, never an
exception that could stop the other feeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import ipaddress
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC
from typing import Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from pipelines.collect.decompress import BodyTooLarge, Decoder, UnsupportedEncoding
from pipelines.collect.feeds_config import Limits
from pipelines.collect.ssrf import BlockedAddress, pick_address

FetchStatus = Literal["ok", "not_modified", "gone", "error"]
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")


@dataclass(frozen=True)
class FetchResult:
    status: FetchStatus
    url: str
    final_url: str
    http_status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    retry_after_s: float | None = None
    permanent_redirect: str | None = None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _pinned(url: str, address: str) -> str:
    """The URL with its host replaced by the validated address."""
    parts = urlsplit(url)
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class Fetcher:
    """Fetches URLs under the limits.

    Requests go to the validated IP address with the host name in the Host header
    and in TLS's SNI, so httpx's pool, keyed by scheme, address and port, would hand
    a TLS connection negotiated for one host name to another name on the same
    address. Each (scheme, host name, port) gets a client of its own instead.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._clients: dict[tuple[str, str, int], httpx.AsyncClient] = {}

    def client_for(self, scheme: str, hostname: str, port: int) -> httpx.AsyncClient:
        key = (scheme, hostname.lower(), port)
        if key not in self._clients:
            self._clients[key] = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.limits.read_timeout_s,
                                      connect=self.limits.connect_timeout_s),
                headers={"User-Agent": self.limits.user_agent},
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=4),
            )
        return self._clients[key]

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def fetch(self, url: str, *, allow_private: bool, etag: str | None = None,
                    last_modified: str | None = None, accept: str = ACCEPT,
                    total_timeout_s: float | None = None) -> FetchResult:
        total = total_timeout_s or self.limits.total_timeout_s
        try:
            async with asyncio.timeout(total):
                return await self._follow(url, allow_private, etag, last_modified, accept)
        except TimeoutError:
            return FetchResult("error", url, url, error=f"no complete answer within {total:g}s "
                               "(server too slow or trickling)")

    async def _follow(self, url: str, allow_private: bool, etag: str | None,
                      last_modified: str | None, accept: str) -> FetchResult:
        current, permanent = url, True
        visited: list[str] = []
        for _hop in range(self.limits.max_redirects + 1):
            if current in visited:
                return FetchResult("error", url, current, error=f"redirect loop at {current}")
            visited.append(current)
            headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
            if current == url:  # validators belong to the URL they were issued for
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            result = await self._one_hop(url, current, allow_private, headers)
            if isinstance(result, FetchResult):
                if result.status in ("ok", "not_modified") and permanent and current != url:
                    return dataclasses.replace(result, permanent_redirect=current)
                return result
            status, location = result
            permanent = permanent and status in (301, 308)
            try:
                current = urljoin(current, location)
                urlsplit(current).port  # noqa: B018 - raises on a port out of range
            except ValueError as exc:
                return FetchResult("error", url, current, status,
                                   error=f"HTTP {status} to an unusable Location "
                                         f"{location[:200]!r}: {exc}")
        return FetchResult("error", url, current,
                           error=f"more than {self.limits.max_redirects} redirects")

    async def _one_hop(self, url: str, current: str, allow_private: bool,
                       headers: dict[str, str]) -> FetchResult | tuple[int, str]:
        parts = urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return FetchResult("error", url, current, error=f"not an http(s) URL: {current}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        where = f"{parts.hostname}:{port}"  # never the user-info part of the URL
        try:
            address = await pick_address(parts.hostname, port, allow_private)
        except BlockedAddress as exc:
            return FetchResult("error", url, current, error=str(exc))
        except OSError as exc:
            return FetchResult("error", url, current,
                               error=f"DNS lookup of {parts.hostname} failed: {exc}")
        headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
        client = self.client_for(parts.scheme, parts.hostname, port)
        request = client.build_request(
            "GET", _pinned(current, address), headers=headers,
            extensions={"sni_hostname": parts.hostname},
        )
        try:
            try:
                response = await client.send(request, stream=True)
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
                # A kept-alive connection the server had already closed: one fresh try.
                response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            return FetchResult("error", url, current, error=f"timed out talking to {where}")
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            return FetchResult("error", url, current,
                               error=f"connection to {where} failed: {reason}")
        try:
            return await self._read(url, current, response)
        finally:
            await response.aclose()

    async def _read(self, url: str, current: str,
                    response: httpx.Response) -> FetchResult | tuple[int, str]:
        code = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        if code in (301, 302, 303, 307, 308):
            location = response.headers.get("location")
            if not location:
                return FetchResult("error", url, current, code,
                                   error=f"HTTP {code} without Location")
            return code, location
        if code == 304:
            return FetchResult("not_modified", url, current, code, headers=headers)
        if code == 410:
            return FetchResult("gone", url, current, code, headers=headers,
                               error="HTTP 410 Gone: the feed was removed; polling stopped")
        if code in (429, 503):
            wait = parse_retry_after(response.headers.get("retry-after"))
            return FetchResult("error", url, current, code, headers=headers, retry_after_s=wait,
                               error=f"HTTP {code}" + (f", retry after {wait:g}s" if wait else ""))
        if code >= 400:
            return FetchResult("error", url, current, code, headers=headers, error=f"HTTP {code}")
        body = bytearray()
        try:
            decoder = Decoder(response.headers.get("content-encoding"),
                              self.limits.max_body_bytes)
            async for chunk in response.aiter_raw():
                body += decoder.feed(chunk)
            body += decoder.finish()
        except (BodyTooLarge, UnsupportedEncoding) as exc:
            return FetchResult("error", url, current, code, error=str(exc))
        except zlib.error as exc:
            return FetchResult("error", url, current, code,
                               error=f"corrupt {response.headers.get('content-encoding')} "
                                     f"body: {exc}")
        except httpx.TimeoutException:
            return FetchResult("error", url, current, code, error="timed out reading the body")
        except httpx.HTTPError as exc:
            return FetchResult("error", url, current, code,
                               error=f"reading the body failed: {exc or type(exc).__name__}")
        return FetchResult("ok", url, current, code, bytes(body), headers)

