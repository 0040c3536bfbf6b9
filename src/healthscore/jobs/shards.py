"""Distributed full rescores: split the accounts into id ranges that any worker can score.

A run fixes ``as_of`` once, so every shard scores the same moment. A worker *claims* a
shard (one conditional UPDATE) before scoring it and marks it ``done`` in the same
transaction that writes its scores, so a shard is either fully scored or not at all. A
worker that dies leaves a claim that expires; the shard is then claimed again (resumable).
Playbooks fire through idempotency keys (playbook, account, day), so a shard scored twice
never alerts twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from healthscore.scoring.selection import IdRange
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.leases import claim_with_lease, lease_expired


def plan_run(session: Session, *, as_of: datetime, shards: int) -> jm.RescoreRun:
    """Create a run and its shards: id ranges of about equal account counts."""
    ids = list(session.scalars(select(m.Customer.id).order_by(m.Customer.id)))
    shards = max(1, min(shards, len(ids) or 1))
    run = jm.RescoreRun(as_of=as_of, created_at=datetime.now(UTC), shards=shards)
    session.add(run)
    session.flush()
    size = -(-len(ids) // shards) if ids else 0
    for index in range(shards):
        chunk = ids[index * size : (index + 1) * size]
        if not chunk:
            chunk = ["", ""]  # an empty shard keeps numbering simple
        session.add(
            jm.RescoreShard(
                run_id=run.id,
                shard=index,
                first_id=chunk[0],
                last_id=chunk[-1],
                status="pending",
                accounts=0,
                attempts=0,
            )
        )
    session.flush()
    return run


def claim_shard(
    session: Session, run_id: int, shard: int, *, claim_seconds: int
) -> tuple[IdRange, datetime] | None:
    """Take a shard for scoring; None when it is done or another worker holds it."""
    now = datetime.now(UTC)
    s = jm.RescoreShard
    if not claim_with_lease(
        session,
        s,
        s.run_id == run_id,
        s.shard == shard,
        or_(s.status == "pending", lease_expired(s, "running", now)),
        status="running",
        now=now,
        lease_seconds=claim_seconds,
    ):
        return None
    row = session.get(jm.RescoreShard, (run_id, shard), populate_existing=True)
    run = session.get(jm.RescoreRun, run_id)
    assert row is not None and run is not None
    return IdRange(row.first_id, row.last_id), run.as_of


def finish_shard(session: Session, run_id: int, shard: int, accounts: int) -> None:
    """Inside the scoring transaction: the shard is done exactly when its scores are.

    The run row is locked first, so two workers finishing the last two shards at once
    take turns: the second then sees the first's shard done and closes the run (without
    the lock each saw the other's shard still running and neither closed it)."""
    session.execute(select(jm.RescoreRun.id).where(jm.RescoreRun.id == run_id).with_for_update())
    session.execute(
        update(jm.RescoreShard)
        .where(jm.RescoreShard.run_id == run_id, jm.RescoreShard.shard == shard)
        .values(status="done", accounts=accounts, finished_at=datetime.now(UTC))
    )
    remaining = session.scalar(
        select(func.count())
        .select_from(jm.RescoreShard)
        .where(jm.RescoreShard.run_id == run_id, jm.RescoreShard.status != "done")
    )
    if remaining == 0:
        session.execute(
            update(jm.RescoreRun)
            .where(jm.RescoreRun.id == run_id)
            .values(finished_at=datetime.now(UTC))
        )


@dataclass(frozen=True)
class RunProgress:
    run_id: int
    shards: int
    done: int
    running: int
    accounts: int
    finished: bool


def progress(session: Session, run_id: int) -> RunProgress:
    rows = session.execute(
        select(jm.RescoreShard.status, func.count(), func.sum(jm.RescoreShard.accounts))
        .where(jm.RescoreShard.run_id == run_id)
        .group_by(jm.RescoreShard.status)
    ).all()
    counts = {status: (int(n), int(accounts or 0)) for status, n, accounts in rows}
    shards = sum(n for n, _ in counts.values())
    done = counts.get("done", (0, 0))[0]
    return RunProgress(
        run_id=run_id,
        shards=shards,
        done=done,
        running=counts.get("running", (0, 0))[0],
        accounts=sum(a for _, a in counts.values()),
        finished=shards > 0 and done == shards,
    )


def latest_run_counts(session: Session) -> dict[str, int]:
    latest = session.scalar(select(func.max(jm.RescoreRun.id)))
    if latest is None:
        return {}
    rows = session.execute(
        select(jm.RescoreShard.status, func.count())
        .where(jm.RescoreShard.run_id == latest)
        .group_by(jm.RescoreShard.status)
    )
    return {status: int(n) for status, n in rows}


def unfinished_shards(session: Session) -> list[tuple[int, int]]:
    """Shards of unfinished runs that are pending or whose worker's claim expired."""
    now = datetime.now(UTC)
    s = jm.RescoreShard
    return [
        (run_id, shard)
        for run_id, shard in session.execute(
            select(s.run_id, s.shard).where(
                or_(s.status == "pending", lease_expired(s, "running", now))
            )
        )
    ]
