"""The seam between saga steps and retry policies.

A step's policy becomes one async callable ``run(fn, ctx)``:

* ``None``: one attempt;
* a ``str``: a catalog target name, resolved by the worker's ``policies`` (anything with
  ``.policy(name)``, a mapping, or a callable) to a pipeline;
* an object with ``acall``: a :class:`mitigate.Pipeline` (or anything shaped like one);
* :class:`~mitigate.durable.saga.Attempts`: the built-in minimal loop on the worker's clock;
* any other policy object (e.g. ``mitigate.Retry``): wrapped in a ``mitigate.Pipeline``
  named after the step, on the worker's clock and observers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mitigate.clock import Clock
from mitigate.durable._emit import emit
from mitigate.durable.errors import SagaConfigError
from mitigate.durable.saga import Attempts, StepAction, StepContext
from mitigate.errors import RETRY_EXHAUSTED_NOTE
from mitigate.observe.events import RetryExhausted, RetryScheduled
from mitigate.observe.observers import Observers

__all__ = ["PolicyRunner", "make_runner"]

PolicyRunner = Callable[[StepAction, StepContext], Awaitable[Any]]


async def _call(fn: StepAction, ctx: StepContext) -> Any:
    result = fn(ctx)
    if inspect.isawaitable(result):
        return await result
    return result


def _resolve_name(policies: Any, name: str) -> Any:
    if policies is None:
        raise SagaConfigError(
            name,
            "the step names a catalog policy but the worker has no policies",
            hint="pass policies=catalog (or a mapping of name to pipeline) to the worker",
        )
    if hasattr(policies, "policy"):
        return policies.policy(name)
    if isinstance(policies, Mapping):
        if name not in policies:
            raise SagaConfigError(name, "no such policy in the worker's policies")
        return policies[name]
    if callable(policies):
        return policies(name)
    raise SagaConfigError(name, "policies must be a catalog, a mapping or a callable")


def make_runner(
    policy: Any, *, target: str, clock: Clock, observers: Observers, policies: Any
) -> PolicyRunner:
    """Turn a step's policy into ``run(fn, ctx)``."""
    if isinstance(policy, str):
        policy = _resolve_name(policies, policy)
    if policy is None:
        return _call
    if isinstance(policy, Attempts):
        return _attempts_runner(policy, target, clock, observers)
    if hasattr(policy, "acall"):
        pipeline = policy

        async def run_pipeline(fn: StepAction, ctx: StepContext) -> Any:
            return await pipeline.acall(_call, fn, ctx)

        return run_pipeline
    try:
        from mitigate import policy as policy_module
    except ImportError as exc:  # pragma: no cover - the policy layer ships with mitigate
        raise SagaConfigError(target, f"cannot use {policy!r} as a step policy") from exc
    pipeline_type = getattr(policy_module, "Pipeline", None)
    if pipeline_type is None:
        raise SagaConfigError(
            target,
            f"cannot use {policy!r} as a step policy",
            hint="pass a catalog name, a Pipeline, or Attempts(...)",
        )
    return make_runner(
        pipeline_type(target, policy, clock=clock, observers=observers),
        target=target,
        clock=clock,
        observers=observers,
        policies=policies,
    )


def _attempts_runner(
    attempts: Attempts, target: str, clock: Clock, observers: Observers
) -> PolicyRunner:
    async def run(fn: StepAction, ctx: StepContext) -> Any:
        retry = 0
        while True:
            try:
                return await _call(fn, ctx)
            except attempts.retry_on as exc:
                if retry >= attempts.max_retries:
                    if attempts.max_retries:
                        exc.add_note(RETRY_EXHAUSTED_NOTE)
                        emit(
                            observers,
                            RetryExhausted,
                            target=target,
                            at=clock.now(),
                            attempt=retry + 1,
                            error=exc,
                        )
                    raise
                retry += 1
                delay = attempts.delay(retry)
                emit(
                    observers,
                    RetryScheduled,
                    target=target,
                    at=clock.now(),
                    attempt=retry,
                    delay=delay,
                    error=exc,
                )
                await clock.asleep(delay)

    return run
