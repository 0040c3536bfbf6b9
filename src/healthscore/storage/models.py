"""The database schema: one typed table per thing a SaaS business knows about an account.

Raw facts (sessions, feature usage, API usage, payments, tickets, NPS, engagement events)
are append-only and time-stamped, so any score can be recomputed *as of* a past moment.
Scores are derived data: ``health_score_history`` keeps one row per account per day and
``health_scores`` the latest one. Cases are in ``case_models``; the service's own work
(journal, outbox, rescore runs, ingest refusals) in ``job_models``, calibrations in
``calibration_models``, CSM input in ``csm_models``; ``schema`` holds every table.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from healthscore.storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite so the rowid alias still auto-increments.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def customer_fk() -> ForeignKey:
    """Every fact belongs to an account and goes when the account is erased.

    The tables have no ``relationship()`` to ``Customer`` (each would add a millisecond to
    every process's start), so SQLAlchemy's unit of work orders their INSERTs in a flush
    by module and class name, not by this key: a new account must be flushed before rows
    that point at it, as ``accounts.repository.upsert_customer`` does."""
    return ForeignKey("customers.id", ondelete="CASCADE")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Customer(Base):
    """An account: the unit that is scored, renews and churns."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    plan: Mapped[str] = mapped_column(String(64), default="")
    segment: Mapped[str] = mapped_column(String(64), default="", index=True)
    mrr: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    created_at: Mapped[datetime]
    churned_at: Mapped[datetime | None]
    renews_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the contract next renews, if known: the score's renewal-window stage."""
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True, default=None
    )
    """The parent account (a subsidiary's group), whose score rolls up its children's
    (``scoring.hierarchy``); never a cycle (``accounts.hierarchy``)."""


