"""HTML to clean plain text. Pure functions, shared by the collectors and the replay.

Feed fields arrive as HTML (sanitised by feedparser, but still markup), as
escaped HTML, sometimes as double-escaped HTML. We keep plain text only:
elements that never hold readable text (script, style, ...) are dropped with
their content, the rest is flattened, entities decoded, whitespace folded. If
the result still looks like markup (double escaping), it is flattened again.
"""

from __future__ import annotations

import html
import re

import lxml.html
from lxml import etree

_DROP = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
         "math", "head", "title")
_BLOCK = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
          "section", "article", "pre", "table", "ul", "ol")
_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")


def html_to_text(value: str | None, *, max_passes: int = 3) -> str:
    """Readable text of an HTML fragment (or of plain text, which passes unchanged)."""
    if not value:
        return ""
    text = value
    for _ in range(max_passes):
        if not _MARKUP.search(text) and "&" not in text:
            break
        text = _flatten(text)
    text = _MARKUP.sub(" ", text)  # whatever survived max_passes is not kept as markup
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def _flatten(fragment: str) -> str:
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return html.unescape(fragment)
    etree.strip_elements(root, *_DROP, etree.Comment, etree.ProcessingInstruction,
                         with_tail=False)
    for element in root.iter(*_BLOCK):
        element.tail = "\n" + (element.tail or "")
    return html.unescape(root.text_content())
