"""Playbook rules as data: when an account needs a CS action, and which actions to take.

A playbook has conditions (all must hold, or any with ``match: any``) over an account's
state right after it was scored, a cooldown so one decline does not page a CSM every day,
and actions (outreach log entry, signed webhook, Slack message, Redis queue/channel).
Evaluation here is pure: the state is assembled by ``playbooks.service`` from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from healthscore.scoring.scorecard import Tier, Trend, format_validation_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class AccountState:
    """What the rules can see about one account at evaluation time."""

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


class ScoreBelow(_Strict):
    kind: Literal["score_below"]
    score: int = Field(ge=1, le=100)

    def holds(self, s: AccountState) -> str | None:
        return f"score {s.score} is below {self.score}" if s.score < self.score else None


class TierIs(_Strict):
    """In one of ``tiers``, optionally only with a given trend (seed 000: at_risk + declining)."""

    kind: Literal["tier"]
    tiers: list[Tier] = Field(min_length=1)
    trend: Trend | None = None

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

    def holds(self, s: AccountState) -> str | None:
        before = s.scores_ago.get(self.days)
        if before is None or before - s.score < self.points:
            return None
        return f"score dropped {before - s.score} points in {self.days} days ({before} → {s.score})"


class NoLogin(_Strict):
    """No login for ``days``; optionally only for some segments or plans (seed 000)."""

    kind: Literal["no_login"]
    days: int = Field(ge=1, le=365)
    segments: list[str] | None = None
    plans: list[str] | None = None

    def holds(self, s: AccountState) -> str | None:
        if self.segments and s.segment not in self.segments:
            return None
        if self.plans and s.plan not in self.plans:
            return None
        if s.days_since_login is not None and s.days_since_login < self.days:
            return None
        if s.days_since_login is None:
            return "no login ever recorded"
        return f"no login for {int(s.days_since_login)} days"


class PaymentFailed(_Strict):
    kind: Literal["payment_failed"]
    days: int = Field(default=1, ge=1, le=365)

    def holds(self, s: AccountState) -> str | None:
        count = s.failed_payments.get(self.days, 0)
        return f"{count} failed payment(s) in {self.days} day(s)" if count else None


class NpsDetractor(_Strict):
    kind: Literal["nps_detractor"]
    days: int = Field(default=1, ge=1, le=365)

    def holds(self, s: AccountState) -> str | None:
        count = s.detractors.get(self.days, 0)
        return f"{count} NPS detractor answer(s) in {self.days} day(s)" if count else None


class SignalBelow(_Strict):
    kind: Literal["signal_below"]
    signal: str
    value: float = Field(gt=0, le=1, description="normalised value 0-1")

    def holds(self, s: AccountState) -> str | None:
        current = s.signal_values.get(self.signal)
        if current is None or current >= self.value:
            return None
        return f"{self.signal} at {current:.2f} (below {self.value:g})"


Condition = Annotated[
    ScoreBelow
    | TierIs
    | TierChanged
    | ScoreDropped
    | NoLogin
    | PaymentFailed
    | NpsDetractor
    | SignalBelow,
    Field(discriminator="kind"),
]


class OutreachAction(_Strict):
    kind: Literal["outreach"]
    owner: str | None = None
    next_step: str = ""


class WebhookAction(_Strict):
    """POST a JSON body signed with HMAC-SHA256 over ``timestamp.body``."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret_env: str = Field(
        pattern=r"^HEALTHSCORE_[A-Z0-9_]+$",
        description="environment variable holding this endpoint's signing secret",
    )


class SlackAction(_Strict):
    kind: Literal["slack"]
    url_env: str = Field(pattern=r"^HEALTHSCORE_[A-Z0-9_]+$")


class RedisAction(_Strict):
    """Seed 000's ``notification:queue`` list and a pub/sub channel."""

    kind: Literal["redis"]
    queue: str = "notification:queue"
    channel: str | None = "healthscore:alerts"


Action = Annotated[
    OutreachAction | WebhookAction | SlackAction | RedisAction, Field(discriminator="kind")
]


class Playbook(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    description: str = ""
    when: list[Condition] = Field(min_length=1)
    match: Literal["all", "any"] = "all"
    cooldown_days: int = Field(default=7, ge=0, le=365)
    actions: list[Action] = Field(min_length=1)

    def evaluate(self, state: AccountState) -> list[str] | None:
        """Reasons the playbook fires for ``state``, or None when it does not."""
        reasons = [c.holds(state) for c in self.when]
        met = [r for r in reasons if r is not None]
        fires = len(met) == len(reasons) if self.match == "all" else bool(met)
        return met if fires else None

    def lookbacks(self) -> tuple[set[int], set[int], set[int]]:
        """Days of score history, failed payments and detractors the conditions read."""
        scores = {c.days for c in self.when if isinstance(c, ScoreDropped)}
        payments = {c.days for c in self.when if isinstance(c, PaymentFailed)}
        nps = {c.days for c in self.when if isinstance(c, NpsDetractor)}
        return scores, payments, nps


class PlaybookSet(_Strict):
    version: int = Field(ge=1)
    playbooks: list[Playbook] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> PlaybookSet:
        names = [p.name for p in self.playbooks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate playbook names: {', '.join(duplicates)}")
        return self

    def lookbacks(self) -> tuple[set[int], set[int], set[int]]:
        scores: set[int] = set()
        payments: set[int] = set()
        nps: set[int] = set()
        for p in self.playbooks:
            s, pay, n = p.lookbacks()
            scores |= s
            payments |= pay
            nps |= n
        return scores, payments, nps


@dataclass(frozen=True)
class Firing:
    playbook: Playbook
    state: AccountState
    reasons: list[str]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def evaluate(playbooks: PlaybookSet, states: list[AccountState]) -> list[Firing]:
    firings = []
    for state in states:
        for playbook in playbooks.playbooks:
            reasons = playbook.evaluate(state)
            if reasons is not None:
                firings.append(Firing(playbook, state, reasons))
    return firings


class PlaybookError(ValueError):
    """A playbook file that cannot be used; the message names the field at fault."""


BUNDLED = "default"


def load_playbooks(location: str | Path = BUNDLED) -> PlaybookSet:
    """The bundled playbooks (``default``) or a YAML file at ``location``."""
    if isinstance(location, str) and location == BUNDLED:
        text = resources.files("healthscore.playbooks").joinpath("default.yaml").read_text("utf-8")
        origin = "bundled playbooks"
    else:
        path = Path(location)
        if not path.is_file():
            raise PlaybookError(f"playbook file {str(location)!r} not found")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PlaybookError(f"{origin}: not valid YAML: {error}") from error
    try:
        return PlaybookSet.model_validate(data)
    except ValidationError as error:
        raise PlaybookError(f"{origin}: {format_validation_error(error)}") from error
