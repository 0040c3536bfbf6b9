"""Scoring runs: read aggregates for every account, score them, persist the results.

This is where the rules meet the data: which accounts are scored at a moment, what the
trend compares with, and how a backfill walks through days. It flushes but never commits:
the caller owns the transaction, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from healthscore.garbage_collection import cyclic_gc_paused
from healthscore.scoring import aggregates, hierarchy, products, repository
from healthscore.scoring.engine import HealthScore, PreviousScore, ScoredBatch, score_batch
from healthscore.scoring.labels import Stage
from healthscore.scoring.lifecycle import DAY_SECONDS, stage_of
from healthscore.scoring.metrics import Aggregate, Column, Lookup
from healthscore.scoring.overrides import apply_overrides, overrides_in_force
from healthscore.scoring.requirements import required_aggregates
from healthscore.scoring.run_reads import PartRead, Progress, ReadAhead, read_part
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.selection import IdRange, Selection
from healthscore.storage.rollups import midnight
from healthscore.timeutc import utc


@dataclass
class ScoringRun:
    """What one run did, for the CLI, the API and benchmarks."""

    as_of: datetime
    batches: list[ScoredBatch]
    churned: list[str]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return sum(len(batch) for batch in self.batches)

    @cached_property
    def scores(self) -> list[HealthScore]:
        """Every score as an object, ordered by customer id (materialised on first use)."""
        return next(self.score_groups(max(self.scored, 1)), [])

    @property
    def customer_ids(self) -> list[str]:
        """The scored accounts, without building their score objects."""
        return [cid for batch in self.batches for cid in batch.customer_ids]

    def score_groups(self, size: int) -> Iterator[list[HealthScore]]:
        """``scores`` in groups of ``size``, each built when it is asked for: a caller that
        handles one group at a time (the playbooks after a full rescore) holds one group's
        objects, not every account's (a 100,000-account run peaked at 900 MiB)."""
        order = sorted(
            (cid, number, row)
            for number, batch in enumerate(self.batches)
            for row, cid in enumerate(batch.customer_ids)
        )
        for start in range(0, len(order), size):
            rows: dict[int, list[int]] = defaultdict(list)
            for _cid, number, row in order[start : start + size]:
                rows[number].append(row)
            group = [
                score
                for number, chosen in rows.items()
                for score in self.batches[number].health_scores_of(chosen)
            ]
            yield sorted(group, key=lambda score: score.customer_id)


class UnknownCustomerError(LookupError):
    """A scoring request named accounts that do not exist."""

    def __init__(self, missing: Collection[str]) -> None:
        super().__init__(f"unknown customer id(s): {', '.join(sorted(missing))}")
        self.missing = sorted(missing)


def score_accounts(
    session: Session,
    scorecard: Scorecard,
    *,
    as_of: datetime,
    customer_ids: Collection[str] | None = None,
    id_range: IdRange | None = None,
    progress: Progress | None = None,
) -> ScoringRun:
    """Score every account active at ``as_of`` (or just ``customer_ids``, or the accounts
    of one ``id_range`` shard) from earlier data."""
    with cyclic_gc_paused():
        return _score_accounts(
            session,
            scorecard,
            as_of=utc(as_of),
            customer_ids=customer_ids,
            id_range=id_range,
            progress=progress,
        )


FULL_RUN_CHUNK = 10_000
"""A full run over more than ``CHUNKED_FROM`` accounts scores them in id-range chunks of
this many: each chunk's roll-ups are read, scored and written in turn, so the run holds
one chunk's rows, and the next chunk's read, at a time (a 100,000-account run peaked at
600 MiB in one pass, 291 MiB in chunks of 15,000 read one after the other; reading
ahead, 303-307 MiB in chunks of 15,000, 289 in 12,500, 277-280 in 10,000); parents,
whose roll-ups need their children's final scores, are scored last."""
CHUNKED_FROM = 25_000
"""Up to this many accounts one pass costs less than the memory it would save."""


def _score_accounts(
    session: Session,
    scorecard: Scorecard,
    *,
    as_of: datetime,
    customer_ids: Collection[str] | None,
    id_range: IdRange | None,
    progress: Progress | None,
) -> ScoringRun:
    step = progress or (lambda _message: None)
    if customer_ids is None and id_range is None:
        chunks = repository.id_chunks(session, FULL_RUN_CHUNK, more_than=CHUNKED_FROM)
        if chunks:
            return _score_in_chunks(session, scorecard, as_of=as_of, chunks=chunks, step=step)
    if customer_ids is not None:
        _check_known(session, customer_ids)
        customer_ids = repository.with_ancestors(session, customer_ids)  # parents roll them up
    selection: Selection = customer_ids if customer_ids is not None else id_range
    return _score_part(session, scorecard, as_of=as_of, selection=selection, step=step)


