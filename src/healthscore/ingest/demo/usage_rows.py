"""Rows of what people do: seats, logins, feature use, other events, API calls."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from healthscore.ingest.demo.accounts import Account
from healthscore.ingest.demo.activity import Activity
from healthscore.ingest.demo.clock import at, timestamps
from healthscore.ingest.demo.profiles import Profile
from healthscore.ingest.demo.vocabulary import API_FEATURES, FEATURES, OTHER_EVENTS
from healthscore.storage import models as m

Rows = dict[type[m.Base], list[dict[str, Any]]]
ADOPTED = {"starter": (2, 6), "pro": (4, 10), "enterprise": (7, 15)}


def usage_rows(
    rng: Generator,
    account: Account,
    activity: Activity,
    profile: Profile,
    start: Any,
    rows: Rows,
) -> None:
    cid = account.id
    _users(rng, account, activity, start, rows[m.User])
    ids = np.array(activity.ids, dtype=object)
    who, day = np.nonzero(activity.logins)
    repeats = activity.logins[who, day]
    who, day = np.repeat(who, repeats), np.repeat(day, repeats)
    rows[m.Session].extend(
        {"customer_id": cid, "user_id": user, "ts": ts}
        for user, ts in zip(ids[who].tolist(), timestamps(start, day, rng), strict=True)
    )
    person = np.array([not name.endswith("_bot") for name in activity.ids])[who]
    who, day = who[person], day[person]  # bots log in, they do not use features
    uses = rng.poisson(profile.features_per_login, len(who))
    f_who, f_day = np.repeat(who, uses), np.repeat(day, uses)
    features = _feature_picks(rng, account, f_day)
    rows[m.FeatureUsage].extend(
        {"customer_id": cid, "user_id": user, "feature": feature, "ts": ts}
        for user, feature, ts in zip(
            ids[f_who].tolist(), features, timestamps(start, f_day, rng), strict=True
        )
    )
    other = rng.random(len(who)) < 0.05
    events = rng.integers(0, len(OTHER_EVENTS), int(other.sum())).tolist()
    properties = {"source": "web", "seats": account.seats}
    rows[m.EngagementEvent].extend(
        {
            "customer_id": cid,
            "user_id": user,
            "event_type": OTHER_EVENTS[event],
            "ts": ts,
            "properties": properties,
        }
        for user, event, ts in zip(
            ids[who[other]].tolist(), events, timestamps(start, day[other], rng), strict=True
        )
    )
    if activity.api_calls is not None:
        api_days = np.flatnonzero(activity.api_calls)
        rows[m.ApiUsage].extend(
            {"customer_id": cid, "ts": ts, "calls": calls}
            for ts, calls in zip(
                timestamps(start, api_days, rng),
                activity.api_calls[api_days].tolist(),
                strict=True,
            )
        )


def _users(
    rng: Generator, account: Account, activity: Activity, start: Any, out: list[dict[str, Any]]
) -> None:
    """One row per seat; a seat removed inside the window keeps its row with ``removed_at``."""
    earliest = min(max(account.created_day + 0.5, -700.0), -0.05)  # after the account's own
    before = (earliest + (-0.05 - earliest) * rng.random(activity.seats)).tolist()
    for u, (join, leave) in enumerate(
        zip(activity.joined.tolist(), activity.removed.tolist(), strict=True)
    ):
        out.append(
            {
                "customer_id": account.id,
                "user_id": activity.ids[u],
                "created_at": at(start, before[u]) if join < 0 else at(start, join, 10),
                "removed_at": at(start, leave, 8) if leave < account.live_days else None,
            }
        )


def _feature_picks(rng: Generator, account: Account, day: NDArray[np.int64]) -> list[str]:
    """Features used on those days: a new account adopts its features over its first weeks."""
    if account.archetype == "api_only":
        menu = np.array(API_FEATURES)
        adopted = len(menu)
    else:
        low, high = ADOPTED[account.plan]
        if account.archetype == "never_onboarded":
            low, high = 1, 3
        menu = rng.permutation(np.array(FEATURES))
        adopted = int(rng.integers(low, high + 1))
    age = day - account.created_day
    reach = np.ceil(adopted * (1 - np.exp(-age / 15))).clip(1, adopted)
    picks = (rng.random(len(day)) * reach).astype(np.int64)
    names: list[str] = menu[picks].tolist()
    return names
