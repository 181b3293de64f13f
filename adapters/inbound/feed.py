"""RSS and Atom feeds a publisher's leads are listed in: fetched through the private-network
guard, then each entry read into a key and lead fields.

An entry's fields are its own values (title, link, author, published, the summary), any
extension elements feedparser exposes (`<lead:first_name>` → `first_name`), and `Key: Value`
lines of its summary or content, read with the e-mail channel's labels (`First Name`,
`E-mail`, …); an extension element wins over a line, a line over the entry's own value.
This module only reads: storing, mapping and validation belong to the pipeline.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import lxml.html
import msgspec
from lxml import etree

from adapters.inbound.email import labelled_fields
from adapters.inbound.protocol import SourceError
from adapters.outbound.http import HttpClient

MAX_FEED_BYTES = 10 * 1024 * 1024
FEED_TIMEOUT_MS = 30_000
# An item's key goes into an idempotency key (`pull:ID:KEY`, 255 at most): a longer one is
# replaced by its hash.
MAX_KEY = 200
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
# Namespaces feedparser itself knows (Dublin Core, media, iTunes…) keep their own meaning;
# only a feed's own extension elements are lead fields.
_STANDARD_PREFIXES = frozenset(
    {
        "admin", "ag", "atom", "cc", "content", "creativecommons", "dc", "dcterms", "feedburner",
        "geo", "georss", "gml", "itunes", "media", "prism", "psc", "rdf", "rdfs", "slash", "sy",
        "taxo", "thr", "trackback", "wfw", "xhtml", "xlink", "xml",
    }
)  # fmt: skip


class FeedError(SourceError):
    """The feed could not be had or read; `message` says why, for the pull's events."""


class FeedItem(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # the entry's id (guid), else its link, else a hash of its content
    fields: dict[str, Any]


async def fetch_feed(
    client: HttpClient, url: str, *, timeout_ms: int = FEED_TIMEOUT_MS
) -> tuple[bytes, str | None]:
    """The feed's bytes and content type, by one GET through `client` (its guard, its size
    bound); a redirect is not followed, so the guard judges every host the exchange reaches."""
    answer = await client.send("GET", url, {"Accept": ACCEPT}, b"", None, timeout_ms)
    if answer.error is not None:
        if answer.error.startswith("answer over"):
            raise FeedError(f"the feed is over {MAX_FEED_BYTES // (1024 * 1024)} MiB")
        raise FeedError(answer.error)
    assert answer.status is not None
    if 300 <= answer.status < 400:
        raise FeedError(f"the feed answered HTTP {answer.status} (moved): give the pull its new URL")
    if answer.status >= 400:
        raise FeedError(f"the feed answered HTTP {answer.status}")
    return answer.body, answer.content_type


def parse_feed(data: bytes, content_type: str | None = None) -> list[FeedItem]:
    """Every entry of an RSS or Atom document, in the document's order."""
    headers = {"content-type": content_type} if content_type else None
    import feedparser  # loaded by the first feed read, not by every process that starts

    parsed = feedparser.parse(data, response_headers=headers)
    if not parsed.get("version"):
        why = parsed.get("bozo_exception")
        raise FeedError(f"not an RSS or Atom feed{f': {why}' if why else ''}")
    prefixes = {prefix for prefix in parsed.get("namespaces", {}) if prefix} - _STANDARD_PREFIXES
    return [_item(entry, prefixes) for entry in parsed.entries]


def _item(entry: Any, prefixes: set[str]) -> FeedItem:
    fields = _entry_fields(entry, prefixes)
    key = _text(entry.get("id")) or _text(entry.get("link"))
    if not key:
        encoded = msgspec.json.encode(fields, order="sorted")
        key = "sha256:" + hashlib.sha256(encoded).hexdigest()
    elif len(key) > MAX_KEY:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return FeedItem(key=key, fields=fields)


def _entry_fields(entry: Any, prefixes: set[str]) -> dict[str, Any]:
    texts: list[tuple[str, bool]] = []
    summary = entry.get("summary_detail") or {}
    if _text(summary.get("value")):
        texts.append((summary["value"], _is_html(summary.get("type"))))
    for content in entry.get("content") or []:
        if _text(content.get("value")) and content.get("value") != summary.get("value"):
            texts.append((content["value"], _is_html(content.get("type"))))
    lines: dict[str, Any] = {}
    for text, html in texts:
        for name, value in labelled_fields(text, html=html).items():
            lines.setdefault(name, value)
    own: dict[str, Any] = {
        "title": _text(entry.get("title")),
        "link": _text(entry.get("link")),
        "author": _text(entry.get("author")),
        "published": _when(entry.get("published_parsed") or entry.get("updated_parsed"))
        or _text(entry.get("published") or entry.get("updated")),
    }
    if not lines and texts:  # a summary that is no list of fields is kept as it reads
        own["summary"] = _plain(*texts[0])
    extension: dict[str, Any] = {}
    for key, value in entry.items():
        prefix, _, name = str(key).partition("_")
        if prefix in prefixes and name and _text(value):
            extension[name] = value.strip()
    fields = {name: value for name, value in own.items() if value}
    fields.update(lines)
    fields.update(extension)
    return fields


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _is_html(media_type: Any) -> bool:
    return media_type in ("text/html", "application/xhtml+xml")


def _when(parsed: Any) -> str | None:
    """feedparser's UTC struct_time as ISO 8601."""
    if not isinstance(parsed, time.struct_time):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)


def _plain(text: str, html: bool) -> str:
    if not html:
        return text.strip()
    try:
        return " ".join(lxml.html.fromstring(text).text_content().split())
    except (etree.LxmlError, ValueError):
        return text.strip()
