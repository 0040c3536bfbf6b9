"""What a run compares with: each account's trend reference, read from score history."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from healthscore.ingest.bulk import insert_rows
from healthscore.scoring.engine import PreviousScore
from healthscore.scoring.repository import previous_scores
from healthscore.scoring.selection import IdRange
from healthscore.storage import models as m
from tests.fixtures.history import insert_history

LATEST = date(2026, 6, 1)
EARLIEST = LATEST - timedelta(days=7)


@pytest.fixture
def history(session):
    """50 accounts: most scored on ``LATEST`` itself, some only on earlier days of the
    range, some only outside it, one never; contributions tell the rows apart."""
    rng = random.Random(11)
    ids = [f"acct-{n:02d}" for n in range(50)]
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "created_at": datetime(2025, 1, 1, tzinfo=UTC), "traits": {}}
            for cid in ids
        ],
    )
    days: dict[str, list[date]] = {}
    for n, cid in enumerate(ids[:-1]):
        offsets = set(rng.sample(range(-3, 60), rng.randint(1, 12)))
        if n % 3 == 0:
            offsets.add(0)  # scored on LATEST
        days[cid] = [LATEST - timedelta(days=offset) for offset in offsets]
    insert_history(
        session,
        (
            (cid, day, day.toordinal() % 101, "healthy", _contributions(day, n))
            for n, (cid, listed) in enumerate(days.items())
            for day in listed
        ),
    )
    session.commit()
    return ids, days


def _contributions(day, n):
    return {"logins": float(day.toordinal() % 7), "who": n}


def _plainly(ids, days, earliest, latest):
    """The newest row of each account with earliest <= day <= latest, read plainly."""
    found = {}
    for n, cid in enumerate(days):
        inside = [d for d in days[cid] if earliest <= d <= latest]
        if cid in ids and inside:
            day = max(inside)
            found[cid] = PreviousScore(day, day.toordinal() % 101, _contributions(day, n))
    return found


def test_the_reference_is_the_newest_row_in_the_range_whether_or_not_it_is_on_the_last_day(
    session, history
):
    ids, days = history
    expected = _plainly(ids, days, EARLIEST, LATEST)
    assert previous_scores(session, earliest=EARLIEST, latest=LATEST) == expected
    on_latest = {cid for cid, previous in expected.items() if previous.day == LATEST}
    assert 0 < len(on_latest) < len(expected) < len(ids)  # every case is present


@pytest.mark.parametrize(
    "selection",
    [["acct-03", "acct-04", "acct-05", "acct-49", "acct-20"], IdRange("acct-10", "acct-29")],
    ids=["ids", "id range"],
)
def test_a_selection_gets_the_references_of_its_own_accounts_only(session, history, selection):
    ids, days = history
    wanted = (
        list(selection)
        if isinstance(selection, list)
        else [cid for cid in ids if selection.first <= cid <= selection.last]
    )
    found = previous_scores(session, earliest=EARLIEST, latest=LATEST, customer_ids=selection)
    assert found == _plainly(wanted, days, EARLIEST, LATEST)


def test_a_range_of_one_day_reads_that_day_only_and_an_empty_range_nothing(session, history):
    ids, days = history
    day = LATEST - timedelta(days=2)
    assert previous_scores(session, earliest=day, latest=day) == _plainly(ids, days, day, day)
    assert previous_scores(session, earliest=LATEST + timedelta(days=1), latest=LATEST) == {}
