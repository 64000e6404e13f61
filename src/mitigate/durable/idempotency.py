"""Idempotency keys: remember each request's outcome so a retry gets the same answer.

A request with an ``Idempotency-Key`` first *claims* the key with its payload's
fingerprint. The claim answers one of:

``new``       nobody used the key (or its record expired): run the request;
``replay``    the same request already finished: send back its stored response;
``in_flight`` the same key is being processed right now: refuse (409);
``mismatch``  the key was used with a different payload: refuse (422).

When the request finishes, :meth:`complete` stores the response for ``ttl`` seconds; if
it failed without a response, :meth:`release` frees the key for the client's retry.
A claim not renewed within ``lock`` seconds counts as abandoned and the next claim takes
it over; an owner that is still working calls :meth:`renew` to keep it.

Three stores: :class:`RedisIdempotencyStore` (fast, shared), :class:`DatabaseIdempotencyStore`
(the mitigate store: SQLite or PostgreSQL) and :class:`TieredIdempotencyStore`, Redis as
primary with the database as fallback when Redis is unreachable (a
:class:`~mitigate.observe.events.FallbackUsed` event each time) and, by default, as a
write-through copy, so a key evicted from Redis or written during a Redis outage is
still found. Expiry is judged on the mitigate clock.

>>> import asyncio
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> list[str]:
...     store = DatabaseIdempotencyStore(await SqliteStore.open(":memory:"))
...     seen = [(await store.claim("k1", "fp-a")).outcome]
...     seen.append((await store.claim("k1", "fp-a")).outcome)
...     await store.complete("k1", "fp-a", StoredResponse(201, (), b"created"))
...     seen.append((await store.claim("k1", "fp-a")).outcome)
...     seen.append((await store.claim("k1", "fp-b")).outcome)
...     return seen
>>> asyncio.run(main())
['new', 'in_flight', 'replay', 'mismatch']

.. versionadded:: 0.1
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from mitigate.clock import Clock
from mitigate.durable._emit import emit
from mitigate.durable.errors import IdempotencyConfigError
from mitigate.durable.store import Store, dumps, loads
from mitigate.errors import MitigateError
from mitigate.observe.events import FallbackUsed
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.breaker import Breaker
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.timeout import Timeout

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "DEFAULT_LOCK",
    "DEFAULT_TTL",
    "Claim",
    "DatabaseIdempotencyStore",
    "IdempotencyStore",
    "RedisIdempotencyStore",
    "StoredResponse",
    "TieredIdempotencyStore",
]

DEFAULT_TTL = 24 * 3600.0  # how long a finished request's response is kept
DEFAULT_LOCK = 60.0  # how long an in-flight claim holds before it counts as abandoned
Outcome = Literal["new", "replay", "in_flight", "mismatch"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The response replayed for a repeated request."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headers": [list(h) for h in self.headers],
            "body": base64.b64encode(self.body).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredResponse:
        return cls(
            int(data["status"]),
            tuple((str(k), str(v)) for k, v in data.get("headers") or ()),
            base64.b64decode(data.get("body") or ""),
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim; ``tier`` names the store that gave it."""

    outcome: Outcome
    response: StoredResponse | None = None
    tier: str = ""


@runtime_checkable
class IdempotencyStore(Protocol):
    """Where idempotency records live."""

    async def claim(
        self, key: str, fingerprint: str, *, ttl: float = DEFAULT_TTL, lock: float = DEFAULT_LOCK
    ) -> Claim: ...

    async def complete(
        self, key: str, fingerprint: str, response: StoredResponse, *, ttl: float = DEFAULT_TTL
    ) -> None: ...

    async def release(self, key: str, fingerprint: str) -> None: ...

    async def renew(self, key: str, fingerprint: str, *, lock: float = DEFAULT_LOCK) -> bool:
        """Hold our in-flight claim ``lock`` more seconds; False if it is no longer ours."""
        ...


