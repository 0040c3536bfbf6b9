"""Accounts and scores in the database: which accounts a run scores, the scores it
compares with, and writing a whole run's results set-based (COPY on PostgreSQL).

The signal aggregates themselves are read by ``aggregates``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import Table, and_, func, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from healthscore.scoring.engine import PreviousScore, ScoredBatch
from healthscore.scoring.hierarchy import Child
from healthscore.scoring.labels import Stage, Tier, Trend
from healthscore.scoring.selection import Condition, IdRange, Selection, restrict
from healthscore.storage import models as m
from healthscore.storage.copy_format import copy_chunks
from healthscore.storage.dialect import (
    COPY_THRESHOLD,
    copy_to_staging,
    upsert,
    upsert_from_staging,
)
from healthscore.storage.id_lists import ids_in
from healthscore.storage.newest_rows import newest_value

HISTORY: Table = m.HealthScoreHistory.__table__  # type: ignore[assignment]
LATEST: Table = m.HealthScore.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    segment: str
    created_at: datetime
    renews_at: datetime | None = None


def _active_at(as_of: datetime) -> Condition:
    return and_(
        m.Customer.created_at < as_of,
        or_(m.Customer.churned_at.is_(None), m.Customer.churned_at > as_of),
    )


def active_accounts(
    session: DbSession, *, as_of: datetime, customer_ids: Selection = None
) -> list[Account]:
    """Accounts that existed and had not churned at ``as_of``."""
    c = m.Customer
    query = select(c.id, c.segment, c.created_at, c.renews_at).where(_active_at(as_of))
    query = restrict(query, c.id, customer_ids)
    return [Account(*row) for row in session.execute(query.order_by(c.id))]


def churned_accounts(
    session: DbSession, *, as_of: datetime, customer_ids: Selection = None
) -> list[str]:
    query = select(m.Customer.id).where(m.Customer.churned_at <= as_of)
    query = restrict(query, m.Customer.id, customer_ids)
    return list(session.scalars(query))


def previous_scores(
    session: DbSession,
    *,
    earliest: date,
    latest: date,
    customer_ids: Selection = None,
) -> dict[str, PreviousScore]:
    """Per account, its newest history row with ``earliest <= day <= latest``.

    In two steps: the rows of ``latest`` itself, one range of the day index (an account
    scored every night has one there), then, for the accounts of the selection that had
    none, one newest-row lookup each. A grouped MAX over the whole range read every day
    of it: with a year of history, 20,000 accounts and a week's range, 0.36-0.52 s of
    PostgreSQL's time where the rows of one day take 0.02 s."""
    h = m.HealthScoreHistory
    if earliest > latest:
        return {}
    columns = (h.customer_id, h.day, h.score, h.contributions)

    def read(query: Any) -> dict[str, PreviousScore]:
        return {
            cid: PreviousScore(day, score, contributions)
            for cid, day, score, contributions in session.execute(query)
        }

    found = read(restrict(select(*columns).where(h.day == latest), h.customer_id, customer_ids))
    if earliest == latest:
        return found
    if customer_ids is None or isinstance(customer_ids, IdRange):
        accounts: Collection[str] = session.scalars(
            restrict(select(m.Customer.id), m.Customer.id, customer_ids)
        ).all()
    else:  # ids (a refresh, the touched accounts): no query to list them
        accounts = customer_ids
    others = [cid for cid in accounts if cid not in found]
    if not others:
        return found
    c, older = m.Customer, aliased(h)
    newest_day = newest_value(older, older.day, c.id, older.day >= earliest, older.day < latest)
    on_newest = and_(h.customer_id == c.id, h.day == newest_day)
    return found | read(
        select(*columns).select_from(c).join(h, on_newest).where(ids_in(c.id, others))
    )


HISTORY_COLUMNS = (
    "customer_id",
    "day",
    "as_of",
    "score",
    "tier",
    "trend",
    "components",
    "contributions",
    "scorecard",
    "stage",
    "confidence",
)
LATEST_COLUMNS = (
    "customer_id",
    "as_of",
    "score",
    "tier",
    "trend",
    "previous_score",
    "components",
    "signals",
    "drivers",
    "scorecard",
    "calculated_at",
    "stage",
    "confidence",
)
JSON_COLUMNS = frozenset({"components", "contributions", "signals", "drivers"})
ColumnValues = dict[str, list[Any]]
"""Rows column by column: name → one value per row."""


