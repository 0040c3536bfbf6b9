"""How much each seat of an account logs in on each day of the window, story by story.

Logins are Poisson draws from a seat x day rate: the seat's own habit (a few power users,
many occasional ones, some seats never used) x the account's level that day (its story,
day-to-day noise, the weekday rhythm) x whether the seat is there (added, not removed,
not gone silent, the account not churned). Churn paths act on that level or on seats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from healthscore.ingest.demo.accounts import Account
from healthscore.ingest.demo.profiles import Profile

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass
class Activity:
    """An account's seats and the activity drawn for them."""

    joined: Ints  # day each seat was added (-1: before the window)
    removed: Ints  # day each seat was removed (> days: still there)
    ids: list[str]  # seats first, then ids that are not seats (support staff, bots, ex-users)
    logins: Ints  # [id, day] logins
    story: Floats  # the account's level per day (1.0: its normal), for tickets and surveys
    api_calls: Ints | None  # calls per day, for accounts with an integration

    @property
    def seats(self) -> int:
        return len(self.joined)


def draw_activity(
    rng: Generator, account: Account, profile: Profile, weekend: NDArray[np.bool_]
) -> Activity:
    days, live = account.days, account.live_days
    t = np.arange(days, dtype=float)
    joined = _joined(rng, account)
    n = len(joined)
    removed = np.full(n, days + 1, dtype=np.int64)
    stop = np.full(n, days + 1, dtype=np.int64)  # silent from this day on, seat kept
    turnover = rng.random(n) < 0.04 * days / 90  # people change jobs in healthy teams too
    removed[turnover] = rng.integers(0, days, int(turnover.sum()))
    rate = rng.lognormal(np.log(profile.login_rate), 0.9, n).clip(0.002, 3.0)
    engaged = rng.random(n) < rng.beta(6, 3)
    engaged[int(np.argmax(rate))] = True
    story = np.ones(days)
    noise = rng.lognormal(0.0, 0.2, days)
    rhythm = np.where(weekend, rng.uniform(*profile.weekend), 1.0)
    user_factor: list[tuple[Ints, int, int, float]] = []  # (seats, from, to, factor)
    archetype = account.archetype
    since = t - account.created_day
    if archetype == "growing":
        story *= np.linspace(0.8, 1.3, days)
    elif archetype == "seasonal":
        for _ in range(int(rng.integers(1, 3))):
            begin, length = int(rng.integers(-14, days)), int(rng.integers(14, 29))
            story[max(begin, 0) : max(begin + length, 0)] *= rng.uniform(0.1, 0.4)
    elif archetype == "onboarding":
        story *= np.clip(0.35 + 0.65 * since / 35, 0.35, 1.0)
    elif archetype == "api_only":
        rate[:] = 0.0
        rate[0] = rng.uniform(1 / 40, 1 / 20)  # the admin looks in about once a month
        engaged[0] = True
    elif archetype == "small":
        rate = rng.lognormal(np.log(0.05), 0.8, n).clip(0.005, 0.5)  # sporadic
        engaged[:] = True
    elif archetype in {"detractor", "support_heavy"}:
        story *= 0.9
    elif account.onset_day is not None and account.decision_day is not None:
        _churn_path(rng, account, t, since, rate, engaged, stop, removed, story, user_factor)
    removed = np.maximum(removed, joined + 1)
    level = story * noise * rhythm
    level[live:] = 0.0
    present = (t[None, :] > joined[:, None]) & (t[None, :] < np.minimum(removed, stop)[:, None])
    expected = (rate * engaged)[:, None] * level[None, :] * present
    for seats, begin, end, factor in user_factor:
        expected[seats, max(begin, 0) : max(end, 0)] *= factor
    ids = [f"{account.id}_u{u}" for u in range(n)]
    ghosts, ghost_rates = _bystanders(rng, account, profile, rhythm, live)
    if ghosts:
        expected = np.vstack([expected, ghost_rates])
        ids += ghosts
    return Activity(
        joined=joined,
        removed=removed,
        ids=ids,
        logins=rng.poisson(expected),
        story=story,
        api_calls=_api_calls(rng, account, profile, story, weekend),
    )


def _joined(rng: Generator, account: Account) -> Ints:
    """The first team (invited over the first weeks of a new account), then additions."""
    seats = account.seats
    first = account.created_day + rng.exponential(6.0, seats)
    extra = {"growing": rng.uniform(0.3, 0.7), "onboarding": 0.1, "api_only": 0.0, "small": 0.0}
    added = int(rng.binomial(seats, extra.get(account.archetype, 0.04)))
    later = rng.uniform(max(account.created_day, 0), max(account.live_days, 1), added)
    joined = np.floor(np.concatenate([first, later])).astype(np.int64)
    joined = joined[joined < account.live_days - 1]
    if len(joined) == 0:
        joined = np.array([min(account.created_day, account.live_days - 2)], dtype=np.int64)
    return np.where(joined < 0, -1, joined)


