"""Fallback: chains, last known good with a maximum age, the reason recorded."""

from __future__ import annotations

from typing import Any

import pytest

from mitigate import (
    Breaker,
    ConfigError,
    Fallback,
    FallbackUsed,
    Pipeline,
    Recorder,
    Retry,
    VirtualClock,
)
from mitigate.errors import BUDGET_EXHAUSTED_NOTE, RETRY_EXHAUSTED_NOTE


def down(*args: Any, **kwargs: Any) -> Any:
    raise ConnectionError("down")


async def adown(*args: Any, **kwargs: Any) -> Any:
    raise ConnectionError("down")


def test_chain_tries_alternatives_in_order_with_the_call_arguments() -> None:
    rec = Recorder()
    seen: list[tuple[Any, ...]] = []

    def local_model(prompt: str) -> str:
        seen.append(("local", prompt))
        raise RuntimeError("no consent")

    def manual(prompt: str) -> str:
        seen.append(("manual", prompt))
        return f"edit manually: {prompt}"

    policy = Pipeline(
        "ai.call", Fallback(local_model, manual), clock=VirtualClock(), observers=[rec]
    )
    assert policy.call(down, "summarise") == "edit manually: summarise"
    assert seen == [("local", "summarise"), ("manual", "summarise")]
    (event,) = rec.of(FallbackUsed)
    assert event.reason == "ConnectionError" and event.source.endswith("manual")
    assert isinstance(event.error, ConnectionError)


def test_reason_names_the_code_and_how_retry_ended() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline(
        "ai.config",
        Fallback(value={"assistant": "default"}),
        Retry(2, schedule=(0.1,), budget=5),
        Breaker(3, 30, 60),
        clock=clock,
        observers=[rec],
    )
    assert policy.call(down) == {"assistant": "default"}
    assert rec.values("fallback.used", "reason") == [f"ConnectionError ({RETRY_EXHAUSTED_NOTE})"]
    # the breaker is now open for 60 s, longer than the 5 s budget: the default is
    # served at once, without calling
    calls: list[int] = []
    assert policy.call(lambda: calls.append(1)) == {"assistant": "default"}
    assert calls == []
    assert rec.values("fallback.used", "reason")[-1] == (
        f"MITIGATE.BREAKER.OPEN ({BUDGET_EXHAUSTED_NOTE})"
    )


def test_last_known_good_within_its_maximum_age() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline(
        "catalog.get",
        Fallback(last_known_good=300, key=lambda item: item),
        clock=clock,
        observers=[rec],
    )
    assert policy.call(lambda item: f"{item} v1", "a") == "a v1"
    clock.advance(120)
    assert policy.call(down, "a") == "a v1"  # 120 s old, within 300 s
    assert rec.values("fallback.used", "source") == ["last known good (2m old)"]
    with pytest.raises(ConnectionError) as info:
        policy.call(down, "b")  # nothing known for b
    assert "no last known good" in info.value.__notes__[-1]
    clock.advance(181)
    with pytest.raises(ConnectionError):
        policy.call(down, "a")  # 301 s old: too old


def test_last_known_good_comes_before_alternatives() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Fallback(lambda: "degraded", last_known_good=60), clock=clock)
    assert policy.call(lambda: "fresh") == "fresh"
    assert policy.call(down) == "fresh"
    clock.advance(61)
    assert policy.call(down) == "degraded"


def test_when_everything_fails_the_primary_error_is_reraised_with_a_note() -> None:
    def broken() -> str:
        raise RuntimeError("also down")

    policy = Pipeline("t", Fallback(broken), clock=VirtualClock())
    primary = ConnectionError("primary down")

    def fails() -> None:
        raise primary

    with pytest.raises(ConnectionError) as info:
        policy.call(fails)
    assert info.value is primary
    assert info.value.__notes__[-1].startswith("MITIGATE.FALLBACK.FAILED")
    assert "also down" in info.value.__notes__[-1]


def test_on_and_when_choose_what_it_answers() -> None:
    policy = Pipeline(
        "t",
        Fallback(value="cached", on=ConnectionError, when=lambda e: "transient" in str(e)),
        clock=VirtualClock(),
    )

    def raise_(error: Exception) -> Any:
        raise error

    assert policy.call(raise_, ConnectionError("transient")) == "cached"
    with pytest.raises(ConnectionError):
        policy.call(raise_, ConnectionError("permanent"))
    with pytest.raises(ValueError):
        policy.call(raise_, ValueError("transient"))


