"""Tables of the service's own work: messages seen, the ingest journal and what ingest
refused or corrected, the delivery outbox, accounts waiting for a rescore, rescore runs and
their shards, and saved backtests (the calibrations fitted from history are in
``calibration_models``).

They sit on ``models.Base`` beside the account tables (``schema`` lists them all).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from healthscore.storage.models import Base, BigId, customer_fk


class ProcessedMessage(Base):
    """Ids of ingested messages (Segment ``messageId``, Stripe event id): at-most-once.

    A retried delivery of an acknowledged message finds its id here and is skipped, so
    clients can retry freely.
    """

    __tablename__ = "processed_messages"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class IngestJournalEntry(Base):
    """One acknowledged request's events, checked and tied to accounts, not yet applied.

    With ``HEALTHSCORE_INGEST_ACK=journaled`` a Segment request is answered once this row
    is committed; a worker applies entries in id order, many per transaction, and deletes
    them in that same transaction (``ingest.journal``). ``payload`` is the events as
    deflated compact JSON: the API writes it once and only the applier reads it.
    """

    __tablename__ = "ingest_journal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    events: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class IngestJournalMark(Base):
    """How far a journal kept outside the database (SQLite's own journal file) has been
    applied: moved in the same transaction as the events it covers, so each entry is
    applied exactly once even though the file and the database commit separately."""

    __tablename__ = "ingest_journal_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    applied_upto: Mapped[int] = mapped_column(BigInteger)


class Delivery(Base):
    """One action of a fired playbook to send (webhook, Slack, Redis): the outbox.

    Written in the same transaction as the outreach entry, sent afterwards by a worker.
    ``idempotency_key`` (entry key + action index) travels with the message so receivers
    can drop retries; ``attempts``/``last_error`` record every try.
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(customer_fk(), index=True)
    playbook: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[dict[str, Any]]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class PendingRescore(Base):
    """Accounts touched by new data since the last near-real-time rescore."""

    __tablename__ = "pending_rescores"

    customer_id: Mapped[str] = mapped_column(customer_fk(), primary_key=True)
    touched_at: Mapped[datetime]


class BacktestRun(Base):
    """A saved ``healthscore backtest``: the API and dashboard show the latest one."""

    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    scorecard: Mapped[str] = mapped_column(String(128))
    horizon_days: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any]]


class RescoreRun(Base):
    """A full rescore split into shards that workers process in parallel."""

    __tablename__ = "rescore_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    as_of: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(index=True)
    shards: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime | None]


class RescoreShard(Base):
    """One id range of a run. ``done`` is committed with the shard's scores, atomically."""

    __tablename__ = "rescore_shards"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("rescore_runs.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_id: Mapped[str] = mapped_column(String(64))
    last_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    accounts: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class UnknownAccountEvents(Base):
    """Events refused at ingest because the account they name does not exist (or they
    name none and their user belongs to no account), counted per source and key: the
    data-quality view's evidence of a client sending ids this service does not know.

    ``account_key`` is the id as sent, ``""`` when none was given. Written in the
    request's own transaction (``ingest.anomalies``); a small table, one row per key.
    """

    __tablename__ = "ingest_unknown_accounts"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class ClockSkew(Base):
    """Timestamps a client's clock got wrong, per source, kind and day: ``future``
    (refused: beyond the allowed skew ahead of the server) and ``sent_at`` (a Segment
    message whose ``sentAt`` differs from the time it was received by more than the
    threshold; Segment's correction was applied and the message kept)."""

    __tablename__ = "ingest_clock_skew"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    worst_seconds: Mapped[float]
    """The largest skew seen that day, in seconds (absolute)."""
    last_seen: Mapped[datetime]


class WebhookSubscription(Base):
    """A receiver of ``score.changed`` / ``tier.changed`` events, without a playbook.

    Created through the API, which shows ``secret`` once; every event is signed with it
    like playbook webhooks. ``min_score_change``: points a score must move (against the
    account's previous score) for ``score.changed``.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    min_score_change: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(255), default="")
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class IdempotentRequest(Base):
    """A write to the JSON API sent with an ``Idempotency-Key``, and the answer it got:
    a retry with the same key (and the same request) gets that answer again instead of
    running twice (``api.idempotency``; Stripe's semantics).

    Keys are per API key (``api_key_id``): two clients may use the same key string.
    ``status`` is NULL while the first request runs (``claimed_until`` bounds how long a
    crashed one blocks its key); rows expire after 24 hours and are purged as new ones
    are claimed.
    """

    __tablename__ = "idempotent_requests"

    api_key_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    claimed_until: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
