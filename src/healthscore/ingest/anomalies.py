"""What ingest refused or had to correct, counted for the data-quality view (``quality``).

Two kinds of evidence that a sender is misconfigured, which the stored data alone cannot
show because the events never got in:

* **unknown accounts**: events refused because the account they name does not exist, or
  because they name none and their user belongs to no account (key ``""``); per source
  and account key, with how many and when first and last seen;
* **clock skew**: timestamps refused as being in the future (``future``), and Segment
  messages whose ``sentAt`` is more than ``SENT_AT_SKEW`` away from the moment they were
  received (``sent_at``: corrected and kept); per source, kind and day, with the worst.

Counters are written in the transaction of the ingest they describe: an accepted request
commits them with its data, a refused one rolls its data back and commits only them
(``record_refusal``), so a refused request changes nothing but its counters.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from healthscore.ingest.records import FutureTimestamp, InvalidFact, UnknownAccount
from healthscore.storage import job_models as jm
from healthscore.storage.dialect import add_or_insert

log = logging.getLogger(__name__)

Source = Literal["segment", "api", "csv"]
SENT_AT_SKEW = timedelta(minutes=5)
"""A Segment ``sentAt`` further than this from the receive time is a clock worth fixing:
Segment's correction keeps the event's time right, but only as right as that clock was
steady between the event and the send."""


@dataclass
class Anomalies:
    """What one request (or import) saw, before it is written."""

    unknown: Counter[str] = field(default_factory=Counter)
    """Refused events per account key as sent (``""``: none named, user unlinked)."""
    future: list[float] = field(default_factory=list)
    """Seconds ahead of the server's clock, per timestamp refused as in the future."""
    sent_at: list[float] = field(default_factory=list)
    """Seconds between ``sentAt`` and receipt, per message beyond ``SENT_AT_SKEW``."""

    def __bool__(self) -> bool:
        return bool(self.unknown or self.future or self.sent_at)

    def note_refused(self, problems: Iterable[InvalidFact]) -> None:
        """Count the refusals that are anomalies (other problems are the sender's bugs
        and are answered, not counted)."""
        for problem in problems:
            if isinstance(problem, UnknownAccount):
                self.unknown[problem.account_key] += 1
            elif isinstance(problem, FutureTimestamp):
                self.future.append(problem.ahead.total_seconds())

    def note_sent_at(self, skews: Sequence[timedelta]) -> None:
        self.sent_at.extend(abs(s.total_seconds()) for s in skews if abs(s) > SENT_AT_SKEW)


def record(session: Session, source: Source, anomalies: Anomalies, *, now: datetime) -> None:
    """Add the counts to the counters, inside the caller's transaction."""
    if anomalies.unknown:
        add_or_insert(
            session,
            jm.UnknownAccountEvents.__table__,  # type: ignore[arg-type]
            [
                {
                    "source": source,
                    "account_key": key[:255],
                    "events": count,
                    "first_seen": now,
                    "last_seen": now,
                }
                for key, count in anomalies.unknown.items()
            ],
            key=["source", "account_key"],
            add=["events"],
            greatest=["last_seen"],
        )
    skews = [(kind, values) for kind, values in _kinds(anomalies) if values]
    if skews:
        add_or_insert(
            session,
            jm.ClockSkew.__table__,  # type: ignore[arg-type]
            [
                {
                    "source": source,
                    "kind": kind,
                    "day": now.date(),
                    "events": len(values),
                    "worst_seconds": max(values),
                    "last_seen": now,
                }
                for kind, values in skews
            ],
            key=["source", "kind", "day"],
            add=["events"],
            greatest=["worst_seconds", "last_seen"],
        )


def _kinds(anomalies: Anomalies) -> list[tuple[str, list[float]]]:
    return [("future", anomalies.future), ("sent_at", anomalies.sent_at)]


def record_refusal(
    session: Session, source: Source, anomalies: Anomalies, *, now: datetime
) -> None:
    """After a refused request was rolled back: commit its counters alone. A failure here
    is logged and swallowed, so the sender still gets the refusal it caused."""
    if not anomalies:
        return
    try:
        with session.begin():
            record(session, source, anomalies, now=now)
    except SQLAlchemyError:
        log.exception("could not count the anomalies of a refused %s request", source)
