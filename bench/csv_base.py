"""A customer base as the CSV files ``healthscore import`` reads, at any size.

The bench times imports with it and the cross-backend tests import the same files into
SQLite and PostgreSQL. Deterministic for a seed (numpy's generator, fixed dates), so a
test can build it again and expect the same rows. Accounts differ by orders of magnitude
in seats, and their activity rises, holds or falls over the window, so scoring them
exercises every tier. Events also come from people who are not seats, some accounts
churn, and a share of event lines is repeated (an exporter that sent a page twice).

    python -m bench.csv_base DIR [--accounts 1000] [--users 32579] [--events 3400000]
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

END = datetime(2026, 11, 1, tzinfo=UTC)
"""The last moment of the generated activity (earlier than any test's or bench's "now")."""
FEATURES = [f"feature_{i:02d}" for i in range(14)]
OTHER_EVENTS = ["report_exported", "invite_sent", "dashboard_viewed"]
COMMENTS = ["", "Great product.", 'Slow "reports", please fix', "ok,\nbut support is slow", "—"]


@dataclass(frozen=True)
class BaseSize:
    """How many of each thing the base holds (users and events are totals)."""

    accounts: int = 1000
    users: int = 32_579
    events: int = 3_400_000
    tickets: int = 5_428
    nps: int = 4_000
    days: int = 120
    duplicate_share: float = 0.01
    seed: int = 11


def _iso(moments: NDArray[np.int64]) -> list[str]:
    """Unix seconds as ISO 8601 UTC text (one vectorised conversion)."""
    stamps = moments.astype("datetime64[s]").astype(str)
    return [f"{s}+00:00" for s in stamps]


def write_csv_base(folder: Path, size: BaseSize = BaseSize()) -> dict[str, int]:
    """Write customers.csv, users.csv, events.csv, payments.csv, tickets.csv and nps.csv
    into ``folder``; returns the rows written per file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(size.seed)
    end = int(END.timestamp())
    start = end - size.days * 86_400
    n = size.accounts
    ids = [f"org-{i:05d}" for i in range(n)]

    # Seats: lognormal (a few big accounts, many small ones), scaled to the total.
    raw = rng.lognormal(mean=2.0, sigma=1.1, size=n)
    seats = np.maximum(1, np.round(raw / raw.sum() * size.users)).astype(np.int64)
    seats[np.argmax(seats)] += size.users - int(seats.sum())
    # Activity shape: exponent > 1 front-loads activity (declining), < 1 back-loads it.
    shape = rng.choice([0.7, 1.0, 1.0, 1.0, 1.6, 3.0], size=n)
    engagement = rng.uniform(0.2, 1.0, size=n)
    created = end - rng.integers(size.days + 30, size.days + 900, size=n) * 86_400
    churned = rng.random(n) < 0.04
    churn_at = end - rng.integers(1, 20, size=n) * 86_400
    plans = rng.choice(["starter", "growth", "enterprise"], size=n, p=[0.5, 0.35, 0.15])
    counts: dict[str, int] = {}

    with (folder / "customers.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name", "plan", "segment", "mrr", "created_at", "churned_at"])
        created_iso = _iso(created)
        churn_iso = _iso(churn_at)
        for i, cid in enumerate(ids):
            plan = str(plans[i])
            segment = "enterprise" if plan == "enterprise" else "smb"
            mrr = f"{seats[i] * (90 if plan == 'enterprise' else 25)}.00"
            out.writerow(
                [
                    cid,
                    f"Org {i}",
                    plan,
                    segment,
                    mrr,
                    created_iso[i],
                    churn_iso[i] if churned[i] else "",
                ]
            )
        counts["customers.csv"] = n

    owner = np.repeat(np.arange(n), seats)
    seat_no = np.concatenate([np.arange(s) for s in seats])
    joined = np.maximum(created[owner], start - 200 * 86_400) + rng.integers(
        0, 200 * 86_400 + size.days * 86_400 // 2, size=len(owner)
    )
    joined = np.minimum(joined, end - 86_400)
    with (folder / "users.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "user_id", "created_at"])
        for o, j, stamp in zip(owner.tolist(), seat_no.tolist(), _iso(joined), strict=True):
            out.writerow([ids[o], f"{ids[o]}-u{j}", stamp])
        counts["users.csv"] = len(owner)

    weight = seats * engagement
    account = rng.choice(n, size=size.events, p=weight / weight.sum())
    position = rng.random(size.events) ** shape[account]
    ts = start + (position * (size.days * 86_400 - 1)).astype(np.int64)
    user = (rng.random(size.events) * seats[account]).astype(np.int64)
    kind = rng.choice(4, size=size.events, p=[0.45, 0.4, 0.1, 0.05])
    feature = rng.integers(0, len(FEATURES), size=size.events)
    calls = rng.integers(1, 500, size=size.events)
    stranger = rng.random(size.events) < 0.01  # a person who is not a seat
    repeated = np.flatnonzero(rng.random(size.events) < size.duplicate_share)
    with (folder / "events.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "user_id", "ts", "type", "name", "value"])
        stamps = _iso(ts)
        rows = []
        for e, (a, u, k) in enumerate(
            zip(account.tolist(), user.tolist(), kind.tolist(), strict=True)
        ):
            cid = ids[a]
            who = f"visitor-{e % 97}" if stranger[e] else f"{cid}-u{u}"
            if k == 0:
                rows.append([cid, who, stamps[e], "login", "", ""])
            elif k == 1:
                rows.append([cid, who, stamps[e], "feature_used", FEATURES[feature[e]], ""])
            elif k == 2:
                rows.append([cid, "", stamps[e], "api_call", "", str(calls[e])])
            else:
                rows.append(
                    [cid, who, stamps[e], OTHER_EVENTS[feature[e] % 3], "", str(calls[e] % 7 + 1)]
                )
        out.writerows(rows)
        out.writerows(rows[i] for i in repeated.tolist())
        counts["events.csv"] = len(rows) + len(repeated)

    months = size.days // 30 + 1
    with (folder / "payments.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "ts", "amount", "status"])
        written = 0
        trouble = rng.random(n) < 0.1
        for i, cid in enumerate(ids):
            for month in range(months):
                moment = start + month * 30 * 86_400 + int(rng.integers(0, 86_400 * 3))
                failed = trouble[i] and rng.random() < 0.6
                status = (
                    "failed" if failed else ("refunded" if rng.random() < 0.01 else "succeeded")
                )
                out.writerow([cid, _iso(np.array([moment]))[0], f"{seats[i] * 25}.00", status])
                written += 1
        counts["payments.csv"] = written

    ticket_account = rng.choice(n, size=size.tickets, p=seats / seats.sum())
    opened = start + rng.integers(0, size.days * 86_400 - 3600, size=size.tickets)
    resolved_in = rng.integers(600, 20 * 86_400, size=size.tickets)
    open_still = (opened + resolved_in > end) | (rng.random(size.tickets) < 0.1)
    severity = rng.choice(
        ["low", "normal", "high", "urgent"], size=size.tickets, p=[0.3, 0.5, 0.15, 0.05]
    )
    rating = rng.integers(1, 6, size=size.tickets)
    with (folder / "tickets.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "ticket_id", "opened_at", "resolved_at", "severity", "rating"])
        opened_iso = _iso(opened)
        resolved_iso = _iso(np.minimum(opened + resolved_in, end))
        for t in range(size.tickets):
            a = int(ticket_account[t])
            out.writerow(
                [
                    ids[a],
                    f"T-{t:06d}",
                    opened_iso[t],
                    "" if open_still[t] else resolved_iso[t],
                    str(severity[t]),
                    "" if open_still[t] or rng.random() < 0.4 else str(rating[t]),
                ]
            )
        counts["tickets.csv"] = size.tickets

    nps_account = rng.choice(n, size=size.nps, p=weight / weight.sum())
    nps_ts = start + rng.integers(0, size.days * 86_400, size=size.nps)
    score = np.clip(np.round(engagement[nps_account] * 10 + rng.normal(0, 2, size.nps)), 0, 10)
    with (folder / "nps.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "user_id", "ts", "score", "comment"])
        for r, (a, answered) in enumerate(zip(nps_account.tolist(), _iso(nps_ts), strict=True)):
            who = f"{ids[a]}-u{r % max(1, int(seats[a]))}"
            out.writerow([ids[a], who, answered, str(int(score[r])), COMMENTS[r % len(COMMENTS)]])
        counts["nps.csv"] = size.nps
    return counts


def write_ticket_update(source: Path, folder: Path, *, every: int = 3) -> int:
    """A later export of ``source``'s tickets: every ``every``-th open ticket now resolved
    and rated (what a re-import must update in place, not duplicate)."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = 0
    with (
        (source / "tickets.csv").open(newline="") as src,
        (folder / "tickets.csv").open("w", newline="") as dst,
    ):
        reader = csv.DictReader(src)
        out = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
        out.writeheader()
        for i, row in enumerate(reader):
            if not row["resolved_at"] and i % every == 0:
                opened = datetime.fromisoformat(row["opened_at"])
                row["resolved_at"] = min(opened + timedelta(days=2), END).isoformat()
                row["rating"] = str(i % 5 + 1)
                changed += 1
            out.writerow(row)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--accounts", type=int, default=BaseSize.accounts)
    parser.add_argument("--users", type=int, default=BaseSize.users)
    parser.add_argument("--events", type=int, default=BaseSize.events)
    parser.add_argument("--tickets", type=int, default=BaseSize.tickets)
    parser.add_argument("--seed", type=int, default=BaseSize.seed)
    args = parser.parse_args()
    size = BaseSize(
        accounts=args.accounts,
        users=args.users,
        events=args.events,
        tickets=args.tickets,
        seed=args.seed,
    )
    for name, rows in write_csv_base(args.folder, size).items():
        print(f"{name}: {rows:,} rows")


if __name__ == "__main__":
    main()
