"""Breakers shared across processes through Redis: when one process's breaker on a
dependency opens, the breakers of every other process on that dependency open too, for
the rest of its reset time; each then half-opens and probes on its own.

Without it, N workers each pay the full trip count before they stop calling a dependency
that is down (N x 10 failed KMS calls, not 10). The opening is announced on a Redis
channel (``PUBLISH``) and kept as a key that expires with the reset time, so a process
that starts, or reconnects, while the breaker is open adopts it too. Sharing is best
effort: with Redis away each breaker still trips on its own failures.

>>> from mitigate.policy.breaker import Breaker
>>> from mitigate.policy.pipeline import Pipeline
>>> kms = Pipeline("kms.sign", Breaker(10, 30, 60))
>>> shared = SharedBreakers(redis=None, namespace="content")
>>> shared.watch(kms)
>>> shared.adopt({"target": "kms.sign", "seconds": 42, "origin": "worker-a"})
True
>>> kms.breaker().state, round(kms.breaker().open_for(kms.clock.now()))
('open', 42)

.. versionadded:: 0.2
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Coroutine, Iterable
from typing import Any

from mitigate.clock import Clock, default_clock
from mitigate.observe.events import BreakerOpened, Event
from mitigate.policy.pipeline import Pipeline

__all__ = ["PEER_REASON", "SharedBreakers"]

_log = logging.getLogger("mitigate.policy")
PEER_REASON = "opened by a peer"


class SharedBreakers:
    """Share the openings of the watched pipelines' breakers through ``redis`` (a
    ``redis.asyncio.Redis``): ``watch`` the pipelines (it joins their observers, to hear
    their ``breaker.opened``), then ``start``; ``aclose`` when done."""

    def __init__(
        self, redis: Any, *, namespace: str, origin: str | None = None, clock: Clock | None = None
    ) -> None:
        self.redis = redis
        self.clock = clock or default_clock()
        self.channel = f"mitigate:breakers:{namespace}"
        self.origin = origin or uuid.uuid4().hex
        self._watched: dict[str, Pipeline] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.announced = 0  # openings of ours told to the others
        self.adopted = 0  # openings of others taken on here

    def __repr__(self) -> str:
        return f"SharedBreakers({self.channel!r}, watching {sorted(self._watched)})"

    def watch(self, *pipelines: Pipeline) -> None:
        for pipeline in pipelines:
            pipeline.breaker()  # raises ConfigError when it has none (or is keyed)
            self._watched[pipeline.target] = pipeline
            if not any(o is self for o in pipeline.observers):
                pipeline.observers.add(self)
            if self._listener is not None:  # started: an opening announced earlier counts
                self._spawn(self.catch_up([pipeline.target]))

    # -- ours to theirs -------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if not isinstance(event, BreakerOpened) or event.reason.startswith(PEER_REASON):
            return
        pipeline = self._watched.get(event.target)
        if pipeline is None:
            return
        seconds = pipeline.breaker().open_for(event.at)
        self._spawn(self._announce(event.target, seconds))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        async def quietly() -> None:
            try:
                await work
            except Exception as exc:  # best effort, as above
                _log.warning("shared breakers: %r", exc)

        task = asyncio.get_running_loop().create_task(quietly())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, target: str, seconds: float) -> None:
        until = self.clock.wall() + seconds  # for a late starter; live peers use seconds
        body = json.dumps(
            {"target": target, "seconds": seconds, "until": until, "origin": self.origin}
        )
        try:
            await self.redis.set(self._key(target), body, px=max(1, int(seconds * 1000)))
            await self.redis.publish(self.channel, body)
            self.announced += 1
        except Exception as exc:  # best effort: the local breaker is open all the same
            _log.warning("breaker %s: could not share its opening: %r", target, exc)

    # -- theirs to ours -------------------------------------------------------------
    def adopt(self, announcement: dict[str, Any]) -> bool:
        """Open our breaker of ``announcement["target"]`` for its remaining seconds."""
        if announcement.get("origin") == self.origin:
            return False
        pipeline = self._watched.get(str(announcement.get("target")))
        if pipeline is None:
            return False
        seconds = float(announcement.get("seconds", 0))
        reason = f"{PEER_REASON} ({str(announcement.get('origin'))[:12]})"
        opened = pipeline.breaker().trip(seconds, reason)
        self.adopted += opened
        return opened

    async def start(self) -> SharedBreakers:
        """Listen for openings, and adopt those announced before we started. With Redis
        away the service starts all the same (each breaker trips on its own); the listener
        subscribes and catches up once Redis answers."""
        pubsub = self.redis.pubsub()
        subscribed = True
        try:
            await pubsub.subscribe(self.channel)
        except Exception as exc:  # best effort, as everywhere here
            _log.warning("shared breakers: %r at start; each breaker on its own until back", exc)
            subscribed = False
        self._listener = asyncio.get_running_loop().create_task(self._listen(pubsub))
        if subscribed:
            await self.catch_up()
        return self

    async def catch_up(self, targets: Iterable[str] | None = None) -> int:
        """Adopt every opening still running (its key not expired); returns how many."""
        adopted = 0
        for target in list(self._watched if targets is None else targets):
            body = await self.redis.get(self._key(target))
            if not body:
                continue
            announcement = json.loads(body)
            # The key expires on Redis's clock; what is left is read on ours (the
            # announcer's wall time), which is also right for a run in virtual time.
            left = float(announcement.get("until", 0)) - self.clock.wall()
            if left > 0:
                announcement["seconds"] = left
                adopted += self.adopt(announcement)
        return adopted

    async def _listen(self, pubsub: Any) -> None:
        try:
            while True:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except Exception as exc:  # Redis away: resubscribe and catch up when back
                    _log.warning("shared breakers: %r; listening again", exc)
                    await self.clock.asleep(1.0)
                    with contextlib.suppress(Exception):
                        await pubsub.subscribe(self.channel)
                        await self.catch_up()
                    continue
                if message is not None and message.get("type") == "message":
                    with contextlib.suppress(ValueError, TypeError):
                        self.adopt(json.loads(message["data"]))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
            self._listener = None
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def _key(self, target: str) -> str:
        return f"{self.channel}:{target}"