def _decide(
    fingerprint: str, state: str, stored_fp: str, response: StoredResponse | None, tier: str
) -> Claim:
    if stored_fp != fingerprint:
        return Claim("mismatch", tier=tier)
    if state == "done" and response is not None:
        return Claim("replay", response, tier)
    return Claim("in_flight", tier=tier)


# -- Redis --------------------------------------------------------------------------------

# Claim atomically: keep a live record (finished and unexpired, or in flight and not
# abandoned) and return it; otherwise write ours. Times are the caller's clock.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local rec = cjson.decode(cur)
  local now = tonumber(ARGV[2])
  if rec.exp > now and not (rec.s == 'in_flight' and rec.lock <= now) then
    return cur
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""

# Release only our own in-flight claim.
_RELEASE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local rec = cjson.decode(cur)
  if rec.s == 'in_flight' and rec.f == ARGV[1] then
    redis.call('DEL', KEYS[1])
  end
end
return 0
"""


# Extend only our own in-flight claim (the owner is still working on it).
_RENEW = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local rec = cjson.decode(cur)
  if rec.s == 'in_flight' and rec.f == ARGV[1] then
    rec.lock = tonumber(ARGV[2])
    redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
    return 1
  end
end
return 0
"""


class RedisIdempotencyStore:
    """Records in Redis under ``prefix + key``, as JSON; Redis expires them after the TTL
    too (in real time), while the record's own expiry is judged on the clock."""

    def __init__(
        self, client: Redis, *, prefix: str = "mitigate:idem:", clock: Clock | None = None
    ) -> None:
        from mitigate.clock import default_clock

        self.client = client
        self.prefix = prefix
        self.clock = clock or default_clock()
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def __repr__(self) -> str:
        return f"RedisIdempotencyStore(prefix={self.prefix!r})"

    async def claim(
        self, key: str, fingerprint: str, *, ttl: float = DEFAULT_TTL, lock: float = DEFAULT_LOCK
    ) -> Claim:
        now = self.clock.wall()
        record = json.dumps(
            {"f": fingerprint, "s": "in_flight", "exp": now + ttl, "lock": now + lock}
        )
        found = await self._claim(
            keys=[self.prefix + key], args=[record, repr(now), max(1, int(ttl * 1000))]
        )
        if found is None:
            return Claim("new", tier="redis")
        rec = json.loads(found)
        response = StoredResponse.from_json(rec["r"]) if rec.get("r") else None
        return _decide(fingerprint, rec["s"], rec["f"], response, "redis")

    async def complete(
        self, key: str, fingerprint: str, response: StoredResponse, *, ttl: float = DEFAULT_TTL
    ) -> None:
        now = self.clock.wall()
        record = {
            "f": fingerprint,
            "s": "done",
            "exp": now + ttl,
            "lock": 0,
            "r": response.to_json(),
        }
        await self.client.set(self.prefix + key, json.dumps(record), px=max(1, int(ttl * 1000)))

    async def release(self, key: str, fingerprint: str) -> None:
        await self._release(keys=[self.prefix + key], args=[fingerprint])

    async def renew(self, key: str, fingerprint: str, *, lock: float = DEFAULT_LOCK) -> bool:
        until = self.clock.wall() + lock
        held = await self._renew(keys=[self.prefix + key], args=[fingerprint, repr(until)])
        return bool(held)


# -- the database ------------------------------------------------------------------------

_COLUMNS = "fingerprint, state, status, headers, body, expires_at, locked_until"


