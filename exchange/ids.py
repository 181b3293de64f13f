"""Identifiers: a prefix and 26 characters that sort by creation time (ULID layout).

Time-ordered ids make "newest first" a primary-key scan and keep B-tree inserts at the end.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Two characters per 10 bits: 13 look-ups spell the 130 bits (the top two always zero).
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]
_SHIFTS = range(120, -1, -10)


def new_id(prefix: str, now_ns: int | None = None) -> str:
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return prefix + "_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