def _churn_path(
    rng: Generator,
    account: Account,
    t: Floats,
    since: Floats,
    rate: Floats,
    engaged: NDArray[np.bool_],
    stop: Ints,
    removed: Ints,
    story: Floats,
    user_factor: list[tuple[Ints, int, int, float]],
) -> None:
    """The leading signs of a churn path; a path that does not churn recovers part-way."""
    onset, decision = account.onset_day, account.decision_day
    assert onset is not None and decision is not None
    n, churns, path = len(rate), account.churns, account.archetype
    if path == "thinning":  # seats go quiet one by one over months
        end = decision if churns else onset + (decision - onset) * rng.uniform(0.3, 0.6)
        leaving = rng.random(n) < (0.8 if churns else 0.4)
        leave = rng.uniform(onset, max(end, onset + 1), n).astype(np.int64)
        stop[leaving] = leave[leaving]
        gone = leaving & (rng.random(n) < 0.4)
        removed[gone] = leave[gone]
        story *= np.interp(t, [onset, end], [1.0, 0.6 if churns else 0.85])
    elif path == "champion_left":  # the heaviest user goes, the others slow down
        champion = int(np.argmax(rate * engaged))
        rate[champion] *= 2.5
        stop[champion] = onset
        if rng.random() < 0.5:
            removed[champion] = onset
        others = np.flatnonzero(np.arange(n) != champion)
        recovery = decision if churns else onset + int(rng.integers(14, 46))
        user_factor.append((others, onset, recovery, float(rng.uniform(0.35, 0.75))))
        if churns:
            follow = others[rng.random(len(others)) < 0.25]
            stop[follow] = rng.integers(onset, max(decision, onset + 1), len(follow))
    elif path == "never_onboarded":  # a few seats try it, then fade
        tried = np.zeros(n, dtype=bool)
        tried[rng.choice(n, max(1, round(n * rng.uniform(0.05, 0.25))), replace=False)] = True
        engaged &= tried
        engaged |= tried & (rng.random(n) < 0.5)
        rate *= 0.6
        later = 0.25 + np.exp(-(since - 14) / 20) if churns else np.full_like(t, 0.7)
        story *= np.where(since < 14, 1.3, np.minimum(later, 1.3))
    elif path == "sudden_silence":  # everyone stops at once
        back = decision + 1 if churns else onset + int(rng.integers(14, 43))
        story[max(onset, 0) : max(back, 0)] = 0.0
    elif path == "payment_failure" and churns:  # normal use until the account is suspended
        story[max(decision - 4, 0) :] *= 0.4
    elif path == "unforeseeable" and rng.random() < 0.3:
        story[max(decision - 14, 0) :] *= 0.8


def _bystanders(
    rng: Generator, account: Account, profile: Profile, rhythm: Floats, live: int
) -> tuple[list[str], Floats]:
    """Activity from ids that are not seats: vendor support, a bot, someone removed long ago."""
    days = account.days
    if rng.random() >= profile.bystander_share:
        return [], np.zeros((0, days))
    ids, rows = [], []
    for kind in ("support", "bot", "former"):
        if rng.random() >= 0.5:
            continue
        if kind == "support":
            row = np.full(days, rng.uniform(0.02, 0.08)) * rhythm
        elif kind == "bot":
            row = np.full(days, rng.uniform(0.5, 2.0))  # keeps running whatever the people do
        else:
            row = np.full(days, rng.uniform(0.05, 0.3)) * rhythm
            row[int(rng.integers(0, max(days // 2, 1))) :] = 0.0
        row[live:] = 0.0
        ids.append(f"{account.id}_{kind}")
        rows.append(row)
    return ids, np.array(rows).reshape(len(rows), days)


def _api_calls(
    rng: Generator,
    account: Account,
    profile: Profile,
    story: Floats,
    weekend: NDArray[np.bool_],
) -> Ints | None:
    api_only = account.archetype == "api_only"
    if not api_only and rng.random() >= profile.api_share[account.segment]:
        return None
    days = account.days
    if api_only:  # steady machine traffic, a little quieter at weekends
        base = rng.lognormal(np.log(4000), 0.8)
        level = rng.lognormal(0.0, 0.15, days) * np.where(weekend, 0.8, 1.0)
    else:  # an integration that follows how the team works
        base = rng.lognormal(np.log(40 * account.seats), 0.6)
        curve = story.copy()
        if account.archetype == "sudden_silence" and rng.random() < 0.3:
            curve = np.ones(days)  # nobody switched the integration off
        level = curve * rng.lognormal(0.0, 0.25, days) * np.where(weekend, 0.6, 1.0)
    level[account.live_days :] = 0.0
    calls: Ints = rng.poisson(base * level)
    return calls
