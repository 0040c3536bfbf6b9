"""The outbox's retry schedule: exponential from the configured first wait, capped."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from healthscore.playbooks.outbox import backoff


def test_retries_wait_2_4_8_seconds_by_default_and_never_more_than_10_minutes():
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (2, 4, 8)]
    assert backoff(30) == timedelta(minutes=10)


@given(first=st.floats(min_value=0.1, max_value=600), attempts=st.integers(1, 40))
def test_each_wait_doubles_the_last_until_the_cap(first: float, attempts: int):
    wait, following = backoff(attempts, first), backoff(attempts + 1, first)
    assert backoff(1, first) == timedelta(seconds=first)
    assert wait <= following <= timedelta(minutes=10)
    if following < timedelta(minutes=10):
        assert abs(following - 2 * wait) < timedelta(microseconds=2)
