"""An account's MRR history: per-seat prices, trued up to the seats on the account at each
billing date (monthly contracts) or renewal (annual ones).

Drawn from nothing new (the seats and the contract are the account's), so it changes none
of the generator's other rows: a team that removes seats pays less from its next billing
date on, a growing one more; a churned account's history ends at what it last paid (its
``churned_at`` says when it stopped).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthscore.ingest.demo.accounts import PRICE_PER_SEAT, Account
from healthscore.ingest.demo.activity import Activity
from healthscore.ingest.demo.clock import at
from healthscore.ingest.mrr import ACCOUNT

ANNUAL_DISCOUNT = 0.85
"""What an annual contract pays per seat and month, against a monthly one."""


def mrr_rows(account: Account, activity: Activity, start: Any) -> list[dict[str, Any]]:
    """The account's MRR from its creation, then each change at a billing date or renewal,
    with ``until`` set (each row ends where the next begins: ``ingest.mrr``'s rule)."""
    discount = ANNUAL_DISCOUNT if account.contract == "annual" else 1.0
    per_seat = PRICE_PER_SEAT[account.plan] * discount
    fixed = max(0.0, account.mrr - account.seats * per_seat)  # API volume, billed apart
    first = max(account.created_day, 0)
    points = [(account.created_day, account.mrr, account.seats)]
    if account.created_day < 0:  # a seat count before the window is the one at its start
        seats = _seats(activity, first)
        points = [(account.created_day, round(seats * per_seat + fixed, 2), seats)]
    day = account.next_cycle(first)
    while day < account.live_days:
        seats = _seats(activity, day)
        value = round(max(seats, 1) * per_seat + fixed, 2)
        if value != points[-1][1]:
            points.append((day, value, seats))
        day += account.cycle
    rows = []
    for k, (day, value, seats) in enumerate(points):
        following = points[k + 1][0] if k + 1 < len(points) else None
        rows.append(
            {
                "customer_id": account.id,
                "stream": ACCOUNT,
                "at": at(start, day, 6),
                "until": None if following is None else at(start, following, 6),
                "mrr": value,
                "seats": seats,
                "source": "csv",
                "external_id": f"demo:{account.id}:{k}",
            }
        )
    return rows


def _seats(activity: Activity, day: int) -> int:
    """Seats on the account during ``day`` (added before it, not removed by then)."""
    return int(np.count_nonzero((activity.joined < day) & (activity.removed > day)))