async def test_async_alternatives_are_awaited() -> None:
    async def replica(key: str) -> str:
        return f"replica {key}"

    policy = Pipeline("db.read", Fallback(replica), clock=VirtualClock())
    assert await policy.acall(adown, "k") == "replica k"


def test_an_async_alternative_in_a_sync_call_is_an_error() -> None:
    async def replica() -> str:
        return "replica"

    policy = Pipeline("db.read", Fallback(replica), clock=VirtualClock())
    with pytest.raises(ConfigError, match="async"):
        policy.call(down)


def test_options() -> None:
    with pytest.raises(ConfigError, match="nothing to fall back on"):
        Fallback()
    with pytest.raises(ConfigError, match="callables"):
        Fallback("not callable")  # type: ignore[arg-type]
    assert Fallback(value=None).value is None  # None is a real value


# -- handlers receive the error they replace ----------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_alternative_that_asks_for_the_error_receives_it(mode: str) -> None:
    seen: list[tuple[str, BaseException]] = []
    primary = ConnectionError("kms unreachable")

    def fails(key: str) -> str:
        raise primary

    async def afails(key: str) -> str:
        raise primary

    def queue_for_later(key: str, *, error: Exception) -> str:
        seen.append((key, error))
        return f"queued {key} ({type(error).__name__})"

    policy = Pipeline(
        "kms.sign", Fallback(queue_for_later), Retry(1, schedule=(0.1,)), clock=VirtualClock()
    )
    if mode == "sync":
        answer = policy.call(fails, "doc-1")
    else:
        answer = await policy.acall(afails, "doc-1")
    assert answer == "queued doc-1 (ConnectionError)"
    assert seen == [("doc-1", primary)]  # the very error retry gave up on
    assert any(n.startswith(RETRY_EXHAUSTED_NOTE) for n in primary.__notes__)


async def test_an_async_alternative_receives_the_error_too() -> None:
    async def replica(key: str, error: Exception) -> str:
        return f"replica {key} after {error}"

    policy = Pipeline("db.read", Fallback(replica), clock=VirtualClock())
    assert await policy.acall(adown, "k") == "replica k after down"


def test_alternatives_without_an_error_parameter_get_the_call_arguments_only() -> None:
    policy = Pipeline("t", Fallback(lambda *args, **kwargs: (args, kwargs)), clock=VirtualClock())
    assert policy.call(down, 1, x=2) == ((1,), {"x": 2})


# -- an async alternative cannot serve a sync call: refused before any call -----------------


def test_an_async_alternative_is_refused_when_a_sync_function_is_wrapped() -> None:
    async def replica() -> str:
        return "replica"

    policy = Pipeline("db.read", Fallback(replica), clock=VirtualClock())
    with pytest.raises(ConfigError, match="async") as info:

        @policy.wrap
        def read() -> str:
            return "primary"

    assert info.value.code == "MITIGATE.CONFIG.CALL_STYLE"


@pytest.mark.parametrize("observed", [False, True])
def test_an_async_alternative_is_refused_at_the_first_sync_call(observed: bool) -> None:
    async def replica() -> str:
        return "replica"

    policy = Pipeline(
        "db.read",
        Fallback(replica),
        Retry(2, schedule=(0.1,)),
        clock=VirtualClock(),
        observers=[Recorder()] if observed else [],
    )
    calls: list[int] = []
    with pytest.raises(ConfigError, match="async") as info:
        policy.call(lambda: calls.append(1) or "primary")  # would succeed: still refused
    assert info.value.code == "MITIGATE.CONFIG.CALL_STYLE"
    assert calls == []  # refused before the dependency was called


def test_an_error_parameter_the_call_fills_itself_is_left_alone() -> None:
    def report(code: str, error: str = "none") -> str:
        return f"{code}: {error}"

    policy = Pipeline("t", Fallback(report), clock=VirtualClock())
    assert policy.call(down, "E1", "given by the caller") == "E1: given by the caller"
    assert policy.call(down, "E2", error="by keyword") == "E2: by keyword"
    assert policy.call(down, "E3") == "E3: down"  # not filled: it gets the error
