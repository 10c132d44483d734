"""The Slack message for an alert: Block Kit, escaped, within Slack's limits.

Everything that came from a feed is escaped for mrkdwn (``&``, ``<``, ``>``), so a
feed cannot ping ``@channel`` or forge a link; the only link is the one we build
from the article URL. Limits: at most 50 blocks, 3,000 characters per section
text, 150 per header. A plain ``text`` is always present for notifications and
clients without Block Kit.
"""

from __future__ import annotations

from typing import Any

from pipelines.schema import Alert

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_EVIDENCE_CHARS = 600


def escape(text: str) -> str:
    """mrkdwn escaping of the three control characters, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(url: str, label: str) -> str:
    if not url.startswith(("http://", "https://")) or any(c in url for c in "<>| \n"):
        return escape(label)
    return f"<{url}|{escape(label).replace('|', '¦')}>"


def _labels_line(alert: Alert) -> str:
    shown = sorted(alert.labels, key=lambda label: -alert.scores.get(label, 0.0))
    return ", ".join(f"{label} {alert.scores.get(label, 0.0):.2f}" for label in shown) or "none"


def alert_blocks(alert: Alert) -> list[dict[str, Any]]:
    """The blocks of one alert: header, title link, source and time, labels, evidence."""
    title = alert.title or alert.url
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                     "text": _cut(f"newswatch: {alert.rule}", MAX_HEADER_CHARS)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(
            f"*{_link(alert.url, title)}*", MAX_SECTION_CHARS)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(
            f"{escape(alert.source)} · {alert.published_at:%Y-%m-%d %H:%M} UTC · "
            f"rule {escape(alert.rule)}", MAX_SECTION_CHARS)}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(
            f"*Labels:* {escape(_labels_line(alert))}", MAX_SECTION_CHARS)}},
    ]
    for label in alert.labels:
        passage = alert.evidence.get(label)
        if passage:
            quoted = "\n".join(f"> {line}" for line in
                               escape(_cut(" ".join(passage.split()),
                                           MAX_EVIDENCE_CHARS)).splitlines())
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(
                f"*Evidence ({label}):*\n{quoted}", MAX_SECTION_CHARS)}})
    return blocks


def alert_text(alert: Alert) -> str:
    """The plain fallback: what notifications and old clients show."""
    return _cut(f"[{alert.rule}] {escape(alert.title or alert.url)} ({escape(alert.source)}) "
                f"{escape(_labels_line(alert))} {escape(alert.url)}", MAX_SECTION_CHARS)


def single_message(alert: Alert) -> dict[str, Any]:
    return {"text": alert_text(alert), "blocks": alert_blocks(alert)[:MAX_BLOCKS],
            "unfurl_links": False, "unfurl_media": False}


def digest_message(rule: str, alerts: list[Alert]) -> dict[str, Any]:
    """One message listing several matches of a rule, cut to Slack's 50 blocks."""
    header = {"type": "header", "text": {"type": "plain_text", "emoji": False, "text": _cut(
        f"newswatch digest: {rule} ({len(alerts)} matches)", MAX_HEADER_CHARS)}}
    blocks: list[dict[str, Any]] = [header]
    room = MAX_BLOCKS - 2
    for alert in alerts[:room]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(
            f"*{_link(alert.url, alert.title or alert.url)}*\n{escape(alert.source)} · "
            f"{escape(_labels_line(alert))}", MAX_SECTION_CHARS)}})
    if len(alerts) > room:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       f"and {len(alerts) - room} more in the alerts index"}]})
    text = f"[{rule}] {len(alerts)} new matches: " + "; ".join(
        escape(a.title or a.url) for a in alerts[:10])
    return {"text": _cut(text, MAX_SECTION_CHARS), "blocks": blocks,
            "unfurl_links": False, "unfurl_media": False}


def digest_text(rule: str, alerts: list[Alert]) -> str:
    """A digest for the console: a heading line, then one line per alert."""
    return "\n".join([f"[{rule}] digest: {len(alerts)} matches",
                      *(f"  {alert_text(a)}" for a in alerts)])
