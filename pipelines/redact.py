"""Credentials out of everything shown: URLs with a user[:password] part, wherever they are.

A feed or server URL may carry credentials (``https://user:secret@host/feed``, or a
token as the user). Every URL that is logged, printed, stored in a document or a
dead letter goes through ``redact_url`` (one URL) or ``redact_text`` (any text that
may hold URLs): the whole user-info part becomes ``***``.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s?#]+@")


def redact_text(text: str) -> str:
    """The text with the user-info of every ``scheme://user:password@`` replaced by ***."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)


def redact_url(url: str) -> str:
    return redact_text(url)
