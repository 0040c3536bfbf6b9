"""What customer-success people record by hand: sentiment, score overrides, and the
append-only audit log of every manual change (``healthscore.audit``).

Kept apart from ``models`` (facts the product observes) because these rows are opinions
and decisions: each carries who made it, when and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from healthscore.storage.models import Base, BigId, customer_fk


class AuditEntry(Base):
    """One manual change: who, when, what (``kind`` and ``subject``), old → new, why.

    Written in the transaction of the change itself, never updated or deleted (erasing an
    account erases its entries with it, like every other row about it)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[str | None] = mapped_column(customer_fk(), default=None)
    """``None`` for changes that are not about one account (a scorecard change)."""
    kind: Mapped[str] = mapped_column(String(32), index=True)
    """``sentiment``, ``override``, ``case``, ``scorecard``, ``hierarchy``…"""
    subject: Mapped[str] = mapped_column(String(255), default="")
    """What changed inside ``kind``: a measure's name, a case id, a scorecard's identity."""
    change: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """``{"old": …, "new": …}``, JSON values (an object, never a bare number: SQLite would
    read a JSON column holding just ``2`` back as an integer)."""
    reason: Mapped[str] = mapped_column(Text, default="")

    @property
    def old(self) -> Any:
        return self.change.get("old")

    @property
    def new(self) -> Any:
        return self.change.get("new")


class CsmSentiment(Base):
    """A CSM's read of an account (1 = red … 5 = green) with a note, valid for a period.

    It counts in the score (metric ``csm_sentiment``) from ``recorded_at`` until
    ``valid_until`` or until a newer entry replaces it (``superseded_at``), whichever is
    first: stale sentiment stops counting on its own."""

    __tablename__ = "csm_sentiments"
    __table_args__ = (Index("ix_csm_sentiments_customer_recorded", "customer_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    value: Mapped[int] = mapped_column(SmallInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(255))
    recorded_at: Mapped[datetime]
    valid_until: Mapped[datetime]
    superseded_at: Mapped[datetime | None] = mapped_column(default=None)


class ScoreOverride(Base):
    """An admin's hand-set value for an account's final score (``target`` ``score``) or
    for one measure (``target`` a signal name, ``value`` its 0-100 points of full marks).

    Scoring runs keep it (and the computed value beside it) from ``created_at`` until
    ``expires_at`` or its removal, whichever is first."""

    __tablename__ = "score_overrides"
    __table_args__ = (Index("ix_score_overrides_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    target: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_by: Mapped[str | None] = mapped_column(String(255), default=None)
