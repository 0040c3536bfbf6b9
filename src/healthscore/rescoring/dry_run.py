"""A playbook dry run: which rules would fire now, and which would log, with nothing written.

It reads exactly what a real rescore reads — the scores are computed as ``score_accounts``
would save them (with their trends), the account states and cooldowns come from
``playbooks.service`` — and stops before the first write, so it is safe against a live
database and costs no rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from healthscore.playbooks import repository
from healthscore.playbooks.rules import Firing, PlaybookSet, evaluate
from healthscore.playbooks.service import account_states, cooling_down, entry_key
from healthscore.scoring.engine import HealthScore
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.service import ScoringRun, score_without_saving, trend_references
from healthscore.timeutc import utc


@dataclass(frozen=True)
class PlaybookDryRun:
    """Every firing the rules match, in the order a real run evaluates them."""

    as_of: datetime
    firings: list[Firing]
    would_log: frozenset[tuple[str, str]]
    """(customer, playbook) pairs that would get a new outreach entry: the others are
    inside their cooldown or have logged already that day."""

    def logs(self, firing: Firing) -> bool:
        return (firing.state.customer_id, firing.playbook.name) in self.would_log

    @property
    def logged(self) -> int:
        """Entries a real run would log (``PlaybookRun.logged``)."""
        return len(self.would_log)

    @property
    def suppressed(self) -> int:
        return len(self.firings) - self.logged


def dry_run(
    session: Session, *, scorecard: Scorecard, playbooks: PlaybookSet, as_of: datetime
) -> PlaybookDryRun:
    """Score every active account at ``as_of`` in memory and evaluate ``playbooks``."""
    as_of = utc(as_of)
    states = account_states(session, playbooks, scores_at(session, scorecard, as_of), as_of=as_of)
    firings = evaluate(playbooks, states)
    cooling = cooling_down(session, firings, as_of)
    fresh = {
        entry_key(f, as_of): f
        for f in firings
        if (f.state.customer_id, f.playbook.name) not in cooling
    }
    taken = repository.logged_keys(session, list(fresh))
    return PlaybookDryRun(
        as_of=as_of,
        firings=firings,
        would_log=frozenset(
            (f.state.customer_id, f.playbook.name) for key, f in fresh.items() if key not in taken
        ),
    )


def scores_at(session: Session, scorecard: Scorecard, as_of: datetime) -> list[HealthScore]:
    """The scores ``score_accounts`` would save at ``as_of``, trends included (the trend
    compares with history one window back, as a real run does), ordered by account."""
    previous = trend_references(session, scorecard, as_of=as_of)
    batches = score_without_saving(session, scorecard, as_of=as_of, previous=previous)
    return ScoringRun(as_of=as_of, batches=batches, churned=[]).scores
