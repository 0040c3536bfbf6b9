"""What a playbook can ask about an account: its state after scoring, and the conditions.

Each condition's ``holds`` says why it holds (a reason for the CSM) or None. Conditions
that judge the score itself (``JUDGES_SCORE``) are only trusted when the score rests on
enough data: ``rules.Playbook`` skips them below ``min_confidence``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from healthscore.scoring.labels import Tier, Trend


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(slots=True)
class AccountState:
    """What the rules can see about one account at evaluation time.

    Not frozen, though nothing changes it once made: a frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__``, and a full rescore makes one per
    account (20,000 at 20,000 accounts), read by every playbook's conditions."""

    customer_id: str
    name: str
    segment: str
    plan: str
    score: int
    tier: str
    trend: str
    previous_tier: str | None
    scores_ago: dict[int, int] = field(default_factory=dict)
    """Score ``d`` days earlier, for each ``d`` the rules ask about (from history)."""
    signal_values: dict[str, float] = field(default_factory=dict)
    days_since_login: float | None = None
    """None: no login ever recorded."""
    failed_payments: dict[int, int] = field(default_factory=dict)
    """Failed payments in the last ``d`` days, for each ``d`` the rules ask about."""
    detractors: dict[int, int] = field(default_factory=dict)
    """NPS answers 0-6 in the last ``d`` days."""
    stage: str = "mature"
    """Lifecycle stage of the score (``scoring.lifecycle``)."""
    confidence: float = 1.0
    """Share of the score's weight resting on enough data (0-1)."""
    age_days: float | None = None
    """Days since the account was created."""
    children: tuple[tuple[float, str], ...] = ()
    """A parent's active children, each as (MRR, tier), when a rule asks about them."""


class ScoreBelow(_Strict):
    kind: Literal["score_below"]
    score: int = Field(ge=1, le=100)
    judges_score: ClassVar[bool] = True

    def holds(self, s: AccountState) -> str | None:
        return f"score {s.score} is below {self.score}" if s.score < self.score else None


class TierIs(_Strict):
    """In one of ``tiers``, optionally only with a given trend (seed 000: at_risk + declining)."""

    kind: Literal["tier"]
    tiers: list[Tier] = Field(min_length=1)
    trend: Trend | None = None
    judges_score: ClassVar[bool] = True

    def holds(self, s: AccountState) -> str | None:
        if s.tier not in self.tiers or (self.trend and s.trend != self.trend):
            return None
        return f"tier {s.tier}" + (f" and {s.trend}" if self.trend else "")


