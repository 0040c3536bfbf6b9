"""Parents arriving by CSV (``customers.csv``'s ``parent_id``) and by Segment (``group``
traits ``parent_id`` / ``parentId``): a parent may come later in the same file or request;
unknown parents and cycles are refused naming the line or message, and nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.ingest import segment as seg
from healthscore.ingest import segment_messages
from healthscore.ingest.csv_import import import_folder
from healthscore.ingest.csv_report import ImportFailed
from healthscore.ingest.segment_messages import Rejected
from healthscore.scoring.scorecard import EventMapping
from healthscore.storage import job_models as jm
from healthscore.storage import models as m

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HEADER = "id,name,plan,segment,mrr,created_at,churned_at,parent_id\n"


def parents(sessions) -> dict[str, str | None]:
    with sessions() as session:
        return dict(session.execute(select(m.Customer.id, m.Customer.parent_id)).all())


def load(sessions, folder: Path, rows: str, **options: Any):
    folder.mkdir(exist_ok=True)
    (folder / "customers.csv").write_text(HEADER + rows, encoding="utf-8")
    return import_folder(sessions, folder, now=NOW, **options)


# --- CSV ----------------------------------------------------------------------------------


def test_a_csv_parent_may_come_after_its_children_and_a_file_without_the_column_keeps_it(
    sessions, tmp_path
):
    load(
        sessions,
        tmp_path / "one",
        "eu,EU,,,100,2025-01-01,,group\nus,US,,,800,2025-01-01,,group\n"
        "paris,Paris,,,10,2025-01-01,,eu\ngroup,Group,,,0,2025-01-01,,\n",
    )
    assert parents(sessions) == {"eu": "group", "us": "group", "paris": "eu", "group": None}
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "id,name,plan,segment,mrr,created_at,churned_at\neu,EU,,,120,2025-01-01,\n",
        encoding="utf-8",
    )
    import_folder(sessions, folder, now=NOW)
    assert parents(sessions)["eu"] == "group"
    load(sessions, tmp_path / "three", "paris,Paris,,,10,2025-01-01,,\n")  # empty: detached
    assert parents(sessions)["paris"] is None


def test_csv_unknown_parents_and_cycles_are_rejected_by_line_and_nothing_is_written(
    sessions, tmp_path
):
    load(sessions, tmp_path / "stored", "a,A,,,1,2025-01-01,,\nb,B,,,1,2025-01-01,,a\n")
    with pytest.raises(ImportFailed) as failed:
        load(
            sessions,
            tmp_path / "bad",
            "ok,OK,,,1,2025-01-01,,b\n"  # line 2: fine
            "x,X,,,1,2025-01-01,,ghost\n"  # line 3: unknown
            "y,Y,,,1,2025-01-01,,x\n"  # line 4: its parent's row is rejected
            "a,A,,,1,2025-01-01,,b\n"  # line 5: a ← b ← a with the stored link
            "s,S,,,1,2025-01-01,,s\n",  # line 6: itself
        )
    assert [str(e) for e in failed.value.errors] == [
        "customers.csv:3: parent_id: unknown parent account 'ghost'",
        "customers.csv:4: parent_id: unknown parent account 'x': its row, customers.csv:3, "
        "was rejected",
        "customers.csv:5: parent_id: would make a cycle: a → b → a",
        "customers.csv:6: parent_id: an account cannot be its own parent ('s')",
    ]
    assert parents(sessions) == {"a": None, "b": "a"}


def test_with_bad_rows_allowed_the_rest_loads_and_the_rejects_name_the_reason(sessions, tmp_path):
    rejects = tmp_path / "rejects.csv"
    report = load(
        sessions,
        tmp_path / "some",
        "p,P,,,1,2025-01-01,,q\nq,Q,,,1,2025-01-01,,p\nc,C,,,1,2025-01-01,,\n",
        max_bad_rows=2,
        rejects=rejects,
    )
    assert report.files["customers.csv"].loaded == 1
    assert report.files["customers.csv"].rejected == 2
    assert parents(sessions) == {"c": None}
    assert "would make a cycle: q → p → q" in rejects.read_text(encoding="utf-8")


# --- Segment ------------------------------------------------------------------------------


def group(account: str, **traits: Any) -> dict[str, Any]:
    return {"type": "group", "userId": "u1", "groupId": account, "traits": traits}


def ingest(session: Session, *raw: dict[str, Any]) -> seg.Outcome:
    messages = TypeAdapter(list[segment_messages.Message]).validate_python(list(raw))
    with session.begin():
        return seg.ingest(session, messages, EventMapping(), received_at=NOW)


def test_a_group_call_sets_the_parent_even_one_grouped_later_in_the_request(session, sessions):
    outcome = ingest(
        session,
        group("eu", name="EU", parent_id="group"),
        group("group", name="Group"),
        group("us", parentId="group"),
    )
    assert parents(sessions) == {"eu": "group", "group": None, "us": "group"}
    assert "group" in outcome.customers
    with sessions() as other:
        marked = set(other.scalars(select(jm.PendingRescore.customer_id)))
    assert "group" in marked  # the parent's roll-up changes
    ingest(session, group("us", parentId=None))
    assert parents(sessions)["us"] is None


def test_a_group_call_with_an_unknown_parent_or_a_cycle_rejects_the_request(session, sessions):
    ingest(session, group("a"), group("b", parent_id="a"))
    before = parents(sessions)
    with pytest.raises(Rejected) as rejected:
        ingest(
            session,
            group("new", name="New"),
            group("x", parent_id="ghost"),
            group("a", parentId="b"),
        )
    assert [(p.field, p.message) for p in rejected.value.problems] == [
        ("batch.1.traits.parent_id", "unknown parent account 'ghost'"),
        ("batch.2.traits.parentId", "would make a cycle: a → b → a"),
    ]
    assert parents(sessions) == before  # not even the good group call
