"""NATS protocol framing for the fault proxy: whole operations, so messages can be dropped.

A TCP proxy sees bytes; to drop "10 % of NATS messages" it must cut the stream into the
protocol's operations and let whole ones through or not. The client protocol is text
lines ending in CRLF; four operations carry a payload whose size ends the line:
``PUB subject [reply] size``, ``HPUB subject [reply] hdr_size total``,
``MSG subject sid [reply] size`` and ``HMSG subject sid [reply] hdr_size total``.

>>> frames = NatsFrames()
>>> frames.feed(b"PING\\r\\nPUB orders.new _INBOX.1 5\\r\\nhel")
[NatsFrame(op='PING', subject='', reply='')]
>>> frames.feed(b"lo\\r\\n")
[NatsFrame(op='PUB', subject='orders.new', reply='_INBOX.1')]
>>> frames.feed(b"MSG orders.new 7 $JS.ACK.S.c.1.2.3.4.5 2\\r\\nhi\\r\\n")[0].is_delivery
True

What a drop of each kind does to JetStream: a dropped publish gets no ack, so the
publisher re-sends it (the outbox relay does, under the same ``Nats-Msg-Id``); a dropped
delivery is redelivered by the server after the consumer's ``ack_wait``; a dropped ack
(a client ``PUB`` to ``$JS.ACK...``) makes the server redeliver a message already handled.

.. versionadded:: 0.2
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["NatsFrame", "NatsFrames"]

_PAYLOAD_OPS = {"PUB", "HPUB", "MSG", "HMSG"}
_MAX_LINE = 1 << 20  # a control line longer than this is not NATS: pass it on as it is


@dataclass(frozen=True, slots=True)
class NatsFrame:
    """One protocol operation and its bytes on the wire."""

    op: str
    subject: str
    reply: str
    raw: bytes = field(repr=False, default=b"")

    @property
    def is_publish(self) -> bool:
        """An application publish from a client (not an ack, not a JetStream API call)."""
        return self.op in ("PUB", "HPUB") and not self.subject.startswith(("$JS.", "_INBOX."))

    @property
    def is_delivery(self) -> bool:
        """A JetStream consumer delivery to a client (it carries an ack subject)."""
        return self.op in ("MSG", "HMSG") and self.reply.startswith("$JS.ACK.")

    @property
    def is_ack(self) -> bool:
        """A client's ack, nak or term of a JetStream delivery."""
        return self.op in ("PUB", "HPUB") and self.subject.startswith("$JS.ACK.")


class NatsFrames:
    """Cut one direction of a NATS connection into :class:`NatsFrame` s; keeps what is
    incomplete until the rest arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[NatsFrame]:
        self._buffer += data
        frames: list[NatsFrame] = []
        buffer = self._buffer
        while buffer:
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > _MAX_LINE:  # not NATS: do not hold it back for ever
                    frames.append(NatsFrame("", "", "", bytes(buffer)))
                    buffer.clear()
                break
            parts = bytes(buffer[:end]).split()
            op = parts[0].decode("ascii", "replace").upper() if parts else ""
            size = _payload_size(op, parts)
            total = end + 2 + (size + 2 if size is not None else 0)
            if len(buffer) < total:
                break
            subject, reply = _names(op, parts)
            frames.append(NatsFrame(op, subject, reply, bytes(buffer[:total])))
            del buffer[:total]
        return frames


def _payload_size(op: str, parts: list[bytes]) -> int | None:
    if op not in _PAYLOAD_OPS:
        return None
    try:
        return int(parts[-1])
    except (ValueError, IndexError):
        return None


def _names(op: str, parts: list[bytes]) -> tuple[str, str]:
    """(subject, reply) of a payload operation; empty strings otherwise."""
    words = [p.decode("utf-8", "replace") for p in parts]
    if op == "PUB" and len(words) in (3, 4):
        return words[1], words[2] if len(words) == 4 else ""
    if op == "HPUB" and len(words) in (4, 5):
        return words[1], words[2] if len(words) == 5 else ""
    if op == "MSG" and len(words) in (4, 5):
        return words[1], words[3] if len(words) == 5 else ""
    if op == "HMSG" and len(words) in (5, 6):
        return words[1], words[3] if len(words) == 6 else ""
    return "", ""
