"""The NATS JetStream adapter of the bus port (nats-py).

Publishing is at-least-once with broker-side de-duplication: every message carries
``Nats-Msg-Id`` (its ``dedup_id``), so a publish re-sent after a lost ack is stored once
within the stream's duplicate window. Batches are pipelined: all messages go out, then the
acks are collected together, each with a deadline on the mitigate clock.

The acks are collected here rather than through ``JetStreamContext.publish_async``:
in nats-py 2.16 a broker error on an async publish (stream full, ``err_code`` 10077) is
raised inside the reply callback and never reaches the future, which then waits forever.
Reading the ack ourselves lets the relay tell "stream full" (back off) from "broker gone".

Consumers are durable pull consumers with explicit acks; ``nak(delay)`` asks the server
to redeliver after the delay. JetStream has no DLQ of its own, so the consumer runner
(:mod:`mitigate.bus.consumer`) reads ``num_delivered`` from each delivery's metadata and
moves a message to the DLQ itself.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as CoreSubscription
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)

from mitigate.bus import _faults
from mitigate.bus._wait import wait_all
from mitigate.bus.errors import BusUnavailableError, PoisonMessageError, PublishRejectedError
from mitigate.bus.port import (
    HEADER_KEY,
    HEADER_MSG_ID,
    ConsumerSpec,
    Delivery,
    Message,
    PublishOutcome,
)
from mitigate.clock import Clock, default_clock, machine_clock
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.injection import Injector
from mitigate.runscope import run_injector, run_observers

__all__ = ["NatsBus", "NatsDelivery", "NatsSubscription"]

_log = logging.getLogger("mitigate.bus")
_MSG_ID = "Nats-Msg-Id"
# JetStream error codes that mean "a limit is reached", not "this message is bad".
_EXHAUSTED = {10077, 10078, 10047, 10027}  # max msgs, max bytes, storage/resources


class NatsBus:
    """Publish to and consume from one JetStream stream.

    Build it on a connected client with :meth:`connect` (which also creates the stream
    when asked), or pass your own ``nats.aio.client.Client``.

    ``ack_timeout`` bounds the wait for a publish ack on the clock; a message without an
    ack in time counts as failed (:class:`BusUnavailableError`) and is re-sent by the
    relay under the same ``Nats-Msg-Id``.
    """

    def __init__(
        self,
        client: Client,
        *,
        stream: str,
        clock: Clock | None = None,
        ack_timeout: float = 5.0,
        injector: Injector | None = None,
        observers: Iterable[Observer] = (),
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.js = client.jetstream()
        self.stream = stream
        self.clock = clock or default_clock()
        self.ack_timeout = ack_timeout
        self.injector = run_injector(injector)  # inside an experiment run: the run's
        self.observers = Observers(run_observers(observers))
        self._owns_client = owns_client
        self._tokens = itertools.count(1)
        self._acks: dict[str, asyncio.Future[bool]] = {}
        self._reply_prefix = ""
        self._reply_sub: CoreSubscription | None = None
        self._subscriptions: list[NatsSubscription] = []
        self.published = 0  # messages the broker stored as new
        self.duplicates = 0  # messages the broker recognised by Nats-Msg-Id

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        stream: str,
        subjects: Sequence[str] | None = None,
        clock: Clock | None = None,
        ack_timeout: float = 5.0,
        injector: Injector | None = None,
        observers: Iterable[Observer] = (),
        duplicate_window: float = 120.0,
        reconnect_wait: float = 0.5,
        connect_timeout: float = 10.0,
        **options: Any,
    ) -> NatsBus:
        """Connect, and create or update the stream if ``subjects`` is given.

        Once connected the client reconnects forever; the first connection must succeed
        within ``connect_timeout`` seconds (real time, every attempt included), otherwise
        :class:`BusUnavailableError` names the URL: a wrong URL or a server that is down
        fails start-up instead of hanging it.
        """
        if not connect_timeout > 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, not {connect_timeout!r}")
        options.setdefault("error_cb", _log_error)
        # nats-py's own connect_timeout bounds one TCP attempt; keep it inside ours.
        options.setdefault("connect_timeout", min(2.0, connect_timeout))
        # A link that went silent (a partition, a dropped NAT entry) is found by missed
        # pings; nats-py's defaults (2 min x 2) leave publishes timing out on a dead
        # connection for 4 min after the network is back. 5 s x 3: found in ~15 s.
        options.setdefault("ping_interval", 5)
        options.setdefault("max_outstanding_pings", 3)
        client = Client()
        connecting = asyncio.ensure_future(
            client.connect(
                url,
                max_reconnect_attempts=-1,
                reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]  # nats-py takes seconds as float
                allow_reconnect=True,
                **options,
            )
        )
        # The deadline is real time whatever the bus clock: the server is real.
        if not await wait_all([connecting], connect_timeout, machine_clock()):
            connecting.cancel()
            with contextlib.suppress(BaseException):
                await connecting
            with contextlib.suppress(Exception):
                await client.close()
            raise BusUnavailableError(
                "bus.connect",
                f"no NATS server answered at {url} within {connect_timeout}s",
                hint="check the URL and that nats-server is running (with -js for JetStream)",
            )
        connecting.result()  # a refusal that is not a timeout (bad credentials) raises here
        bus = cls(
            client,
            stream=stream,
            clock=clock,
            ack_timeout=ack_timeout,
            injector=injector,
            observers=observers,
            owns_client=True,
        )
        if subjects is not None:
            await bus.ensure_stream(subjects, duplicate_window=duplicate_window)
        return bus

    async def ensure_stream(
        self,
        subjects: Sequence[str],
        *,
        duplicate_window: float = 120.0,
        max_msgs: int | None = None,
        discard_new: bool = False,
        memory: bool = False,
    ) -> None:
        """Create the stream, or update its config when it exists."""
        config = StreamConfig(
            name=self.stream,
            subjects=list(subjects),
            duplicate_window=duplicate_window,
            max_msgs=max_msgs if max_msgs is not None else -1,
            discard=DiscardPolicy.NEW if discard_new else DiscardPolicy.OLD,
            storage=StorageType.MEMORY if memory else StorageType.FILE,
        )
        try:
            await self.js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self.js.update_stream(config)

    async def delete_stream(self) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.js.delete_stream(self.stream)

    # -- publishing --------------------------------------------------------------------
    async def publish(self, message: Message) -> None:
        (outcome,) = await self.publish_many([message])
        if outcome is not None:
            raise outcome

    async def publish_many(self, messages: Sequence[Message]) -> list[PublishOutcome]:
        if not self._reply_prefix:
            await self._start_acks()
        clock = self.clock
        outcomes: list[PublishOutcome] = [None] * len(messages)
        waiting: list[tuple[int, str, asyncio.Future[bool]]] = []
        failed_keys: dict[str, BaseException] = {}
        late = 0.0  # when the publisher learns that a dropped or failed message is lost
        loop = asyncio.get_running_loop()
        for i, message in enumerate(messages):
            key = message.key
            if key is not None and key in failed_keys:
                outcomes[i] = failed_keys[key]
                continue
            decision = _faults.ask(
                self.injector, _faults.PUBLISH, clock.now(), self.observers, message.id
            )
            if decision is not None:
                effect = _faults.publish_effect(decision, message, self.ack_timeout)
                if effect.send is None:
                    outcomes[i] = effect.error
                    late = max(late, effect.delay)
                    continue
                if effect.delay:
                    await clock.asleep(effect.delay)
                message = effect.send
            token = str(next(self._tokens))
            future: asyncio.Future[bool] = loop.create_future()
            self._acks[token] = future
            try:
                await self.client.publish(
                    message.subject,
                    message.payload,
                    reply=self._reply_prefix + token,
                    headers=_wire_headers(message),
                )
            except Exception as exc:
                self._acks.pop(token, None)
                error = _send_error(exc, message)
                outcomes[i] = error
                if key is not None:
                    failed_keys[key] = error
                continue
            waiting.append((i, token, future))
        futures = [f for _, _, f in waiting]
        drop_timer = asyncio.ensure_future(clock.asleep(late)) if late else None
        if futures and not await wait_all(futures, self.ack_timeout, clock):
            for _, _token, future in waiting:
                if not future.done():
                    future.cancel()
        for i, token, future in waiting:
            self._acks.pop(token, None)
            if future.cancelled():
                outcomes[i] = BusUnavailableError(
                    _faults.PUBLISH, f"no ack for {messages[i].id} within {self.ack_timeout}s"
                )
            elif (ack_error := future.exception()) is not None:
                outcomes[i] = ack_error
            elif future.result():
                self.duplicates += 1
            else:
                self.published += 1
        if drop_timer is not None:
            await drop_timer
        return outcomes

    async def _start_acks(self) -> None:
        self._reply_prefix = self.client.new_inbox() + "."
        self._reply_sub = await self.client.subscribe(self._reply_prefix + "*", cb=self._on_ack)

    async def _on_ack(self, msg: Msg) -> None:
        token = msg.subject[len(self._reply_prefix) :]
        future = self._acks.pop(token, None)
        if future is None or future.done():
            return
        headers = msg.headers
        if headers and headers.get("Status") == "503":
            future.set_exception(
                BusUnavailableError(_faults.PUBLISH, "no JetStream stream answered (no responders)")
            )
            return
        data = msg.data
        if b'"error"' in data:
            future.set_exception(_ack_error(data))
            return
        future.set_result(b'"duplicate"' in data and b"true" in data)

    # -- consuming ---------------------------------------------------------------------
    async def subscribe(self, spec: ConsumerSpec) -> NatsSubscription:
        config = ConsumerConfig(
            durable_name=spec.name,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=spec.ack_wait,
            max_deliver=spec.max_deliver if spec.max_deliver is not None else -1,
            filter_subject=spec.subject,
        )
        try:
            await self.js.add_consumer(self.stream, config=config)
        except nats.js.errors.BadRequestError:
            await self.js.consumer_info(self.stream, spec.name)  # exists with another config
        subscription = NatsSubscription(self, spec)
        await subscription.start()
        self._subscriptions.append(subscription)
        return subscription

    async def delete_consumer(self, name: str) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.js.delete_consumer(self.stream, name)

    async def aclose(self) -> None:
        for subscription in self._subscriptions:
            await subscription.aclose()
        self._subscriptions.clear()
        if self._reply_sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._reply_sub.unsubscribe()
            self._reply_sub = None
            self._reply_prefix = ""
        for future in self._acks.values():
            future.cancel()
        self._acks.clear()
        if self._owns_client and not self.client.is_closed:
            await self.client.close()

    def __repr__(self) -> str:
        return f"NatsBus(stream={self.stream!r}, connected={self.client.is_connected})"


class NatsSubscription:
    """A durable pull consumer, pulled through our own inbox subscription.

    nats-py's ``PullSubscription.fetch`` waits with ``asyncio.wait_for`` around a queue
    read; on Python 3.11 a message that arrives as the wait times out can be dropped
    by the client (the server then redelivers it after ``ack_wait``, one delivery
    later than it should). Here the subscription callback appends every message to a
    buffer, and ``fetch`` only waits for a signal, so nothing is lost between pulls.
    """

    def __init__(self, bus: NatsBus, spec: ConsumerSpec) -> None:
        self._bus = bus
        self._spec = spec
        self._subject = f"{bus.js._prefix}.CONSUMER.MSG.NEXT.{bus.stream}.{spec.name}"
        self._inbox = ""
        self._sub: CoreSubscription | None = None
        self._buffer: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._requested_until = 0.0  # clock time the outstanding pull request expires
        self._outstanding = 0  # deliveries the outstanding pull request may still bring

    @property
    def spec(self) -> ConsumerSpec:
        return self._spec

    async def start(self) -> None:
        client = self._bus.client
        self._inbox = client.new_inbox()
        self._sub = await client.subscribe(self._inbox, cb=self._on_message)

    async def _on_message(self, msg: Msg) -> None:
        if msg.reply.startswith("$JS.ACK"):
            self._buffer.append(msg)  # a delivery
            self._outstanding -= 1
            if self._outstanding <= 0:
                self._requested_until = 0.0  # the pull request is filled
        elif msg.headers and msg.headers.get("Status") in ("404", "408", "409"):
            self._requested_until = 0.0  # the pull request is over: ask again next time
        self._arrived.set()

    async def fetch(self, batch: int, wait: float) -> list[Delivery]:
        if self._sub is None:
            raise BusUnavailableError("bus.deliver", f"consumer {self._spec.name} is closed")
        clock = self._bus.clock
        if not self._buffer:
            self._arrived.clear()
            now = clock.now()
            if now >= self._requested_until:
                self._requested_until = now + max(wait, 0.0)
                self._outstanding = batch
                await self._pull(batch, wait)
            if wait > 0 and not self._buffer:
                waiter = asyncio.ensure_future(self._arrived.wait())
                await wait_all([waiter], wait, clock)
                waiter.cancel()
        out: list[Delivery] = []
        stream = self._bus.stream
        while self._buffer and len(out) < batch:
            out.append(NatsDelivery(self._buffer.popleft(), stream))
        return out

    async def _pull(self, batch: int, wait: float) -> None:
        request: dict[str, Any] = {"batch": batch}
        if wait > 0.001:
            request["expires"] = int(wait * 1_000_000_000)
        else:
            request["no_wait"] = True
        try:
            await self._bus.client.publish(
                self._subject, json.dumps(request).encode(), reply=self._inbox
            )
        except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError) as exc:
            raise BusUnavailableError("bus.deliver", f"cannot pull: {exc!r}") from exc

    async def aclose(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error, ValueError):
                await self._sub.unsubscribe()
            self._sub = None
        self._arrived.set()


class NatsDelivery:
    """One JetStream delivery; ``attempt`` is the server's ``num_delivered``."""

    __slots__ = ("_msg", "attempt", "message")

    def __init__(self, msg: Msg, stream: str) -> None:
        self._msg = msg
        metadata = msg.metadata
        self.attempt: int = metadata.num_delivered
        headers = dict(msg.headers or {})
        dedup_id = headers.pop(_MSG_ID, "")
        msg_id = headers.get(HEADER_MSG_ID) or dedup_id or f"{stream}:{metadata.sequence.stream}"
        self.message = Message(
            msg.subject,
            msg.data,
            id=msg_id,
            key=headers.get(HEADER_KEY),
            headers=headers,
            dedup_id=dedup_id or msg_id,
        )

    @property
    def stream_sequence(self) -> int:
        return int(self._msg.metadata.sequence.stream)

    async def ack(self) -> None:
        await self._settle(self._msg.ack())

    async def nak(self, delay: float = 0.0) -> None:
        await self._settle(self._msg.nak(delay=delay if delay > 0 else None))

    async def term(self) -> None:
        await self._settle(self._msg.term())

    async def _settle(self, call: Any) -> None:
        try:
            await call
        except nats.errors.MsgAlreadyAckdError:
            pass
        except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError) as exc:
            # The ack is lost; the server redelivers after ack_wait and the inbox dedupes.
            raise BusUnavailableError("bus.ack", f"ack not sent: {exc!r}") from exc


