"""Alert rules for the lead-time replay: when would a CSM have been told about an account?

A rule reads a ``ReplayedScores`` (every account's score, tier, trend, stage and
confidence per day) and says, per account and day, whether an alert was *raised* that
day and whether one was *standing*. Two rules:

* ``PlaybookCases`` (the default of ``healthscore backtest``): the configured playbooks'
  case-opening conditions that a day's score decides (``score_below``, ``tier``,
  ``tier_changed``, ``score_dropped``), evaluated by the playbooks' own ``evaluate`` on an
  ``AccountState`` built from the replayed scores. An alert is the *opening of a case*:
  one open case per account and playbook, so a playbook that keeps firing does not alert
  again. A CSM's closing of a case cannot be replayed; a replayed case is taken to be
  resolved once its playbook has not fired for the playbook's ``cooldown_days``.
* ``TierTrendAlert`` / ``SEED000_ALERT``: seed 000's rule (critical, or at_risk and
  declining), an alert on every day it holds, kept so figures stay comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from healthscore.backtest.replay import NOT_SCORED, STAGES, TIERS, TRENDS, ReplayedScores
from healthscore.playbooks.rules import (
    AccountState,
    Playbook,
    PlaybookSet,
    ScoreBelow,
    ScoreDropped,
    TierChanged,
    TierIs,
)
from healthscore.scoring.labels import Tier, Trend

Days = NDArray[np.bool_]
"""(accounts, days)."""

REPLAYABLE = (ScoreBelow, TierIs, TierChanged, ScoreDropped)
"""Conditions a replayed day's score, tier, trend, previous tier and earlier scores decide.
The others need state the replay does not rebuild per day (logins, payments, NPS answers)
or signal values that saved history does not keep."""
DEFAULT_STATE = AccountState("", "", "", "", 0, "", "", None)
"""Where saved history lacks a stage or confidence (rows from before they existed), the
replayed state keeps ``AccountState``'s defaults."""
SCORE_SLACK_DAYS = 3
"""``score_dropped`` compares with the score N days ago or the closest earlier within 3
days, as ``playbooks.repository.score_on_or_before`` does."""


@dataclass(frozen=True)
class Alerts:
    """Per account and day: an alert raised that day, and an alert standing that day."""

    opened: Days
    standing: Days

    def columns(self, start: int) -> Alerts:
        return Alerts(self.opened[:, start:], self.standing[:, start:])


class AlertRule(Protocol):
    """Decides from the replayed scores when a CSM would have been alerted."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def warmup_days(self) -> int:
        """Days of scores before the measured period that the rule reads."""
        ...

    def alerts(self, scores: ReplayedScores) -> Alerts: ...


def _codes(chosen: frozenset[Tier]) -> list[int]:
    return [k for k, tier in enumerate(TIERS) if tier in chosen]


@dataclass(frozen=True)
class TierTrendAlert:
    """Alert on some tiers always, and on others only while the score is declining; every
    day the rule holds is an alert (no cases)."""

    name: str = "seed000"
    always: frozenset[Tier] = frozenset({Tier.critical})
    when_declining: frozenset[Tier] = frozenset({Tier.at_risk})
    warmup_days: int = 0

    @property
    def description(self) -> str:
        def tiers(chosen: frozenset[Tier]) -> str:
            return " or ".join(t.value for t in Tier if t in chosen)

        clauses = [f"tier is {tiers(self.always)}"] if self.always else []
        declining = self.when_declining - self.always
        if declining:
            clauses.append(f"tier is {tiers(declining)} with a declining trend")
        return ", or ".join(clauses) or "never"

    def alerts(self, scores: ReplayedScores) -> Alerts:
        declining = scores.trends == TRENDS.index(Trend.declining)
        fires = np.isin(scores.tiers, _codes(self.always)) | (
            np.isin(scores.tiers, _codes(self.when_declining)) & declining
        )
        return Alerts(fires, fires)


SEED000_ALERT = TierTrendAlert()
"""Seed 000's alert rule: critical, or at_risk and declining."""


