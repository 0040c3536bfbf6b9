"""Storing checked CSV rows in the tables scoring reads: keyed files are upserted, the
rest appended; event lines are routed to the typed tables by ``type``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from healthscore.ingest import mrr
from healthscore.ingest.bulk import BATCH_ROWS, batched, insert_rows
from healthscore.ingest.csv_rows import CsvFile, CsvRow
from healthscore.storage import models as m
from healthscore.storage.dialect import upsert


def _table(model: type[m.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def write_rows(
    session: Session,
    spec: CsvFile,
    rows: Iterable[CsvRow],
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Write one file's rows in batches; ``on_batch(written so far)`` after each."""
    written = 0
    parents: dict[str, str | None] = {}
    for batch in batched((r.stored() for r in rows), BATCH_ROWS):
        if spec.name == "customers.csv":
            for r in batch:
                if "parent_id" in r:
                    parents[r["id"]] = r.pop("parent_id")
            upsert(session, _table(m.Customer), [{**r, "traits": {}} for r in batch], key=["id"])
        elif spec.name == "users.csv":
            upsert(session, _table(m.User), batch, key=["customer_id", "user_id"])
        elif spec.name == "tickets.csv":
            upsert(session, _table(m.SupportTicket), batch, key=["customer_id", "ticket_id"])
        elif spec.name == "payments.csv":
            insert_rows(session, m.Payment, batch)
        elif spec.name == "mrr_history.csv":
            mrr.record_changes(session, [_mrr_change(r) for r in batch])
        elif spec.name == "nps.csv":
            insert_rows(
                session, m.NpsResponse, [{**r, "comment": r["comment"] or ""} for r in batch]
            )
        else:
            _write_events(session, batch)
        written += len(batch)
        if on_batch:
            on_batch(written)
    _set_parents(session, parents)
    return written


def _set_parents(session: Session, parents: dict[str, str | None]) -> None:
    """Customers' ``parent_id`` once every customer is stored: a parent may come later in
    the file than its children (the links were checked: ``csv_import``)."""
    if not parents:
        return
    customers = _table(m.Customer)
    statement = (
        update(customers)
        .where(customers.c.id == bindparam("child"))
        .values(parent_id=bindparam("parent"))
    )
    session.execute(statement, [{"child": k, "parent": v} for k, v in parents.items()])


def _mrr_change(row: dict[str, Any]) -> dict[str, Any]:
    """An ``mrr_history.csv`` row as the account total it is (``ingest.mrr``)."""
    return {
        "customer_id": row["customer_id"],
        "stream": mrr.ACCOUNT,
        "at": row["at"],
        "mrr": row["mrr"],
        "seats": row["seats"],
        "source": "csv",
        "external_id": mrr.account_total_key(row["customer_id"], row["at"]),
    }


def _write_events(session: Session, batch: list[dict[str, Any]]) -> None:
    """Route events to their typed tables; unknown types stay engagement events. An
    ``api_call`` without a ``value`` is one call; ``0`` is a day with none (stored as 0).
    The optional ``product`` column goes with logins, feature uses and API calls."""
    sessions, features, api, other = [], [], [], []
    for e in batch:
        base = {"customer_id": e["customer_id"], "ts": e["ts"]}
        typed = {**base, "product": e["product"]}
        if e["type"] == "login":
            sessions.append({**typed, "user_id": e["user_id"]})
        elif e["type"] == "feature_used":
            features.append({**typed, "user_id": e["user_id"], "feature": e["name"]})
        elif e["type"] == "api_call":
            api.append({**typed, "calls": 1 if e["value"] is None else e["value"]})
        else:
            properties = {k: e[k] for k in ("name", "value", "product") if e[k] is not None}
            other.append(
                {**base, "user_id": e["user_id"], "event_type": e["type"], "properties": properties}
            )
    insert_rows(session, m.Session, sessions)
    insert_rows(session, m.FeatureUsage, features)
    insert_rows(session, m.ApiUsage, api)
    insert_rows(session, m.EngagementEvent, other)
