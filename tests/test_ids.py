"""Identifiers: 26 Crockford base32 characters after the prefix, ordered by creation time."""

from __future__ import annotations

from exchange.ids import new_id

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def id_time_ms(identifier: str) -> int:
    """The creation time (Unix ms) an id carries in its first ten characters."""
    value = 0
    for char in identifier.rpartition("_")[2][:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value


def test_an_id_carries_its_time_and_sorts_by_it() -> None:
    base = 1_795_000_000_000  # ms
    ids = [new_id("lead", now_ns=(base + step) * 1_000_000) for step in (0, 1, 999, 86_400_000)]
    assert all(i.startswith("lead_") and len(i) == len("lead_") + 26 for i in ids)
    assert all(set(i[5:]) <= set("0123456789abcdefghjkmnpqrstvwxyz") for i in ids)
    assert [id_time_ms(i) for i in ids] == [base, base + 1, base + 999, base + 86_400_000]
    assert ids == sorted(ids)


def test_ids_made_in_the_same_millisecond_differ() -> None:
    made = {new_id("x", now_ns=1_795_000_000_000_000_000) for _ in range(1000)}
    assert len(made) == 1000
