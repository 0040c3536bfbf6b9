"""Segment's ``alias``: one user id merged into another, as if it had always been the new one.

``alias(previousId → userId)`` says that the person known as ``previousId`` is ``userId``
from now on. In every account where ``previousId`` is a seat or has logged in:

* its raw events (logins, feature uses, engagement events, NPS responses) are re-labelled
  ``userId``;
* its login days (the ``user_activity`` bitmaps that active users and seat-days read) are
  ORed into ``userId``'s, so the roll-ups agree with the raw rows;
* its seat becomes ``userId``'s; where both ids are seats of the account, one seat is
  kept: created at the earlier of the two, removed only if both were (at the later
  removal), with both ids' traits (``userId``'s winning).

Scores are then what they would have been had every event come as ``userId``; the
accounts are marked for rescore by the caller (``ingest.segment``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from healthscore.accounts import alias_repository as repo
from healthscore.storage import models as m


def _merge_seat(session: Session, previous: m.User, kept: m.User) -> None:
    kept.created_at = min(previous.created_at, kept.created_at)
    if previous.removed_at is None or kept.removed_at is None:
        kept.removed_at = None
    else:
        kept.removed_at = max(previous.removed_at, kept.removed_at)
    if previous.traits or kept.traits:
        kept.traits = {**(previous.traits or {}), **(kept.traits or {})}
    session.delete(previous)


def merge_identity(session: Session, previous: str, new: str) -> set[str]:
    """Merge ``previous`` into ``new`` (see above); the accounts it changed."""
    if previous == new:
        return set()
    accounts = repo.accounts_of(session, previous)
    if not accounts:
        return set()
    seats = {
        (s.customer_id, s.user_id): s for s in repo.seats_of(session, accounts, {previous, new})
    }
    for customer_id in accounts:
        old = seats.get((customer_id, previous))
        if old is None:
            continue
        kept = seats.get((customer_id, new))
        if kept is None:
            old.user_id = new
        else:
            _merge_seat(session, old, kept)
    session.flush()
    repo.rename_events(session, accounts, previous, new)
    repo.merge_activity(session, accounts, previous, new)
    return set(accounts)
