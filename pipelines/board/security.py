"""The board's security rules, as small pure functions (docs/adr/0005-analyst-board.md).

- Exposure: loopback by default; bound to any other address the board refuses to
  start without ``board_token``, and every request must then carry it (a cookie set
  by the login form, or ``Authorization: Bearer``).
- CSRF: a state-changing request carries ``X-CSRF-Token``, an HMAC of the browser's
  session cookie under a secret of this process. Another site can make the browser
  send the cookie but cannot read the page's token, nor set a custom header without
  a CORS preflight the board never answers.
- DNS rebinding: on loopback only loopback host names are accepted, so a hostile
  page whose name resolves to 127.0.0.1 cannot read the board.
- Content-Security-Policy without inline script: markup that slips through would
  still not run.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from pydantic import SecretStr

from pipelines.errors import ConfigError

SESSION_COOKIE = "nw_session"
AUTH_COOKIE = "nw_auth"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: SecretStr | None) -> None:
    """Refuse to serve beyond this machine without a token: the board shows every
    article and writes labels and alert rules."""
    if is_loopback(host):
        return
    if token is None or len(token.get_secret_value()) < 16:
        raise ConfigError(
            f"the board would listen on {host!r}, beyond this machine, without a token: "
            "set NEWSWATCH_BOARD_TOKEN to a secret of at least 16 characters (e.g. "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`), or keep "
            "NEWSWATCH_BOARD_HOST=127.0.0.1")


def host_allowed(host_header: str, bound_host: str) -> bool:
    """The request's Host names this board: on loopback, a loopback name (no rebinding)."""
    if not is_loopback(bound_host):
        return True  # reachable by name from elsewhere; the token guards it
    value = host_header.strip()
    name = value.split("]", 1)[0] + "]" if value.startswith("[") else value.split(":", 1)[0]
    return bool(name) and is_loopback(name)


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def new_session() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(secret: bytes, session: str) -> str:
    """The token a page embeds for its session's state-changing requests."""
    return hmac.new(secret, f"csrf:{session}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, session: str | None, token: str | None) -> bool:
    if not session or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, session), token)


def token_valid(expected: SecretStr | None, given: str | None) -> bool:
    """The board's token matches (constant time); no token configured means loopback."""
    if expected is None:
        return True
    if not given:
        return False
    return hmac.compare_digest(expected.get_secret_value().encode(), given.encode())


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None
