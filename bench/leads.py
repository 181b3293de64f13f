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


def numbered_phone(n: int, area_codes: tuple[str, ...]) -> tuple[str, int, int]:
    """The n-th distinct (area code, exchange, line) under `area_codes`: exchanges 200-999."""
    capacity = len(area_codes) * _EXCHANGES * _LINES
    if not 0 <= n < capacity:
        raise ValueError(f"only {capacity} distinct numbers; got n={n}")
    n, area = divmod(n, len(area_codes))
    line, exchange = divmod(n, _EXCHANGES)
    return area_codes[area], 200 + exchange, line


def bench_phone(n: int) -> str:
    """The n-th distinct number, written as publishers do: +1 (212) 234-5678."""
    area, exchange, line = numbered_phone(n, AREA_CODES)
    return f"+1 ({area}) {exchange}-{line:04d}"


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
