"""The collector in long-running processes: what start-up loaded is frozen, young
collections are rarer, and bulk steps pause it without leaving it off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from healthscore.garbage_collection import YOUNG_THRESHOLD, cyclic_gc_paused, settle_process


@pytest.fixture
def thresholds() -> Iterator[None]:
    """Whatever a test sets, the test process's own thresholds afterwards."""
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_settling_freezes_what_is_loaded_and_collects_the_young_less_often(thresholds) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults, as a fresh process has them
    loaded = [{"long": "lived"} for _ in range(1_000)]
    settle_process()
    assert gc.get_freeze_count() >= len(loaded)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_settling_keeps_a_higher_threshold_already_set(thresholds) -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 2, 20, 20)
    settle_process()
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 20, 20)


def test_a_pause_restores_the_collector_as_the_outermost_pause_found_it() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause did not turn it on under the outer one
    assert gc.isenabled()


def test_a_pause_does_not_turn_on_a_collector_someone_else_turned_off() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failing_step_still_turns_the_collector_back_on() -> None:
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("the step failed")
    assert gc.isenabled()
