"""Stripe amounts are integers in the currency's smallest unit: cents, or yen, or fils."""

from __future__ import annotations

from decimal import Decimal

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
"""Currencies whose Stripe amounts are already whole units (no cents)."""
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
"""Currencies whose Stripe amounts are in thousandths."""


def to_major_units(minor: Decimal, currency: str) -> Decimal:
    """Stripe amounts are in the currency's smallest unit (cents, or yen, or fils)."""
    if currency in ZERO_DECIMAL:
        return minor
    return minor / (1000 if currency in THREE_DECIMAL else 100)
