"""A playbook dry run: what a rescore would do to cases now, with nothing written.

It reads exactly what a real rescore reads — the scores are computed as ``score_accounts``
would save them (with their trends), the account states, judgements and each account's
latest cases come from ``playbooks.service.plan``, the very plan a real run then writes —
and stops before the first write, so it is safe against a live database and costs no
rollback. Each firing says whether it would **open** a case, **update** or **escalate**
the unresolved one, **reopen** a resolved one, or change **nothing**; it also counts the
cases that would be resolved (condition clear long enough) or woken (snooze over).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy.orm import Session

from healthscore.playbooks.case_rules import Outcome, Step
from healthscore.playbooks.rules import Firing, PlaybookSet
from healthscore.playbooks.service import plan
from healthscore.scoring.engine import HealthScore
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.service import ScoringRun, score_without_saving, trend_references
from healthscore.timeutc import utc


@dataclass(frozen=True)
class PlaybookDryRun:
    """Every firing the rules match, in the order a real run evaluates them, and what
    the run would do for each account and playbook."""

    as_of: datetime
    firings: list[Firing]
    steps: list[Step]

    def outcome(self, firing: Firing) -> Outcome:
        """What the run would do for this firing (``open``, ``update``, ``escalate``,
        ``reopen`` or ``nothing``)."""
        return self._by_pair.get((firing.state.customer_id, firing.playbook.name), Outcome.nothing)

    def case_id(self, firing: Firing) -> int | None:
        """The case the firing would update (None for a new one)."""
        step = self._steps.get((firing.state.customer_id, firing.playbook.name))
        return step.case.id if step is not None and step.case is not None else None

    def logs(self, firing: Firing) -> bool:
        """Whether the firing would open a case."""
        return self.outcome(firing) is Outcome.open

    @cached_property
    def _steps(self) -> dict[tuple[str, str], Step]:
        return {(s.state.customer_id, s.playbook.name): s for s in self.steps}

    @cached_property
    def _by_pair(self) -> dict[tuple[str, str], Outcome]:
        return {pair: s.outcome for pair, s in self._steps.items()}

    @property
    def would_log(self) -> frozenset[tuple[str, str]]:
        """(customer, playbook) pairs that would get a new case."""
        return frozenset(
            (s.state.customer_id, s.playbook.name) for s in self.steps if s.outcome is Outcome.open
        )

    @property
    def counts(self) -> dict[str, int]:
        """Steps per outcome, every outcome present."""
        found = Counter(s.outcome for s in self.steps)
        return {o.value: found[o] for o in Outcome}

    @property
    def logged(self) -> int:
        """Cases a real run would open (``PlaybookRun.logged``)."""
        return len(self.would_log)

    @property
    def suppressed(self) -> int:
        return len(self.firings) - self.logged


def dry_run(
    session: Session, *, scorecard: Scorecard, playbooks: PlaybookSet, as_of: datetime
) -> PlaybookDryRun:
    """Score every active account at ``as_of`` in memory and plan ``playbooks``' cases."""
    as_of = utc(as_of)
    planned = plan(session, playbooks, scores_at(session, scorecard, as_of), as_of=as_of)
    return PlaybookDryRun(as_of=as_of, firings=planned.firings, steps=planned.steps)


def scores_at(session: Session, scorecard: Scorecard, as_of: datetime) -> list[HealthScore]:
    """The scores ``score_accounts`` would save at ``as_of``, trends included (the trend
    compares with history one window back, as a real run does), ordered by account."""
    previous = trend_references(session, scorecard, as_of=as_of)
    batches = score_without_saving(session, scorecard, as_of=as_of, previous=previous)
    return ScoringRun(as_of=as_of, batches=batches, churned=[]).scores
