"""When a touched-account rescore may start: the rest of its batching window, capped at
the window, and never sooner than a window or three runs' length after the last start."""

from __future__ import annotations

import time

import pytest

from healthscore.jobs.rescore_pacing import RescorePacing


def test_the_first_run_waits_out_the_rest_of_its_window() -> None:
    pacing = RescorePacing(window=0.5)
    assert pacing.wait(time.time() + 0.3) == pytest.approx(0.3, abs=0.05)
    assert pacing.wait(time.time() - 1) == 0.0  # its time has come


def test_a_clock_ahead_in_the_asking_process_costs_at_most_one_window() -> None:
    assert RescorePacing(window=0.5).wait(time.time() + 3600) == pytest.approx(0.5, abs=0.05)


def test_runs_start_at_most_once_a_window_and_three_durations_apart() -> None:
    short = RescorePacing(window=0.5, started=time.monotonic(), took=0.1)
    assert short.wait(time.time()) == pytest.approx(0.5, abs=0.05)  # the window rules
    long = RescorePacing(window=0.5, started=time.monotonic(), took=0.4)
    assert long.wait(time.time()) == pytest.approx(1.2, abs=0.05)  # three times 0.4 s


def test_a_finished_run_is_recorded_with_its_duration() -> None:
    pacing = RescorePacing(window=0.5)
    started = time.monotonic() - 0.2
    pacing.record(started)
    assert pacing.started == started and pacing.took == pytest.approx(0.2, abs=0.05)


def test_only_short_windows_are_waited_out_in_the_task() -> None:
    assert RescorePacing(window=2.0).in_task()
    assert not RescorePacing(window=30).in_task()
