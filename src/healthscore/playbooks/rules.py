"""Playbook rules as data: when an account needs a CS action, and which actions to take.

A playbook has conditions (all must hold, or any with ``match: any``) over an account's
state right after it was scored, actions (the case in the outreach log, signed webhook,
Slack message, Redis queue/channel) and the settings of the case it opens: starting
severity, when it escalates, when it resolves itself (``playbooks.case_rules``).
Evaluation here is pure: the state is assembled by ``playbooks.service`` from the database.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from healthscore.playbooks.conditions import (
    READS_LOGINS,
    AccountState,
    ChildrenMrrAtRisk,
    Condition,
    NoLogin,
    NpsDetractor,
    OnboardingNotStarted,
    PaymentFailed,
    ScoreBelow,
    ScoreDropped,
    SignalBelow,
    TierChanged,
    TierIs,
)
from healthscore.scoring.scorecard_loading import BundledLoader, format_validation_error

__all__ = [
    "BUNDLED",
    "DEFAULT_MIN_CONFIDENCE",
    "SEVERITIES",
    "AccountState",
    "Action",
    "ChildrenMrrAtRisk",
    "Condition",
    "Escalation",
    "Firing",
    "Judgement",
    "NoLogin",
    "NpsDetractor",
    "OnboardingNotStarted",
    "OutreachAction",
    "PaymentFailed",
    "Playbook",
    "PlaybookError",
    "PlaybookSet",
    "RedisAction",
    "ScoreBelow",
    "ScoreDropped",
    "Severity",
    "SignalBelow",
    "SlackAction",
    "TierChanged",
    "TierIs",
    "WebhookAction",
    "evaluate",
    "judge",
    "judge_all",
    "load_playbooks",
]

Severity = Literal["normal", "high", "urgent"]
SEVERITIES: tuple[Severity, ...] = ("normal", "high", "urgent")
DEFAULT_MIN_CONFIDENCE = 0.6
"""The scorecard's ``lifecycle.min_confidence`` default: below it a score fires no
threshold or tier condition."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class EmailAction(_Strict):
    """A plain-text email to fixed addresses through the SMTP server in the settings
    (``HEALTHSCORE_SMTP_HOST`` …); without one configured the message is skipped."""

    kind: Literal["email"]
    to: list[Annotated[str, Field(pattern=r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")]] = Field(
        min_length=1, max_length=50
    )
    subject_prefix: str = Field(default="[healthscore]", max_length=100)


Action = Annotated[
    OutreachAction | WebhookAction | SlackAction | RedisAction | EmailAction,
    Field(discriminator="kind"),
]


class Escalation(_Strict):
    """When an unresolved case gets one step more severe (``normal → high → urgent``):
    for each ``score_drop`` points the score fell below its value when the case opened,
    and for each tier it worsened since (``tier_worsened``), whichever is more."""

    score_drop: int | None = Field(default=15, ge=1, le=100)
    tier_worsened: bool = True


class Playbook(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    description: str = ""
    when: list[Condition] = Field(min_length=1)
    match: Literal["all", "any"] = "all"
    cooldown_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="a condition back (after clearing) within this many days of its "
        "case's resolution reopens that case; later, it opens a new one",
    )
    severity: Severity = "normal"
    escalate: Escalation | None = Escalation()
    """None: the case never escalates."""
    auto_resolve_days: int | None = Field(
        default=7,
        ge=0,
        le=365,
        description="resolve the case (actor system) once its condition has been clear "
        "this many days; null: only people resolve it",
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="this playbook's own floor for score and tier conditions (default: "
        "the playbook file's min_confidence)",
    )
    actions: list[Action] = Field(min_length=1)

    def evaluate(
        self, state: AccountState, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE
    ) -> list[str] | None:
        """Reasons the playbook fires for ``state``, or None when it does not."""
        return judge(self, state, min_confidence=min_confidence).reasons

    def lookbacks(self) -> tuple[set[int], set[int], set[int]]:
        """Days of score history, failed payments and detractors the conditions read."""
        scores = {c.days for c in self.when if isinstance(c, ScoreDropped)}
        payments = {c.days for c in self.when if isinstance(c, PaymentFailed)}
        nps = {c.days for c in self.when if isinstance(c, NpsDetractor)}
        return scores, payments, nps

    @property
    def reads_logins(self) -> bool:
        return any(isinstance(c, READS_LOGINS) for c in self.when)

    @property
    def reads_children(self) -> bool:
        return any(isinstance(c, ChildrenMrrAtRisk) for c in self.when)

    @property
    def notifies(self) -> bool:
        """Whether the playbook has actions beyond its case (webhook, Slack, Redis)."""
        return any(not isinstance(a, OutreachAction) for a in self.actions)

    def outreach(self) -> OutreachAction | None:
        return next((a for a in self.actions if isinstance(a, OutreachAction)), None)


class PlaybookSet(_Strict):
    version: int = Field(ge=1)
    min_confidence: float = Field(
        default=DEFAULT_MIN_CONFIDENCE,
        ge=0,
        le=1,
        description="below this score confidence, score_below, tier, tier_changed and "
        "score_dropped never hold (the scorecard's lifecycle.min_confidence default)",
    )
    playbooks: list[Playbook] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> PlaybookSet:
        names = [p.name for p in self.playbooks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate playbook names: {', '.join(duplicates)}")
        return self

    def min_confidence_of(self, playbook: Playbook) -> float:
        if playbook.min_confidence is not None:
            return playbook.min_confidence
        return self.min_confidence

    def named(self, name: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.name == name), None)

    def only(self, names: Collection[str] | None) -> PlaybookSet:
        """The same file with only the playbooks ``names`` holds (all for None)."""
        return self.model_copy(
            update={"playbooks": [p for p in self.playbooks if names is None or p.name in names]}
        )

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


@dataclass(slots=True)
class Judgement:
    """What one playbook says about one account: fires (with reasons), or not; and
    whether a "not" is certain or only the result of a score too uncertain to judge.

    Not frozen, though nothing changes it once made: a full rescore makes one per account
    and playbook (180,000 at 20,000 accounts), and a frozen dataclass's ``__init__``
    (each field through ``object.__setattr__``) took twice as long (0.24 against 0.12 s)."""

    playbook: Playbook
    state: AccountState
    reasons: list[str] | None
    certain: bool = True
    """False when a score or tier condition was skipped for low confidence."""
    confident: bool = True
    """The score is at or above the playbook's ``min_confidence`` (escalation uses it)."""

    @property
    def fires(self) -> bool:
        return self.reasons is not None


@dataclass(frozen=True)
class Firing:
    playbook: Playbook
    state: AccountState
    reasons: list[str]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class _Rule:
    """A playbook ready to judge many accounts: its floor, and its conditions split once
    by whether a low confidence skips them (the nightly run judges every account with
    every playbook: 180,000 judgements for 20,000 accounts)."""

    playbook: Playbook
    min_confidence: float
    every: tuple[Condition, ...]
    facts: tuple[Condition, ...]
    """The conditions still judged below ``min_confidence`` (not ``judges_score``)."""
    match_all: bool

    @classmethod
    def of(cls, playbook: Playbook, min_confidence: float) -> _Rule:
        every = tuple(playbook.when)
        facts = tuple(c for c in every if not c.judges_score)
        return cls(playbook, min_confidence, every, facts, playbook.match == "all")

    def judge(self, state: AccountState) -> Judgement:
        confident = state.confidence >= self.min_confidence
        judged = self.every if confident else self.facts
        skipped = len(judged) < len(self.every)
        met = [r for r in [c.holds(state) for c in judged] if r is not None]
        if self.match_all:
            fires = not skipped and len(met) == len(judged)
            # Unknown only if the skipped conditions are all that kept it from firing.
            certain = fires or len(met) < len(judged) or not skipped
        else:
            fires = bool(met)
            certain = fires or not skipped
        return Judgement(self.playbook, state, met if fires else None, certain, confident)


def judge(playbook: Playbook, state: AccountState, *, min_confidence: float) -> Judgement:
    """Evaluate every condition; below ``min_confidence`` the score-judging ones count as
    not holding, and a playbook that then does not fire is not certain to be clear."""
    return _Rule.of(playbook, min_confidence).judge(state)


def judge_all(playbooks: PlaybookSet, states: list[AccountState]) -> list[Judgement]:
    """Every (account, playbook) judgement, accounts in order, playbooks in file order."""
    rules = [_Rule.of(p, playbooks.min_confidence_of(p)) for p in playbooks.playbooks]
    return [rule.judge(s) for s in states for rule in rules]


def evaluate(playbooks: PlaybookSet, states: list[AccountState]) -> list[Firing]:
    return [
        Firing(j.playbook, j.state, j.reasons)
        for j in judge_all(playbooks, states)
        if j.reasons is not None
    ]


class PlaybookError(ValueError):
    """A playbook file that cannot be used; the message names the field at fault."""


BUNDLED = "default"


def load_playbooks(location: str | Path = BUNDLED) -> PlaybookSet:
    """The bundled playbooks (``default``) or a YAML file at ``location``."""
    if isinstance(location, str) and location == BUNDLED:
        # libyaml for the file we ship (every server start reads it), as for scorecards
        data: Any = yaml.load(bundled_playbooks_yaml(), Loader=BundledLoader)
        return _validated(data, origin="bundled playbooks")
    path = Path(location)
    if not path.is_file():
        raise PlaybookError(f"playbook file {str(location)!r} not found")
    origin = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PlaybookError(f"{origin}: not valid YAML: {error}") from error
    return _validated(data, origin=origin)


def bundled_playbooks_yaml() -> str:
    return resources.files("healthscore.playbooks").joinpath("default.yaml").read_text("utf-8")


def _validated(data: Any, *, origin: str) -> PlaybookSet:
    try:
        return PlaybookSet.model_validate(data)
    except ValidationError as error:
        raise PlaybookError(f"{origin}: {format_validation_error(error)}") from error