class DatabaseIdempotencyStore:
    """Records in the ``mitigate_idempotency`` table of a mitigate store."""

    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or store.clock

    def __repr__(self) -> str:
        return f"DatabaseIdempotencyStore({self.store!r})"

    async def claim(
        self, key: str, fingerprint: str, *, ttl: float = DEFAULT_TTL, lock: float = DEFAULT_LOCK
    ) -> Claim:
        now = self.clock.wall()
        # The claim need not be on disk: lost in a crash, the key is simply unclaimed and
        # the client's retry runs; the response (complete) is written durably, and its
        # commit carries the claim with it. One fsync per keyed request instead of two.
        async with self.store.transaction(durable=False) as tx:
            added = await tx.execute(
                "INSERT INTO mitigate_idempotency (idem_key, fingerprint, state, created_at,"
                " locked_until, expires_at) VALUES (?, ?, 'in_flight', ?, ?, ?)"
                " ON CONFLICT (idem_key) DO NOTHING",
                (key, fingerprint, now, now + lock, now + ttl),
            )
            if added:
                return Claim("new", tier="database")
            # Take over a record that expired or whose owner abandoned it.
            taken = await tx.execute(
                "UPDATE mitigate_idempotency SET fingerprint = ?, state = 'in_flight',"
                " status = NULL, headers = NULL, body = NULL, created_at = ?,"
                " locked_until = ?, expires_at = ? WHERE idem_key = ? AND (expires_at <= ?"
                " OR (state = 'in_flight' AND locked_until <= ?))",
                (fingerprint, now, now + lock, now + ttl, key, now, now),
            )
            if taken:
                return Claim("new", tier="database")
            row = await tx.fetchone(
                f"SELECT {_COLUMNS} FROM mitigate_idempotency WHERE idem_key = ?", (key,)
            )
        assert row is not None  # the insert conflicted and nothing deletes inside this tx
        stored_fp, state, status, headers, body, _exp, _lock = row
        response = None
        if state == "done":
            pairs = loads(headers) or []
            response = StoredResponse(
                int(status), tuple((str(k), str(v)) for k, v in pairs), bytes(body or b"")
            )
        return _decide(fingerprint, state, stored_fp, response, "database")

    async def complete(
        self, key: str, fingerprint: str, response: StoredResponse, *, ttl: float = DEFAULT_TTL
    ) -> None:
        now = self.clock.wall()
        await self.store.execute(
            "INSERT INTO mitigate_idempotency (idem_key, fingerprint, state, status, headers,"
            " body, created_at, locked_until, expires_at)"
            " VALUES (?, ?, 'done', ?, ?, ?, ?, NULL, ?)"
            " ON CONFLICT (idem_key) DO UPDATE SET fingerprint = excluded.fingerprint,"
            " state = 'done', status = excluded.status, headers = excluded.headers,"
            " body = excluded.body, locked_until = NULL, expires_at = excluded.expires_at",
            (
                key,
                fingerprint,
                response.status,
                dumps([list(h) for h in response.headers], what="response headers"),
                response.body,
                now,
                now + ttl,
            ),
        )

    async def release(self, key: str, fingerprint: str) -> None:
        await self.store.execute(
            "DELETE FROM mitigate_idempotency WHERE idem_key = ? AND state = 'in_flight'"
            " AND fingerprint = ?",
            (key, fingerprint),
        )

    async def renew(self, key: str, fingerprint: str, *, lock: float = DEFAULT_LOCK) -> bool:
        changed = await self.store.execute(
            "UPDATE mitigate_idempotency SET locked_until = ? WHERE idem_key = ?"
            " AND state = 'in_flight' AND fingerprint = ?",
            (self.clock.wall() + lock, key, fingerprint),
        )
        return changed > 0

    async def prune(self) -> int:
        """Delete expired records; returns how many."""
        return await self.store.execute(
            "DELETE FROM mitigate_idempotency WHERE expires_at <= ?", (self.clock.wall(),)
        )


# -- Redis first, the database behind it -------------------------------------------------