class User(Base):
    """A seat on an account."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("customer_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    user_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(index=True)
    removed_at: Mapped[datetime | None]
    traits: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Session(Base):
    """One login / session start (seed 000's ``sessions``)."""

    __tablename__ = "sessions"
    __table_args__ = (
        # Covering, customer-first: scoring's GROUP BY customer_id streams it in order.
        Index("ix_sessions_customer_ts", "customer_id", "ts", "user_id"),
        Index("ix_sessions_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    user_id: Mapped[str | None] = mapped_column(String(255))
    ts: Mapped[datetime]
    product: Mapped[str | None] = mapped_column(String(64), default=None)
    """The product the event is about, if the account uses several (``docs/products.md``)."""


class FeatureUsage(Base):
    """One use of a named product feature."""

    __tablename__ = "feature_usage"
    __table_args__ = (
        Index("ix_feature_usage_customer_ts", "customer_id", "ts", "feature"),
        Index("ix_feature_usage_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    user_id: Mapped[str | None] = mapped_column(String(255))
    feature: Mapped[str] = mapped_column(String(255))
    ts: Mapped[datetime]
    product: Mapped[str | None] = mapped_column(String(64), default=None)
    """The product the event is about, if the account uses several (``docs/products.md``)."""


class ApiUsage(Base):
    """API calls made by an account; ``calls`` lets clients report counts in bulk."""

    __tablename__ = "api_usage"
    __table_args__ = (
        Index("ix_api_usage_customer_ts", "customer_id", "ts", "calls"),
        Index("ix_api_usage_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    ts: Mapped[datetime]
    calls: Mapped[int] = mapped_column(Integer, default=1)
    product: Mapped[str | None] = mapped_column(String(64), default=None)
    """The product the event is about, if the account uses several (``docs/products.md``)."""


class EngagementEvent(Base):
    """Any other product event (seed 001's ``customerEngagementEvents``)."""

    __tablename__ = "engagement_events"
    __table_args__ = (Index("ix_engagement_events_customer_ts", "customer_id", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    user_id: Mapped[str | None] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(128))
    ts: Mapped[datetime] = mapped_column(index=True)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DailySessions(Base):
    """Logins per account and day, and the last one's time: login counts and recency
    read this instead of raw sessions, which retention may drop."""

    __tablename__ = "daily_sessions"

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    logins: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime]


ACTIVITY_PERIOD_DAYS = 64
"""Days per activity row: bit ``i`` of ``days`` is day ``period * 64 + i`` counted from
1970-01-01 (``storage/rollups.py`` converts), so one BIGINT holds a period."""


class UserActivity(Base):
    """On which days each user of an account logged in, one bit per day and one row per
    64 days: distinct active users over a window read about one row per user instead of
    one per user and active day (1.1 M instead of 7.4 M rows for 20,000 accounts over
    90 days), while any window, and so any as-of moment, can still be answered."""

    __tablename__ = "user_activity"
    __table_args__ = ({"sqlite_with_rowid": False},)  # a scan needs no row lookups

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    days: Mapped[int] = mapped_column(BigInteger)


class FeatureActivity(Base):
    """On which days each feature of an account was used (``UserActivity``'s layout):
    distinct features over a window. Use counts stay in ``daily_features``."""

    __tablename__ = "feature_activity"
    __table_args__ = ({"sqlite_with_rowid": False},)  # a scan needs no row lookups

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    feature: Mapped[str] = mapped_column(String(255), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    days: Mapped[int] = mapped_column(BigInteger)


class DailyFeatures(Base):
    """Uses of each feature per account and day: feature events."""

    __tablename__ = "daily_features"

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    feature: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(Integer)


class DailyApiUsage(Base):
    """API calls per account and day."""

    __tablename__ = "daily_api_usage"

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)


class ProductScore(Base):
    """The latest score of each product an account uses (``scoring.products``): written
    by the run that scored the account, replacing that account's earlier rows. The
    account's own (global) score, which combines them, stays in ``health_scores``."""

    __tablename__ = "product_scores"

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[datetime]
    score: Mapped[int] = mapped_column(SmallInteger)
    tier: Mapped[str] = mapped_column(String(16))
    share: Mapped[float]
    """The product's weight in the account's mean of product scores (its activity share)."""
    signals: Mapped[dict[str, Any]]
    """``{"raw": {signal: value}, "value": {…}, "weight": {…}}``, as ``health_scores``."""
    confidence: Mapped[float]
    scorecard: Mapped[str] = mapped_column(String(128))


class Payment(Base):
    """A charge attempt: ``succeeded``, ``failed`` or ``refunded``."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_customer_ts", "customer_id", "ts", "status"),
        Index("ix_payments_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    ts: Mapped[datetime]
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    status: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)


class SupportTicket(Base):
    """A support ticket; the satisfaction ``rating`` (1-5) is known once it is resolved."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        UniqueConstraint("customer_id", "ticket_id"),
        Index("ix_support_tickets_opened", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    ticket_id: Mapped[str] = mapped_column(String(255))
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    severity: Mapped[str] = mapped_column(String(16), default="normal")
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    subject: Mapped[str] = mapped_column(Text, default="")


class NpsResponse(Base):
    """A Net Promoter Score answer (seed 001's ``customerNpsResponses``)."""

    __tablename__ = "nps_responses"
    __table_args__ = (
        Index("ix_nps_responses_customer_ts", "customer_id", "ts", "score"),
        Index("ix_nps_responses_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    user_id: Mapped[str | None] = mapped_column(String(255))
    ts: Mapped[datetime]
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")


class MrrChange(Base):
    """From ``at`` on, a revenue ``stream`` of the account brings in ``mrr`` a month (and
    has ``seats``), until the stream's next change (``until``; ``None`` for its newest).

    A stream is a Stripe subscription (``sub_…``) or, as the CSV and the API send it, the
    account's total (``""``). The account's MRR at a moment t is the sum over its streams
    of the row in force at t (``at < t <= until``): one range read per account, bounded
    by t, so a backtest sees the MRR as it was then. ``ingest.mrr`` keeps ``until`` right
    on every write, a late or backdated row included (ties: the later ``id`` wins).
    """

    __tablename__ = "mrr_changes"
    __table_args__ = (Index("ix_mrr_changes_customer_stream_at", "customer_id", "stream", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk())
    stream: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime]
    until: Mapped[datetime | None] = mapped_column(default=None)
    mrr: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    """In the currency's major units, a month; 0 from a cancellation on."""
    seats: Mapped[int | None] = mapped_column(Integer, default=None)
    source: Mapped[str] = mapped_column(String(16))
    """``stripe``, ``csv`` or ``api``."""
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    """``stripe:<event id>``; ``account:<customer id>:<at>`` for an account total, so a
    re-sent total (CSV re-import, API retry) replaces the row instead of adding one."""


class HealthScoreHistory(Base):
    """One score per account per day: trends, drivers of change and backtests read it.

    Kept compact (group components and per-signal contributions in points) because it
    grows by one row per account per day.
    """

    __tablename__ = "health_score_history"

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    as_of: Mapped[datetime]
    score: Mapped[int] = mapped_column(SmallInteger)
    tier: Mapped[str] = mapped_column(String(16))
    trend: Mapped[str] = mapped_column(String(16))
    components: Mapped[dict[str, Any]]
    contributions: Mapped[dict[str, Any]]
    scorecard: Mapped[str] = mapped_column(String(128))
    stage: Mapped[str | None] = mapped_column(String(16), default=None)
    confidence: Mapped[float | None] = mapped_column(default=None)


class HealthScore(Base):
    """The latest score per account (seed 001's ``customerHealthScores``).

    ``signals`` holds ``{"raw": {signal: value}, "value": {…}, "weight": {…}}``: the raw
    measurement, normalised value and weight that produced the score, so the explanation
    never depends on a scorecard that may since have changed.
    """

    __tablename__ = "health_scores"

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    as_of: Mapped[datetime]
    score: Mapped[int | None] = mapped_column(SmallInteger, index=True)
    tier: Mapped[str] = mapped_column(String(16), index=True)
    trend: Mapped[str] = mapped_column(String(16))
    previous_score: Mapped[int | None] = mapped_column(SmallInteger)
    components: Mapped[dict[str, Any]]
    signals: Mapped[dict[str, Any]]
    drivers: Mapped[dict[str, Any]]
    scorecard: Mapped[str] = mapped_column(String(128))
    calculated_at: Mapped[datetime]
    stage: Mapped[str | None] = mapped_column(String(16), default=None)
    """Lifecycle stage at ``as_of`` (``scoring.lifecycle``); None on rows from before 0009."""
    confidence: Mapped[float | None] = mapped_column(default=None)
    """Share (0-1) of the score's weight that rests on enough data."""


class ApiKey(Base):
    """A credential for the HTTP API. Only a SHA-256 of the key is kept.

    Keys are 256-bit random strings, so a fast hash is as safe as a slow one here (nothing
    to brute-force) and keeps per-request checks cheap. ``prefix`` is the public part that
    finds the row; the rest is compared in constant time against ``key_hash``.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255), default="")
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