@dataclass(frozen=True)
class PlaybookCases:
    """The configured playbooks' case openings, for the conditions a day's score decides.

    A playbook whose conditions must all hold (``match: all``) is replayed only if every
    condition is replayable; with ``match: any`` the replayable conditions are replayed
    and the others count as not holding (the replay then alerts no more than the product).
    """

    playbooks: PlaybookSet
    name: str = "playbooks"

    @cached_property
    def _split(self) -> tuple[list[Playbook], dict[str, str]]:
        replayed: list[Playbook] = []
        skipped: dict[str, str] = {}
        for playbook in self.playbooks.playbooks:
            kept = [c for c in playbook.when if isinstance(c, REPLAYABLE)]
            left = sorted({c.kind for c in playbook.when if not isinstance(c, REPLAYABLE)})
            if not kept or (playbook.match == "all" and left):
                skipped[playbook.name] = ", ".join(left)
            else:
                replayed.append(playbook.model_copy(update={"when": kept}) if left else playbook)
        return replayed, skipped

    @property
    def replayed(self) -> list[Playbook]:
        """The playbooks replayed, each with only its replayable conditions."""
        return self._split[0]

    @property
    def skipped(self) -> dict[str, str]:
        """Playbooks that cannot be replayed, with the condition kinds that stop them."""
        return self._split[1]

    @property
    def description(self) -> str:
        names = ", ".join(p.name for p in self.replayed) or "none"
        text = (
            f"a case opens when playbook {names} fires (score_below, tier, tier_changed and "
            "score_dropped conditions; one open case per account and playbook, resolved "
            "after the playbook's cooldown without firing)"
        )
        if self.skipped:
            text += "; not replayable: " + ", ".join(
                f"{name} ({kinds})" for name, kinds in self.skipped.items()
            )
        return text

    @property
    def warmup_days(self) -> int:
        drops = [c.days for p in self.replayed for c in p.when if isinstance(c, ScoreDropped)]
        return max([1, *(d + SCORE_SLACK_DAYS for d in drops)])

    def fires(self, scores: ReplayedScores) -> dict[str, Days]:
        """Per replayed playbook, the account-days on which ``Playbook.evaluate`` fires.

        Account-days that look the same to the conditions (score, tier, trend, previous
        tier, scores N days ago, stage, confidence) are evaluated once: months of 20,000
        accounts hold some thousands of distinct states, not millions.
        """
        replayed = self.replayed
        lookbacks = sorted(
            {c.days for p in replayed for c in p.when if isinstance(c, ScoreDropped)}
        )
        rows, cols = np.nonzero(scores.scored)
        confidence = scores.confidence[rows, cols]
        keys = np.column_stack(
            [
                scores.scores[rows, cols],
                scores.tiers[rows, cols],
                scores.trends[rows, cols],
                previous_tiers(scores)[rows, cols],
                *(scores_ago(scores, d)[rows, cols] for d in lookbacks),
                scores.stages[rows, cols],
                # The exact bits of the confidence (unknown: one canonical NaN).
                np.where(np.isnan(confidence), np.nan, confidence).view(np.int64),
            ]
        ).astype(np.int64)
        first, inverse = _distinct_rows(keys)
        states = [
            _state(key[:-1], float(c), lookbacks)
            for key, c in zip(keys[first].tolist(), confidence[first].tolist(), strict=True)
        ]
        verdicts = np.array(
            [
                [
                    p.evaluate(state, min_confidence=self.playbooks.min_confidence_of(p))
                    is not None
                    for p in replayed
                ]
                for state in states
            ],
            dtype=bool,
        ).reshape(len(first), len(replayed))
        fired = verdicts[inverse]
        result: dict[str, Days] = {}
        for p, playbook in enumerate(replayed):
            days = np.zeros(scores.scores.shape, dtype=bool)
            days[rows[fired[:, p]], cols[fired[:, p]]] = True
            result[playbook.name] = days
        return result

    def alerts(self, scores: ReplayedScores) -> Alerts:
        shape = scores.scores.shape
        opened, standing = np.zeros(shape, bool), np.zeros(shape, bool)
        cooldown = {p.name: p.cooldown_days for p in self.replayed}
        for name, days in self.fires(scores).items():
            case_opened, case_open = cases(days, cooldown[name])
            opened |= case_opened
            standing |= case_open
        return Alerts(opened, standing)


