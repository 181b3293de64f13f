"""Benchmark leads: complete, valid auto insurance leads, each a different person.

Phone and e-mail differ on every call so the exchange never answers a cheaper 409 duplicate.
"""

from __future__ import annotations

from typing import Any

import msgspec

# Real area codes; every exchange 200-999 under them is a valid US number (a test checks).
AREA_CODES: tuple[str, ...] = ("212", "312", "415", "617", "713", "206", "305", "404")
_EXCHANGES = 800
_LINES = 10_000
CAPACITY = len(AREA_CODES) * _EXCHANGES * _LINES

_encoder = msgspec.json.Encoder()


def bench_phone(n: int) -> str:
    """The n-th distinct number, written as publishers do: +1 (212) 234-5678."""
    if not 0 <= n < CAPACITY:
        raise ValueError(f"only {CAPACITY} distinct numbers; got n={n}")
    n, area = divmod(n, len(AREA_CODES))
    line, exchange = divmod(n, _EXCHANGES)
    return f"+1 ({AREA_CODES[area]}) {200 + exchange}-{line:04d}"


def bench_lead(n: int) -> dict[str, Any]:
    """The n-th lead: the shape of tests/conftest.py's auto_insurance_lead."""
    return {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": f"bench.{n}@example.com",
        "phone": bench_phone(n),
        "address": "1 Market St",
        "city": "San Francisco",
        "state": "CA",
        "zip": "94105",
        "ip_address": "203.0.113.7",
        "date_of_birth": "1985-04-12",
        "currently_insured": True,
        "vehicle_year": 2019,
        "vehicle_make": "Toyota",
        "vehicle_model": "Camry",
        "consent": {
            "text": "I agree to be contacted.",
            "timestamp": "2026-11-01T10:00:00Z",
            "trustedform_cert_url": "https://cert.trustedform.com/" + "a1" * 20,
        },
    }


def bench_body(n: int) -> bytes:
    return _encoder.encode(bench_lead(n))