def _history_columns(batches: Sequence[ScoredBatch]) -> ColumnValues:
    """History rows (one per account) of every batch, column by column."""
    columns: ColumnValues = {name: [] for name in HISTORY_COLUMNS}
    for batch in batches:
        n = len(batch)
        names = batch.signal_names
        columns["customer_id"] += batch.customer_ids
        columns["day"] += [batch.as_of.date()] * n
        columns["as_of"] += [batch.as_of] * n
        columns["score"] += batch.scores.tolist()
        columns["tier"] += [tier.value for tier in batch.tiers]
        columns["trend"] += [trend.value for trend in batch.trends]
        columns["components"] += batch.components
        columns["contributions"] += [
            dict(zip(names, row, strict=True)) for row in batch.contributions().tolist()
        ]
        columns["scorecard"] += [batch.scorecard.identity] * n
        columns["stage"] += [batch.stage.value] * n
        columns["confidence"] += batch.confidence.tolist()
    return columns


def _latest_columns(
    batches: Sequence[ScoredBatch],
    churned: Sequence[str],
    *,
    as_of: datetime,
    calculated_at: datetime,
    scorecard: str,
) -> ColumnValues:
    """Latest-score rows of every scored account, then of every churned one (not scored;
    their row says so), column by column."""
    columns: ColumnValues = {name: [] for name in LATEST_COLUMNS}
    for batch in batches:
        n = len(batch)
        names = batch.signal_names
        weights = {s.name: s.weight for s in batch.scorecard.signals}
        raws = [[None if r != r else r for r in row] for row in batch.raw.tolist()]  # NaN→None
        values = np.round(batch.values, 6).tolist()
        columns["customer_id"] += batch.customer_ids
        columns["as_of"] += [batch.as_of] * n
        columns["score"] += batch.scores.tolist()
        columns["tier"] += [tier.value for tier in batch.tiers]
        columns["trend"] += [trend.value for trend in batch.trends]
        columns["previous_score"] += batch.previous_scores
        columns["components"] += batch.components
        # Columnar per row: far cheaper to build and encode than a list per signal.
        # Which fallback measured a signal, where one did (rare: kept out of the others).
        # Which fallback measured a signal, and how far a thin baseline was trusted, where
        # that is not the plain case (rare: kept out of the other rows).
        extras: list[dict[str, dict[str, float]]] = [{} for _ in range(n)]
        for i, j in zip(*np.nonzero(batch.via > 0), strict=True):
            extras[i].setdefault("via", {})[names[j]] = int(batch.via[i, j])
        thin = (batch.credibility > 0) & (batch.credibility < 1)
        for i, j in zip(*np.nonzero(thin), strict=True):
            extras[i].setdefault("credibility", {})[names[j]] = round(
                float(batch.credibility[i, j]), 4
            )
        own_weights: list[dict[str, float]] = [weights] * n
        if batch.effective_weights is not None:  # a skipped signal changed some rows' weights
            base = np.array([weights[name] for name in names])
            changed = ~np.isclose(batch.effective_weights, base).all(axis=1)
            for i in np.nonzero(changed)[0].tolist():
                row = np.round(batch.effective_weights[i], 6).tolist()
                own_weights[i] = dict(zip(names, row, strict=True))
        columns["signals"] += [
            {
                "raw": dict(zip(names, raw, strict=True)),
                "value": dict(zip(names, value, strict=True)),
                "weight": weight,
            }
            | extra
            for raw, value, extra, weight in zip(raws, values, extras, own_weights, strict=True)
        ]
        if batch.adjustments:  # products, override, roll-up (``ScoredBatch.set_score``)
            for row, adjusted in zip(columns["signals"][-n:], batch.adjustments, strict=True):
                if adjusted:
                    row["adjusted"] = adjusted
        columns["drivers"] += [{d.signal: d.delta for d in drivers} for drivers in batch.drivers]
        columns["scorecard"] += [batch.scorecard.identity] * n
        columns["calculated_at"] += [calculated_at] * n
        columns["stage"] += [batch.stage.value] * n
        columns["confidence"] += batch.confidence.tolist()
    n = len(churned)
    columns["customer_id"] += churned
    columns["as_of"] += [as_of] * n
    columns["score"] += [None] * n
    columns["tier"] += [Tier.churned.value] * n
    columns["trend"] += [Trend.stable.value] * n
    columns["previous_score"] += [None] * n
    for name in ("components", "signals", "drivers"):
        columns[name] += [{} for _ in range(n)]
    columns["scorecard"] += [scorecard] * n
    columns["calculated_at"] += [calculated_at] * n
    columns["stage"] += [Stage.churned.value] * n
    columns["confidence"] += [None] * n
    return columns