def _score_in_chunks(
    session: Session,
    scorecard: Scorecard,
    *,
    as_of: datetime,
    chunks: list[IdRange],
    step: Progress,
) -> ScoringRun:
    """A full run chunk by chunk (``FULL_RUN_CHUNK``), then the parents. The same scores
    and rows as one pass: every measure is per account, and a parent's roll-up reads the
    children's scores that the chunks stored in this transaction. Every chunk reads in the
    snapshot the run started with (a second connection shares it, as in one pass).

    On PostgreSQL the next chunk is read while this one is scored and written
    (``ReadAhead``): reading is mostly the database's work on two connections, writing
    mostly this process's and a third connection's, so the two overlap on the cores."""
    parents = repository.parent_ids(session)
    snapshot = aggregates.run_snapshot(session)
    ahead = ReadAhead(session, scorecard, as_of=as_of, skip=parents, snapshot=snapshot)
    parts = []
    try:
        for number, chunk in enumerate(chunks, 1):
            chunk_step = _numbered(step, number, len(chunks))
            read = ahead.take(chunk, chunk_step)
            if number < len(chunks):
                ahead.start(chunks[number])
            parts.append(_finish_part(session, scorecard, read, as_of=as_of, step=chunk_step))
    finally:
        ahead.close()
    if parents:
        parts.append(
            _score_part(session, scorecard, as_of=as_of, selection=sorted(parents), step=step)
        )
    timings: dict[str, float] = {}
    for part in parts:
        for name, seconds in part.timings.items():
            timings[name] = timings.get(name, 0.0) + seconds
    return ScoringRun(
        as_of=as_of,
        batches=[batch for part in parts for batch in part.batches],
        churned=[cid for part in parts for cid in part.churned],
        timings=timings,
    )


def _numbered(step: Progress, number: int, total: int) -> Progress:
    return lambda message: step(f"{message} ({number}/{total})")


def _score_part(
    session: Session,
    scorecard: Scorecard,
    *,
    as_of: datetime,
    selection: Selection,
    step: Progress,
) -> ScoringRun:
    """Score, roll up and write the accounts of ``selection``."""
    started = time.perf_counter()
    read = read_part(session, scorecard, as_of=as_of, selection=selection, step=step)
    read.seconds = time.perf_counter() - started
    return _finish_part(session, scorecard, read, as_of=as_of, step=step)


def _finish_part(
    session: Session, scorecard: Scorecard, read: PartRead, *, as_of: datetime, step: Progress
) -> ScoringRun:
    """Score, roll up and write the accounts ``read`` loaded (on the session)."""
    selection, accounts, churned = read.selection, read.accounts, read.churned
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    previous = trend_references(session, scorecard, as_of=as_of, customer_ids=selection)
    lap("read")
    timings["read"] += read.seconds
    step("scoring")
    batches = score_columns(scorecard, accounts, read.columns, as_of=as_of, previous=previous)
    read.columns = {}
    # After the signals, in this order, each through ScoredBatch.set_score: per-product
    # scores combined into the account's, manual overrides, then parents' roll-ups.
    products.combine_products(
        session, scorecard, batches, accounts, as_of=as_of, customer_ids=selection, save=True
    )
    apply_overrides(batches, overrides_in_force(session, as_of=as_of, customer_ids=selection))
    hierarchy.roll_up_parents(
        batches,
        repository.hierarchy_children(session, as_of=as_of, parents=selection),
        scorecard.hierarchy.rollup,
    )
    lap("score")
    step("saving")
    calculated_at = datetime.now(UTC)
    repository.save_run(
        session,
        batches,
        churned,
        as_of=as_of,
        calculated_at=calculated_at,
        scorecard=scorecard.identity,
    )
    session.flush()
    lap("write")
    return ScoringRun(as_of=as_of, batches=batches, churned=churned, timings=timings)


def trend_references(
    session: Session, scorecard: Scorecard, *, as_of: datetime, customer_ids: Selection = None
) -> dict[str, PreviousScore]:
    """What each account's trend compares with: its history row one trend window back
    (the newest between one and two windows before ``as_of``)."""
    window = scorecard.trend.window_days
    return repository.previous_scores(
        session,
        earliest=as_of.date() - timedelta(days=2 * window),
        latest=as_of.date() - timedelta(days=window),
        customer_ids=customer_ids,
    )


