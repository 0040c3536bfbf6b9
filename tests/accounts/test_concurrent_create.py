"""Two requests creating the same new account at once (PostgreSQL, where they really run
concurrently): both succeed, as if one had come after the other."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from healthscore.accounts.repository import upsert_customer
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction


def waiting_backends(sessions) -> int:
    with sessions() as session:
        return int(session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) or 0)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_second_create_of_a_new_account_updates_what_the_first_created(db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with transaction(sessions) as session:
                upsert_customer(session, {"id": "acme", "plan": "pro"})
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    try:
        with transaction(sessions) as first:
            upsert_customer(first, {"id": "acme", "name": "Acme", "segment": "smb"})
            racing = threading.Thread(target=second)
            racing.start()  # it finds no account yet, and its INSERT waits on ours
            deadline = time.monotonic() + 10
            while waiting_backends(sessions) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert waiting_backends(sessions) > 0, "the second create never waited"
        racing.join(10)
        assert failures == []
        with sessions() as session:
            acme = session.get(m.Customer, "acme")
            assert acme is not None
            assert (acme.name, acme.segment, acme.plan) == ("Acme", "smb", "pro")
    finally:
        engine.dispose()
