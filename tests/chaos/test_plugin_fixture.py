"""The pytest plugin's ``fault_injector`` fixture."""

from __future__ import annotations

import pytest

from mitigate.chaos import Failure, FaultInjector


def test_fault_injector_fixture_starts_empty_and_takes_faults(
    fault_injector: FaultInjector,
) -> None:
    assert not fault_injector
    assert fault_injector.decide("kms.sign", 0.0) is None
    fault_injector.add(Failure("kms.sign", times=1, error=TimeoutError))
    decision = fault_injector.decide("kms.sign", 0.0)
    assert decision is not None and isinstance(decision.error, TimeoutError)
    assert fault_injector.decide("kms.sign", 0.0) is None


def test_fault_injector_fixture_is_seeded(fault_injector: FaultInjector) -> None:
    from mitigate.chaos import Drop

    fault_injector.add(Drop("bus.publish", rate=0.5))
    hits = [fault_injector.decide("bus.publish", 0.0) is not None for _ in range(20)]
    assert 0 < sum(hits) < 20
    again = FaultInjector(
        Drop("bus.publish", rate=0.5), random=__import__("random").Random(0).random
    )
    assert hits == [again.decide("bus.publish", 0.0) is not None for _ in range(20)]


@pytest.mark.parametrize("_", [1, 2])
def test_each_test_gets_a_fresh_injector(fault_injector: FaultInjector, _: int) -> None:
    assert fault_injector.faults == []
    fault_injector.add(Failure("a.b"))
