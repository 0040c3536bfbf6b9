"""The SQL of merging one user id into another (``accounts.aliases``).

Product events are read by account first (their indexes start with ``customer_id``), so
every statement here is limited to the accounts the merge concerns.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Table, delete, select, union, update
from sqlalchemy.orm import Session

from healthscore.storage import models as m
from healthscore.storage.dialect import add_or_insert

USER_EVENT_TABLES: tuple[
    type[m.Session] | type[m.FeatureUsage] | type[m.EngagementEvent] | type[m.NpsResponse], ...
] = (m.Session, m.FeatureUsage, m.EngagementEvent, m.NpsResponse)
"""The raw tables whose rows name the user who sent them."""


def accounts_of(session: Session, user_id: str) -> list[str]:
    """The accounts ``user_id`` is (or was) a seat of or has logged in to."""
    seats = select(m.User.customer_id).where(m.User.user_id == user_id)
    logins = select(m.UserActivity.customer_id).where(m.UserActivity.user_id == user_id)
    return sorted(set(session.scalars(select(union(seats, logins).subquery().c[0]))))


def seats_of(
    session: Session, customer_ids: Collection[str], user_ids: Collection[str]
) -> list[m.User]:
    """The seat rows of ``user_ids`` in ``customer_ids``."""
    return list(
        session.scalars(
            select(m.User).where(m.User.customer_id.in_(customer_ids), m.User.user_id.in_(user_ids))
        )
    )


def rename_events(session: Session, customer_ids: Collection[str], previous: str, new: str) -> None:
    """Raw events of ``previous`` in ``customer_ids`` become ``new``'s."""
    for model in USER_EVENT_TABLES:
        session.execute(
            update(model)
            .where(model.customer_id.in_(customer_ids), model.user_id == previous)
            .values(user_id=new)
            .execution_options(synchronize_session=False)
        )


def merge_activity(session: Session, customer_ids: Sequence[str], previous: str, new: str) -> None:
    """``previous``'s login days (``user_activity`` bits) ORed into ``new``'s, per account
    and period, and ``previous``'s rows removed: as if every login had come from ``new``."""
    activity = m.UserActivity
    mine = (activity.customer_id.in_(customer_ids), activity.user_id == previous)
    rows = session.execute(
        select(activity.customer_id, activity.period, activity.days).where(*mine)
    ).all()
    if not rows:
        return
    session.execute(delete(activity).where(*mine).execution_options(synchronize_session=False))
    table: Table = activity.__table__  # type: ignore[assignment]
    add_or_insert(
        session,
        table,
        [
            {"customer_id": cid, "user_id": new, "period": period, "days": days}
            for cid, period, days in rows
        ],
        key=["customer_id", "user_id", "period"],
        bit_or=["days"],
    )