def _rows(columns: ColumnValues) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def save_run(
    session: DbSession,
    batches: Sequence[ScoredBatch],
    churned: Sequence[str],
    *,
    as_of: datetime,
    calculated_at: datetime,
    scorecard: str,
) -> None:
    """Write a whole run: history (one row per account per day) and the latest score of
    every scored and churned account, set-based.

    On PostgreSQL with many rows, each table's rows go column by column into one COPY
    (``copy_chunks``) and one INSERT … ON CONFLICT; history is merged on a
    background thread while the latest rows are built. The rows written are the same.
    """
    total = sum(len(batch) for batch in batches) + len(churned)
    latest = partial(
        _latest_columns,
        batches,
        churned,
        as_of=as_of,
        calculated_at=calculated_at,
        scorecard=scorecard,
    )
    if session.get_bind().dialect.name == "postgresql" and total >= COPY_THRESHOLD:
        _copy_run(session, _history_columns(batches), latest)
        return
    upsert(session, HISTORY, _rows(_history_columns(batches)), key=["customer_id", "day"])
    upsert(session, LATEST, _rows(latest()), key=["customer_id"], unless_newer="as_of")


def _copy_run(
    session: DbSession, history: ColumnValues, latest: Callable[[], ColumnValues]
) -> None:
    """History is COPYed first (each chunk sent while the next is rendered); while
    PostgreSQL merges it into its table (a background thread waits on the session's
    connection, which nothing else touches meanwhile), this thread builds the latest
    rows and renders their first chunks; then those are COPYed and merged."""
    dialect = session.get_bind().dialect
    failure: list[BaseException] = []

    def merge_history() -> None:
        try:
            upsert_from_staging(session, HISTORY, HISTORY_COLUMNS, key=["customer_id", "day"])
        except BaseException as error:  # re-raised below, once the thread has ended
            failure.append(error)

    merging = threading.Thread(target=merge_history, name="healthscore-write", daemon=True)
    if history["customer_id"]:
        copy_to_staging(session, HISTORY, HISTORY_COLUMNS, copy_chunks(dialect, HISTORY, history))
        merging.start()
    del history
    ready: list[str] = []
    try:
        columns = latest()
        chunks = copy_chunks(dialect, LATEST, columns)
        while merging.is_alive():  # render ahead only while the connection is busy
            chunk = next(chunks, None)
            if chunk is None:
                break
            ready.append(chunk)
    finally:
        if merging.ident is not None:
            merging.join()
    if failure:
        raise failure[0]
    if columns["customer_id"]:
        copy_to_staging(session, LATEST, LATEST_COLUMNS, itertools.chain(ready, chunks))
        upsert_from_staging(
            session, LATEST, LATEST_COLUMNS, key=["customer_id"], unless_newer="as_of"
        )


def id_chunks(session: DbSession, size: int, *, more_than: int = 0) -> list[IdRange]:
    """Every account id (active or not) in consecutive id ranges of ``size`` ids, in the
    database's order: together they cover every account once. None (``[]``) for a base
    of at most ``more_than`` accounts."""
    if (session.scalar(select(func.count()).select_from(m.Customer)) or 0) <= more_than:
        return []
    ids = list(session.scalars(select(m.Customer.id).order_by(m.Customer.id)))
    return [
        IdRange(ids[start], ids[min(start + size, len(ids)) - 1])
        for start in range(0, len(ids), size)
    ]


def parent_ids(session: DbSession) -> frozenset[str]:
    """The accounts that have children (their scores are their children's roll-ups)."""
    query = select(m.Customer.parent_id).where(m.Customer.parent_id.is_not(None)).distinct()
    return frozenset(pid for pid in session.scalars(query) if pid is not None)


def hierarchy_children(
    session: DbSession, *, as_of: datetime, parents: Selection = None
) -> list[Child]:
    """Every account with a parent among ``parents`` (all, some ids, an id range): its MRR,
    whether it was active at ``as_of``, and its latest stored score (the roll-up's input)."""
    c, h = m.Customer, m.HealthScore
    query = (
        select(c.id, c.parent_id, c.mrr, _active_at(as_of), h.score)
        .outerjoin(h, h.customer_id == c.id)
        .where(c.parent_id.is_not(None))
    )
    rows = session.execute(restrict(query, c.parent_id, parents))
    return [
        Child(cid, parent, float(mrr or 0), bool(active), score)
        for cid, parent, mrr, active, score in rows
    ]


def with_ancestors(session: DbSession, customer_ids: Collection[str]) -> list[str]:
    """``customer_ids`` and every account above them (their parents' roll-ups change with
    their scores), in the order given, ancestors after."""
    found = list(dict.fromkeys(customer_ids))
    seen = set(found)
    frontier = seen
    while frontier:
        parents = session.scalars(
            select(m.Customer.parent_id).where(
                m.Customer.id.in_(frontier), m.Customer.parent_id.is_not(None)
            )
        )
        frontier = {p for p in parents if p is not None} - seen
        seen |= frontier
        found += sorted(frontier)
    return found
