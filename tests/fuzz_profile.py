"""Hypothesis settings and byte mutations for the parser fuzz tests: a modest budget,
reproducible in CI.

`fuzz(n)` gives a test n examples (FUZZ_EXAMPLES overrides every test's budget, to search
harder locally); with CI=true the examples are derandomized, so a CI run is repeatable, and no
example database is kept. The deadline bounds each example's time (FUZZ_DEADLINE_MS).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

IS_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)
# Generous next to the milliseconds a parse takes, so a busy machine does not fail a run; an
# expansion blow-up or catastrophic backtracking takes far longer.
DEADLINE = timedelta(milliseconds=int(os.environ.get("FUZZ_DEADLINE_MS") or 3000))

settings.register_profile(
    "fuzz",
    deadline=DEADLINE,
    derandomize=IS_CI,
    database=None if IS_CI else settings.default.database,
    print_blob=True,
    # Structured documents are large and slow to build by design.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def fuzz(max_examples: int = 100, *, deadline_ms: int | None = None) -> settings:
    """The fuzz profile with this test's example budget (or FUZZ_EXAMPLES when set), and a
    longer deadline for a test whose library is slow to start (never shorter than the profile's)."""
    deadline = max(DEADLINE, timedelta(milliseconds=deadline_ms or 0))
    budget = FUZZ_EXAMPLES or max_examples
    return settings(settings.get_profile("fuzz"), max_examples=budget, deadline=deadline)


def output_size(value: Any) -> int:
    """Characters in every key and text value, plus one per other value or container:
    what a parser's output costs to hold, to compare with its input's size."""
    size = 0
    stack = [value]
    while stack:  # not recursive: outputs may nest deeper than the interpreter's stack
        item = stack.pop()
        if isinstance(item, str | bytes):
            size += len(item)
        else:
            size += 1
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
    return size


# Bytes that break parsers: NULs, invalid or overlong UTF-8, byte order marks, escapes, entities,
# markup, huge numbers.
NASTY_BYTES: tuple[bytes, ...] = (
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xe2\x80\xa8",
    b"\r",
    b"\r\n",
    b"\t",
    b'"',
    b"'",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"&",
    b"=",
    b"%",
    b"%zz",
    b"%00",
    b"%ff",
    b"%c3",
    b"+",
    b".",
    b"..",
    b",",
    b";",
    b":",
    b"<",
    b">",
    b"/>",
    b"]]>",
    b"<![CDATA[",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"&#xD800;",
    b"&bogus;",
    b"<!DOCTYPE x [<!ENTITY e 'x'>]>",
    b"<!ENTITY e SYSTEM 'file:///etc/passwd'>",
    b"<?pi x?>",
    b"<!--",
    b"-->",
    b"{",
    b"[",
    b"}",
    b"]",
    b"9" * 5000,
    b"-0",
    b"1e999",
    b"NaN",
    b"=SUM(A1:A9)",
    b"\n--b\n",
    b"=?utf-8?q?=FF?=",
)


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[bytes], max_edits: int = 4) -> bytes:
    """A document with a few edits: nasty bytes inserted, a slice cut or doubled, a byte
    flipped, or the end cut off."""
    data = draw(documents)
    for _ in range(draw(st.integers(0, max_edits))):
        kind = draw(st.sampled_from(("insert", "insert", "cut", "double", "flip", "truncate")))
        # A share of the length, not an offset: documents carrying a timestamp (a workbook's
        # zip) vary in length between runs, and the draws must not.
        at = draw(st.integers(0, 1000)) * len(data) // 1000
        if kind == "insert":
            data = data[:at] + draw(st.sampled_from(NASTY_BYTES)) + data[at:]
        elif kind == "cut":
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
        elif kind == "double":
            data = data[:at] + data[at : at + 64] * draw(st.integers(2, 50)) + data[at:]
        elif kind == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif kind == "truncate":
            data = data[:at]
    return data


# Charset labels as senders write them: real, misspelt, unknown, not text encodings at all.
CHARSET_LABELS: tuple[str, ...] = (
    "utf-8",
    "UTF-8",
    "utf8",
    "iso-8859-1",
    "latin-1",
    "windows-1252",
    "cp1252",
    "us-ascii",
    "utf-16",
    "utf-16le",
    "utf-32",
    "shift_jis",
    "gb2312",
    "koi8-r",
    "cp500",
    "utf-7",
    "idna",
    "punycode",
    "unicode-escape",
    "base64",
    "rot13",
    "hex",
    "zlib",
    "bogus",
    "",
    " ",
    "\x00",
    "utf-8\x00",
    '"utf-8"',
    "x" * 300,
)
