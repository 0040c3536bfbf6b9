"""Journal rows of concurrent requests share one commit, and share its failure."""

from __future__ import annotations

import threading

from sqlalchemy import Column, Integer, MetaData, Table

from healthscore.ingest.group_commit import GroupCommit
from healthscore.storage.database import make_engine


def test_a_failed_group_commit_fails_every_request_in_it(postgres_url):
    engine = make_engine(postgres_url)
    missing = Table("no_such_journal", MetaData(), Column("id", Integer, primary_key=True))
    group = GroupCommit(engine, missing)
    failures: list[BaseException] = []

    def append() -> None:
        try:
            group.append({"id": 1})
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=append) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    group.close()
    engine.dispose()
    assert len(failures) == 4, "no request is answered as if its row were committed"