class TierChanged(_Strict):
    """The tier differs from the previous score's; ``from``/``to`` narrow the transition."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    kind: Literal["tier_changed"]
    from_tiers: list[Tier] | None = Field(default=None, alias="from")
    to_tiers: list[Tier] | None = Field(default=None, alias="to")
    judges_score: ClassVar[bool] = True

    def holds(self, s: AccountState) -> str | None:
        if s.previous_tier is None or s.previous_tier == s.tier:
            return None
        if self.from_tiers and s.previous_tier not in self.from_tiers:
            return None
        if self.to_tiers and s.tier not in self.to_tiers:
            return None
        return f"tier changed {s.previous_tier} → {s.tier}"


class ScoreDropped(_Strict):
    kind: Literal["score_dropped"]
    points: int = Field(ge=1, le=100)
    days: int = Field(ge=1, le=365)
    judges_score: ClassVar[bool] = True

    def holds(self, s: AccountState) -> str | None:
        before = s.scores_ago.get(self.days)
        if before is None or before - s.score < self.points:
            return None
        return f"score dropped {before - s.score} points in {self.days} days ({before} → {s.score})"


class NoLogin(_Strict):
    """Logins stopped for ``days``; optionally only for some segments or plans (seed 000).

    An account that never logged in has not *stopped*: that is ``onboarding_not_started``.
    Nor does it fire while the account is in its onboarding stage.
    """

    kind: Literal["no_login"]
    days: int = Field(ge=1, le=365)
    segments: list[str] | None = None
    plans: list[str] | None = None
    judges_score: ClassVar[bool] = False

    def holds(self, s: AccountState) -> str | None:
        if self.segments and s.segment not in self.segments:
            return None
        if self.plans and s.plan not in self.plans:
            return None
        if s.days_since_login is None or s.stage == "onboarding":
            return None
        if s.days_since_login < self.days:
            return None
        return f"no login for {int(s.days_since_login)} days"


class OnboardingNotStarted(_Strict):
    """Older than its grace period and no seat has ever logged in: the kickoff never
    happened. ``grace_days_by_segment`` gives some segments longer (enterprise rollouts)."""

    kind: Literal["onboarding_not_started"]
    grace_days: int = Field(default=14, ge=0, le=365)
    grace_days_by_segment: dict[str, Annotated[int, Field(ge=0, le=365)]] = Field(
        default_factory=dict
    )
    segments: list[str] | None = None
    judges_score: ClassVar[bool] = False

    def grace_for(self, segment: str) -> int:
        return self.grace_days_by_segment.get(segment, self.grace_days)

    def holds(self, s: AccountState) -> str | None:
        if self.segments and s.segment not in self.segments:
            return None
        if s.days_since_login is not None or s.age_days is None:
            return None
        grace = self.grace_for(s.segment)
        if s.age_days < grace:
            return None
        return (
            f"no one has logged in {int(s.age_days)} days after the account was created "
            f"(grace period {grace} days)"
        )


class PaymentFailed(_Strict):
    kind: Literal["payment_failed"]
    days: int = Field(default=1, ge=1, le=365)
    judges_score: ClassVar[bool] = False

    def holds(self, s: AccountState) -> str | None:
        count = s.failed_payments.get(self.days, 0)
        return f"{count} failed payment(s) in {self.days} day(s)" if count else None


class NpsDetractor(_Strict):
    kind: Literal["nps_detractor"]
    days: int = Field(default=1, ge=1, le=365)
    judges_score: ClassVar[bool] = False

    def holds(self, s: AccountState) -> str | None:
        count = s.detractors.get(self.days, 0)
        return f"{count} NPS detractor answer(s) in {self.days} day(s)" if count else None


class SignalBelow(_Strict):
    kind: Literal["signal_below"]
    signal: str
    value: float = Field(gt=0, le=1, description="normalised value 0-1")
    judges_score: ClassVar[bool] = False

    def holds(self, s: AccountState) -> str | None:
        current = s.signal_values.get(self.signal)
        if current is None or current >= self.value:
            return None
        return f"{self.signal} at {current:.2f} (below {self.value:g})"


class ChildrenMrrAtRisk(_Strict):
    """A parent account (``docs/hierarchy.md``) with at least ``share`` of its active
    children's MRR in ``tiers`` (by count when every child is at MRR 0)."""

    kind: Literal["children_mrr_at_risk"]
    share: float = Field(gt=0, le=1, description="part of the children's MRR, 0-1")
    tiers: list[Tier] = Field(default=[Tier.at_risk, Tier.critical], min_length=1)
    judges_score: ClassVar[bool] = False  # the children's scores, not this account's

    def holds(self, s: AccountState) -> str | None:
        if not s.children:
            return None
        total = sum(mrr for mrr, _ in s.children)
        risky = [mrr for mrr, tier in s.children if tier in self.tiers]
        share = sum(risky) / total if total > 0 else len(risky) / len(s.children)
        if share < self.share:
            return None
        return (
            f"{share:.0%} of the children's MRR is {' or '.join(self.tiers)} "
            f"({len(risky)} of {len(s.children)} children)"
        )


Condition = Annotated[
    ScoreBelow
    | TierIs
    | TierChanged
    | ScoreDropped
    | NoLogin
    | OnboardingNotStarted
    | PaymentFailed
    | NpsDetractor
    | SignalBelow
    | ChildrenMrrAtRisk,
    Field(discriminator="kind"),
]

READS_LOGINS = (NoLogin, OnboardingNotStarted)
"""Conditions that need the account's last login."""
