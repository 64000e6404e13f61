"""The saga state machine: state + outcome -> the next row, without I/O."""

from __future__ import annotations

from mitigate.durable._saga_machine import (
    action_failed,
    action_succeeded,
    definition_fits,
    next_undo,
    undo_failed,
    undo_succeeded,
)


def test_a_success_moves_to_the_next_step_then_completes() -> None:
    steps: list[dict[str, object] | None] = [None, None, None]
    t = action_succeeded(steps, 0, "r0", epoch=1, at=10.0)
    assert (t.state, t.step) == ("running", 1)
    assert t.steps[0] == {"result": "r0", "epoch": 1, "done_at": 10.0}
    assert steps == [None, None, None]  # the input is not mutated
    t = action_succeeded(t.steps, 1, "r1", epoch=1, at=11.0)
    t = action_succeeded(t.steps, 2, "r2", epoch=2, at=12.0)
    assert (t.state, t.step, t.terminal) == ("completed", 2, True)


def test_a_failure_compensates_completed_steps_in_reverse() -> None:
    steps = [{"result": 1}, {"result": 2}, None]
    t = action_failed(steps, 2, interrupted=False, epoch=3)
    assert (t.state, t.step) == ("compensating", 1)
    t = undo_succeeded(t.steps, 1, at=5.0)
    assert (t.state, t.step) == ("compensating", 0) and t.steps[1]["undone_at"] == 5.0
    t = undo_succeeded(t.steps, 0, at=6.0)
    assert (t.state, t.terminal) == ("compensated", True)


def test_an_interrupted_step_is_compensated_too() -> None:
    t = action_failed([{"result": 1}, None], 1, interrupted=True, epoch=4)
    assert (t.state, t.step) == ("compensating", 1)
    assert t.steps[1] == {"interrupted": True, "epoch": 4}


def test_a_failure_at_the_first_step_ends_compensated_at_once() -> None:
    t = action_failed([None, None], 0, interrupted=False, epoch=1)
    assert (t.state, t.terminal) == ("compensated", True)


def test_a_failed_compensation_parks_in_compensation_failed() -> None:
    t = undo_failed([{"result": 1}], 0, "ConnectionError: down")
    assert (t.state, t.step, t.terminal) == ("compensation_failed", 0, True)
    assert t.steps[0] == {"result": 1, "undo_error": "ConnectionError: down"}


def test_next_undo_skips_undone_and_untouched_steps() -> None:
    assert next_undo([{"result": 1}, {"result": 2, "undone_at": 1.0}, None]) == 0
    assert next_undo([None, {"interrupted": True}]) == 1
    assert next_undo([None, None]) is None


def test_definition_fits_only_when_the_step_count_and_record_shape_match() -> None:
    assert definition_fits([None, {"result": 1}], 2, step=1)
    assert not definition_fits([None, None, None], 2, step=0)
    assert not definition_fits([None], 2, step=0)
    assert not definition_fits([None, None], 2, step=2)
    assert not definition_fits([1, 2], 2, step=1)
    assert not definition_fits("oops", 2, step=0)