async def _log_error(error: Exception) -> None:
    # nats-py logs a full traceback per failed reconnect by default; one line is enough.
    _log.warning("nats: %r", error)


def _wire_headers(message: Message) -> dict[str, str]:
    headers: dict[str, str] = dict(message.headers) if message.headers else {}
    headers[_MSG_ID] = message.dedup_id
    headers[HEADER_MSG_ID] = message.id
    if message.key is not None:
        headers[HEADER_KEY] = message.key
    return headers


def _send_error(exc: Exception, message: Message) -> BaseException:
    if isinstance(exc, nats.errors.MaxPayloadError):
        return PoisonMessageError(
            _faults.PUBLISH, f"{message.id} is larger than the server's max payload"
        )
    return BusUnavailableError(_faults.PUBLISH, f"cannot send {message.id}: {exc!r}")


def _ack_error(data: bytes) -> BaseException:
    try:
        error: Mapping[str, Any] = json.loads(data)["error"]
    except (ValueError, KeyError, TypeError):
        return BusUnavailableError(_faults.PUBLISH, f"unreadable publish ack {data[:200]!r}")
    err_code = int(error.get("err_code") or 0)
    description = str(error.get("description") or "refused")
    if err_code in _EXHAUSTED or int(error.get("code") or 0) == 503:
        return PublishRejectedError(
            _faults.PUBLISH,
            f"broker refused: {description} (err_code {err_code})",
            exhausted=True,
            hint="a stream limit is reached; the relay backs off until it is raised",
        )
    return PublishRejectedError(
        _faults.PUBLISH, f"broker refused: {description} (err_code {err_code})"
    )