class TieredIdempotencyStore:
    """Redis as primary, the database as fallback (and, with ``write_through``, as a
    durable copy of every claim and response).

    When Redis is unreachable (connection refused, timeout) the database answers alone
    and a :class:`~mitigate.observe.events.FallbackUsed` event records it (``target``
    ``idempotency.store``, ``source`` ``database``). Redis calls run through ``policy``
    (default: a 0.5 s timeout and a breaker that skips Redis for 5 s after 3 failures in
    10 s), so a Redis outage costs requests a timeout only until the breaker opens, not a
    client-side reconnect loop each. With ``write_through`` (the default)
    a key that Redis lost (eviction, flush, a write made while it was down) is found in
    the database, replayed from there, and written back to Redis.
    """

    target = "idempotency.store"

    def __init__(
        self,
        primary: RedisIdempotencyStore,
        fallback: DatabaseIdempotencyStore,
        *,
        write_through: bool = True,
        policy: Pipeline | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        if primary.clock is not fallback.clock:
            raise IdempotencyConfigError(
                self.target,
                "the Redis and database stores must share one clock",
                hint="pass the same clock to both",
            )
        self.primary = primary
        self.fallback = fallback
        self.write_through = write_through
        self.observers = Observers(observers)
        self.policy = policy or Pipeline(
            "idempotency.redis",
            Breaker(failures=3, window=10.0, reset=5.0),
            Timeout(0.5),
            clock=primary.clock,
            observers=self.observers,
        )
        self.fallbacks = 0  # how many operations the database answered because Redis was away

    def __repr__(self) -> str:
        return f"TieredIdempotencyStore({self.primary!r}, {self.fallback!r})"

    @property
    def clock(self) -> Clock:
        return self.primary.clock

    async def claim(
        self, key: str, fingerprint: str, *, ttl: float = DEFAULT_TTL, lock: float = DEFAULT_LOCK
    ) -> Claim:
        try:
            first = await self.policy.acall(
                self.primary.claim, key, fingerprint, ttl=ttl, lock=lock
            )
        except _unreachable_errors() as exc:
            self._fell_back("claim", exc)
            return await self.fallback.claim(key, fingerprint, ttl=ttl, lock=lock)
        if first.outcome != "new" or not self.write_through:
            return first
        second = await self.fallback.claim(key, fingerprint, ttl=ttl, lock=lock)
        if second.outcome == "new":
            return Claim("new", tier="redis")
        # Redis had lost the key; the database remembers it.
        try:
            if second.outcome == "replay" and second.response is not None:
                await self.policy.acall(
                    self.primary.complete, key, fingerprint, second.response, ttl=ttl
                )
            else:
                await self.policy.acall(self.primary.release, key, fingerprint)
        except _unreachable_errors() as exc:
            self._fell_back("re-warm", exc)
        return second

    async def complete(
        self, key: str, fingerprint: str, response: StoredResponse, *, ttl: float = DEFAULT_TTL
    ) -> None:
        stored = False
        try:
            await self.policy.acall(self.primary.complete, key, fingerprint, response, ttl=ttl)
            stored = True
        except _unreachable_errors() as exc:
            self._fell_back("complete", exc)
        if self.write_through or not stored:
            await self.fallback.complete(key, fingerprint, response, ttl=ttl)

    async def release(self, key: str, fingerprint: str) -> None:
        try:
            await self.policy.acall(self.primary.release, key, fingerprint)
        except _unreachable_errors() as exc:
            self._fell_back("release", exc)
        await self.fallback.release(key, fingerprint)

    async def renew(self, key: str, fingerprint: str, *, lock: float = DEFAULT_LOCK) -> bool:
        held = False
        reached = False
        try:
            held = await self.policy.acall(self.primary.renew, key, fingerprint, lock=lock)
            reached = True
        except _unreachable_errors() as exc:
            self._fell_back("renew", exc)
        if self.write_through or not reached:
            held = await self.fallback.renew(key, fingerprint, lock=lock) or held
        return held

    def _fell_back(self, operation: str, error: BaseException) -> None:
        self.fallbacks += 1
        emit(
            self.observers,
            FallbackUsed,
            target=self.target,
            at=self.primary.clock.now(),
            error=error,
            reason=f"redis unreachable during {operation}",
            source="database",
        )


@functools.cache
def _unreachable_errors() -> tuple[type[BaseException], ...]:
    # Connection trouble, a timeout, or the breaker refusing to try. Read when an error
    # is matched, not at import: importing redis costs ~0.3 s on every `mitigate` command.
    errors: list[type[BaseException]] = [OSError, TimeoutError, MitigateError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # redis is an optional extra
        return tuple(errors)
    return (*errors, RedisConnectionError, RedisTimeoutError)