def score_without_saving(
    session: Session,
    scorecard: Scorecard,
    *,
    as_of: datetime,
    previous: Mapping[str, PreviousScore] | None = None,
) -> list[ScoredBatch]:
    """``score_accounts`` minus the writes: one batch per scorecard variant.

    ``previous`` feeds the trend (and so ``declining``); without it every trend is
    ``stable``, which does not change scores or tiers.
    """
    as_of = utc(as_of)
    accounts = repository.active_accounts(session, as_of=as_of)
    columns = aggregates.load_aggregate_columns(
        session,
        required_aggregates(scorecard),
        as_of=as_of,
        accounts=[account.id for account in accounts],
    )
    batches = score_columns(scorecard, accounts, columns, as_of=as_of, previous=previous or {})
    products.combine_products(session, scorecard, batches, accounts, as_of=as_of, save=False)
    hierarchy.roll_up_parents(
        batches, repository.hierarchy_children(session, as_of=as_of), scorecard.hierarchy.rollup
    )
    return batches


def score_columns(
    scorecard: Scorecard,
    accounts: list[repository.Account],
    columns: aggregates.AggregateColumns,
    *,
    as_of: datetime,
    previous: Mapping[str, PreviousScore],
) -> list[ScoredBatch]:
    """Score ``accounts`` from their aggregate columns (``load_aggregate_columns`` in the
    same order): one batch per scorecard variant and lifecycle stage. The scoring step of
    a run, shared with the backtest, which scores the past without writing."""
    ages = account_ages(accounts, as_of)
    return [
        score_batch(
            variant,
            customer_ids=ids,
            as_of=as_of,
            get=_column_lookup(columns, positions),
            previous=[previous.get(cid) for cid in ids],
            ages=ages[positions],
            stage=stage,
        )
        for variant, stage, ids, positions in _by_variant(scorecard, accounts, ages, as_of)
    ]


def account_ages(accounts: list[repository.Account], as_of: datetime) -> NDArray[np.float64]:
    """Days since each account was created, at ``as_of`` (never negative)."""
    created = np.array([utc(a.created_at).timestamp() for a in accounts], dtype=np.float64)
    ages: NDArray[np.float64] = np.maximum(0.0, (utc(as_of).timestamp() - created) / DAY_SECONDS)
    return ages


def _by_variant(
    scorecard: Scorecard,
    accounts: list[repository.Account],
    ages: NDArray[np.float64],
    as_of: datetime,
) -> list[tuple[Scorecard, Stage, list[str], NDArray[np.intp]]]:
    """Accounts grouped by the scorecard variant of their segment and their lifecycle
    stage, with each account's position in ``accounts`` (to slice the aggregate columns)."""
    groups: dict[tuple[int, Stage], tuple[Scorecard, list[str], list[int]]] = {}
    lifecycle = scorecard.lifecycle
    for position, (account, age) in enumerate(zip(accounts, ages.tolist(), strict=True)):
        stage = stage_of(
            lifecycle, segment=account.segment, age=age, renews_at=account.renews_at, as_of=as_of
        )
        variant = scorecard.for_account(account.segment, stage)
        group = groups.setdefault((id(variant), stage), (variant, [], []))
        group[1].append(account.id)
        group[2].append(position)
    return [
        (v, stage, ids, np.array(at, dtype=np.intp)) for (_, stage), (v, ids, at) in groups.items()
    ]


def _column_lookup(columns: aggregates.AggregateColumns, positions: NDArray[np.intp]) -> Lookup:
    """A variant's slice of each aggregate column, taken once per aggregate."""
    cache: dict[Aggregate, Column] = {}

    def get(aggregate: Aggregate) -> Column:
        if aggregate not in cache:
            cache[aggregate] = columns[aggregate][positions]
        return cache[aggregate]

    return get


def _check_known(session: Session, customer_ids: Collection[str]) -> None:
    from sqlalchemy import select

    from healthscore.storage.models import Customer

    wanted = set(customer_ids)
    known = set(session.scalars(select(Customer.id).where(Customer.id.in_(wanted))))
    if wanted - known:
        raise UnknownCustomerError(wanted - known)


def backfill_days(days: int, *, until: date) -> Iterator[datetime]:
    """Midnight UTC of each of the ``days`` days ending with ``until``, oldest first."""
    for offset in range(days - 1, -1, -1):
        day = until - timedelta(days=offset)
        yield midnight(day)
