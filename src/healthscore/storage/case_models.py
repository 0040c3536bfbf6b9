"""Cases: what CS does about an account (seed 001's ``proactiveOutreachLog``) and the
audit trail of every change to one (``case_events``).

Playbooks open and update cases (``playbooks.case_rules``); people work them through the
API and the dashboard. At most one unresolved case per account and playbook: the partial
unique index is declared in ``schema`` (``UNRESOLVED_CASE``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from healthscore.storage.models import Base, BigId, customer_fk


class OutreachEntry(Base):
    """A case: one CS action for an account and playbook (seed 001's ``proactiveOutreachLog``).

    ``status`` is the case state (``open``, ``acknowledged``, ``snoozed``, ``resolved``);
    at most one case per account and playbook is unresolved (the partial unique index,
    declared in ``schema``). A playbook firing again updates that case (``evidence``,
    ``last_seen_at``, ``severity``) instead of logging a new entry; ``cleared_at`` is the
    first run without a firing since ``last_seen_at`` (hysteresis and auto-resolve:
    ``playbooks.case_rules``). Changes are recorded in ``case_events``.
    """

    __tablename__ = "outreach_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(customer_fk(), index=True)
    playbook: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]]
    """The account when the case opened (score, tier, signals…)."""
    owner: Mapped[str | None] = mapped_column(String(255))
    next_step: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    severity: Mapped[str] = mapped_column(String(16), default="normal", server_default="normal")
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    """Each run that fired for the case: ``{asOf, score, tier, trend, reason}``, oldest first."""
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)
    snoozed_until: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(String(32), default=None)
    """``done``, ``dismissed``, ``cleared`` (resolved by the system) or ``merged``."""
    previous_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("outreach_log.id", ondelete="SET NULL"), default=None
    )
    """The resolved case of the same account and playbook that this one follows."""


class CaseEvent(Base):
    """One change of a case: who, when, from which state to which, and why.

    The audit trail of cases: written by people (``api:<key name>``,
    ``dashboard:<key name>``) and by the rules (``system``); never updated.
    """

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("outreach_log.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str] = mapped_column(customer_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_key: Mapped[str | None] = mapped_column(String(255), default=None)
    """The ``Idempotency-Key`` of the request that made the change, if it sent one."""