def _distinct_rows(keys: NDArray[np.int64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The first row of each distinct row of ``keys``, and each row's distinct index.

    Columns are folded into one integer (mixed radix: scores and codes span a few dozen
    values; a wide column such as the confidence's bits is numbered densely first), since
    sorting one integer column is far faster than ``unique(axis=0)``.
    """
    if len(keys) == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    codes = np.zeros(len(keys), dtype=np.int64)
    span = 1
    for column in keys.T:
        low, width = int(column.min()), int(column.max()) - int(column.min()) + 1
        if width > 1 << 20:
            values, dense = np.unique(column, return_inverse=True)
            column, low, width = dense.reshape(-1), 0, len(values)
        if span * width >= 1 << 62:
            _, dense = np.unique(codes, return_inverse=True)
            codes, span = dense.reshape(-1).astype(np.int64), int(dense.max()) + 1
        codes = codes * width + (column - low)
        span *= width
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


TIER_NAMES = [t.value for t in TIERS]
TREND_NAMES = [t.value for t in TRENDS]
STAGE_NAMES = [s.value for s in STAGES]


def _state(key: list[int], confidence: float, lookbacks: list[int]) -> AccountState:
    """The ``AccountState`` of one distinct row of ``PlaybookCases.fires``."""
    score, tier, trend, previous, *ago, stage = key
    return AccountState(
        customer_id="",
        name="",
        segment="",
        plan="",
        score=score,
        tier=TIER_NAMES[tier],
        trend=TREND_NAMES[trend],
        previous_tier=None if previous == NOT_SCORED else TIER_NAMES[previous],
        scores_ago={d: v for d, v in zip(lookbacks, ago, strict=True) if v != NOT_SCORED},
        # History rows from before lifecycle stages have none: the state's defaults apply.
        stage=STAGE_NAMES[stage] if stage != NOT_SCORED else DEFAULT_STATE.stage,
        confidence=DEFAULT_STATE.confidence if math.isnan(confidence) else confidence,
    )


def previous_tiers(scores: ReplayedScores) -> NDArray[np.int8]:
    """Per account and day, the tier of its newest earlier scored day (``tier_before``)."""
    result = np.full(scores.tiers.shape, NOT_SCORED, np.int8)
    last = np.full(scores.tiers.shape[0], NOT_SCORED, np.int8)
    for k in range(scores.tiers.shape[1]):
        result[:, k] = last
        last = np.where(scores.scored[:, k], scores.tiers[:, k], last)
    return result


def scores_ago(scores: ReplayedScores, days: int) -> NDArray[np.int16]:
    """Per account and day, the score ``days`` earlier or the closest earlier day within
    ``SCORE_SLACK_DAYS`` (``score_on_or_before``); ``NOT_SCORED`` when there is none."""
    result = np.full(scores.scores.shape, NOT_SCORED, np.int16)
    for lag in range(days + SCORE_SLACK_DAYS, days - 1, -1):  # nearest day written last
        if lag >= scores.scores.shape[1]:
            continue
        shifted = scores.scores[:, : scores.scores.shape[1] - lag]
        target = result[:, lag:]
        np.copyto(target, shifted, where=shifted != NOT_SCORED)
    return result


def cases(fires: Days, cooldown_days: int) -> tuple[Days, Days]:
    """Case openings and open days from the days a playbook fired for each account.

    A case opens on a day the playbook fires while no case of it is open for the account;
    it stays open until the playbook has not fired for ``cooldown_days`` (at least one).
    """
    hold = max(cooldown_days, 1)
    opened, standing = np.zeros(fires.shape, bool), np.zeros(fires.shape, bool)
    last = np.full(fires.shape[0], -(10**9), np.int64)
    for k in range(fires.shape[1]):
        was_open = (k - 1 - last) < hold
        opened[:, k] = fires[:, k] & ~was_open
        last = np.where(fires[:, k], k, last)
        standing[:, k] = (k - last) < hold
    return opened, standing
