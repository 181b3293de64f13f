"""Feed entries read into keys and lead fields: RSS and Atom, extension elements, `Key: Value`
summaries, and the keys that make each entry taken once."""

from __future__ import annotations

import pytest

from adapters.inbound.feed import MAX_KEY, FeedError, parse_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:lead="https://leads.example/ns" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
  <channel>
    <title>Acme leads</title>
    <item>
      <title>New quote request</title>
      <guid isPermaLink="false">lead-1001</guid>
      <link>https://acme.example/leads/1001</link>
      <pubDate>Sat, 05 Dec 2026 10:00:00 GMT</pubDate>
      <dc:creator>Web form</dc:creator>
      <slash:comments>3</slash:comments>
      <description>First Name: Ada&lt;br/&gt;E-mail: ada@example.com&lt;br/&gt;Zip Code: 94105</description>
      <lead:first_name>Augusta</lead:first_name>
      <lead:vehicle_year>2019</lead:vehicle_year>
    </item>
    <item>
      <title>No guid here</title>
      <link>https://acme.example/leads/1002</link>
      <description>Thanks for your interest in our products.</description>
    </item>
    <item>
      <title>Neither guid nor link</title>
      <description>Phone: 415 555 0100</description>
    </item>
  </channel>
</rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:x="urn:acme:lead">
  <title>Acme</title><id>urn:acme:feed</id><updated>2026-12-05T10:00:00Z</updated>
  <entry>
    <id>urn:acme:lead:7</id>
    <title>Lead 7</title>
    <updated>2026-12-05T09:30:00Z</updated>
    <author><name>Form 12</name></author>
    <content type="text">Last Name: Byron
Phone Number: (415) 555-0199</content>
    <x:zip>10001</x:zip>
  </entry>
</feed>"""


def test_an_rss_item_gives_its_own_values_its_extension_elements_and_its_summary_lines() -> None:
    first, *_ = parse_feed(RSS, "application/rss+xml")
    assert first.key == "lead-1001"
    assert first.fields == {
        "title": "New quote request",
        "link": "https://acme.example/leads/1001",
        "author": "Web form",
        "published": "2026-12-05T10:00:00Z",
        # The summary's lines, the extension element winning over the line it repeats.
        "first_name": "Augusta",
        "email": "ada@example.com",
        "zip": "94105",
        "vehicle_year": "2019",
    }


def test_a_summary_without_labelled_lines_is_kept_as_text() -> None:
    second = parse_feed(RSS)[1]
    assert second.fields["summary"] == "Thanks for your interest in our products."


def test_an_item_is_known_by_its_guid_else_its_link_else_its_content() -> None:
    first, second, third = parse_feed(RSS)
    assert (first.key, second.key) == ("lead-1001", "https://acme.example/leads/1002")
    assert third.key.startswith("sha256:")
    assert parse_feed(RSS)[2].key == third.key  # the same content, the same key


def test_an_atom_entry_reads_its_content_lines_and_extensions() -> None:
    [entry] = parse_feed(ATOM, "application/atom+xml")
    assert entry.key == "urn:acme:lead:7"
    assert entry.fields["last_name"] == "Byron"
    assert entry.fields["phone"] == "(415) 555-0199"
    assert entry.fields["zip"] == "10001"
    assert entry.fields["author"] == "Form 12"
    assert entry.fields["published"] == "2026-12-05T09:30:00Z"


def test_a_very_long_guid_becomes_a_key_short_enough_for_an_idempotency_key() -> None:
    guid = "x" * 500
    feed = RSS.replace(b"lead-1001", guid.encode())
    key = parse_feed(feed)[0].key
    assert key.startswith("sha256:") and len(key) <= MAX_KEY


@pytest.mark.parametrize("body", [b"<html><body>Not a feed</body></html>", b"\x00\x01 binary", b""])
def test_a_document_that_is_no_feed_is_refused_with_the_reason(body: bytes) -> None:
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        parse_feed(body, "text/html")


def test_an_empty_feed_has_no_items() -> None:
    feed = b'<rss version="2.0"><channel><title>quiet</title></channel></rss>'
    assert parse_feed(feed) == []
