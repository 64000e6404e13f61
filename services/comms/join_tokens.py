"""Join tokens for video sessions, signed by the key ring (comms.fm.10).

A token is ``payload.kid.signature`` (base64url; the payload names the session, the
participant and an expiry). Verification needs a kid in the ring, inside its window (a
revoked kid is refused at once), a valid signature and an unexpired payload; every
refusal is a ``comms.join_token_rejected`` event (the spike rule counts them).

Emergency rotation (a leaked key): a new kid signs from now on, the old kid is revoked
with no overlap, every live session someone joined with the old kid is ended (its room
closed at the provider), and the joins made with it are listed for forensic review.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import mitigate
from services.kit.errors import ServiceError
from services.kit.http import Remote

__all__ = ["JoinTokenRejected", "JoinTokens"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinTokenRejected(mitigate.Event):
    name: ClassVar[str] = "comms.join_token_rejected"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    reason: str = ""


class JoinTokens:
    def __init__(
        self,
        runtime: Any,
        video: Remote,
        *,
        ring_path: Path,
        lifetime: float,
        switches: dict[str, str],
    ) -> None:
        self.runtime = runtime
        self.video = video
        self.ring_path = ring_path
        self.lifetime = lifetime
        self.switches = switches
        self.store = runtime.store
        self.clock = runtime.clock

    @property
    def ring(self) -> Any:
        return self.runtime.keyring

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    def issue(self, session: str, participant: str, *, ring: Any = None) -> str:
        """A token for ``participant`` to join ``session`` (``ring``: another signer, as a
        leaked copy of the key would be)."""
        payload = json.dumps(
            {"s": session, "p": participant, "exp": self.clock.wall() + self.lifetime},
            separators=(",", ":"),
        ).encode()
        signature = (ring or self.ring).sign(payload)
        return f"{_b64(payload)}.{signature.kid}.{_b64(signature.value)}"

    def _refuse(self, why: str) -> ServiceError:
        self.runtime.emit(JoinTokenRejected(target="video.join", at=self.clock.now(), reason=why))
        return ServiceError("COMMS.JOIN.TOKEN_REFUSED", f"join token refused: {why}", status=401)

    def verify(self, token: str, session: str) -> tuple[str, str]:
        """(participant, kid) of a valid token for ``session``; else a 401 ServiceError."""
        try:
            raw_payload, kid, raw_signature = token.split(".")
            payload_bytes = _unb64(raw_payload)
            payload = json.loads(payload_bytes)
            signature = _unb64(raw_signature)
        except (ValueError, TypeError):
            raise self._refuse("malformed") from None
        try:
            key = self.ring.keyset().key(kid)
            key.check_valid(self.clock.wall())
        except mitigate.IntegrityError as exc:
            raise self._refuse(f"key {kid[:12]}: {exc.code}") from None
        if key.revoked:  # a leaked key: nothing it signed is honoured, from the instant on
            raise self._refuse(f"key {kid[:12]}: revoked")
        if not key.verify(signature, payload_bytes):
            raise self._refuse("bad signature")
        if not isinstance(payload, dict) or payload.get("s") != session:
            raise self._refuse("for another session")
        if float(payload.get("exp", 0)) < self.clock.wall():
            raise self._refuse("expired")
        return str(payload.get("p", "")), kid

    async def join(self, tenant: str, session: str, token: str) -> dict[str, Any]:
        rows = await self.store.fetch(
            "SELECT state FROM comms_sessions WHERE id = ? AND tenant = ?", (session, tenant)
        )
        if not rows:
            raise ServiceError("COMMS.SESSION.UNKNOWN", f"no session {session}", status=404)
        participant, kid = self.verify(token, session)
        if rows[0][0] != "live":
            raise ServiceError(
                "COMMS.SESSION.ENDED", f"session {session} is {rows[0][0]}", status=409
            )
        await self.store.execute(
            "INSERT INTO comms_joins (id, session_id, participant, kid, at) VALUES (?, ?, ?, ?, ?)",
            (f"j-{uuid.uuid4().hex[:16]}", session, participant, kid, self.clock.now()),
        )
        return {"session": session, "participant": participant, "joined": True}

    async def emergency_rotation(self) -> dict[str, Any]:
        """Rotate now with no overlap, end the sessions joined under the old kid, and list
        every join made with it."""
        old = self.ring.active_kid
        new = self.ring.rotate(emergency=self._on("rotation"))
        self.ring.save(self.ring_path)
        joins = await self.store.fetch(
            "SELECT j.session_id, j.participant, j.at, s.room, s.pool, s.state"
            " FROM comms_joins j JOIN comms_sessions s ON s.id = j.session_id"
            " WHERE j.kid = ? ORDER BY j.at",
            (old,),
        )
        ended: list[str] = []
        if self._on("revoke"):
            for session, _, _, room, pool, state in joins:
                if state != "live" or session in ended:
                    continue
                await self.video.request(
                    f"video.pool-{pool}", "DELETE", f"/pools/{pool}/rooms/{room}"
                )
                await self.store.execute(
                    "UPDATE comms_sessions SET state = 'ended', reason = ? WHERE id = ?",
                    (f"key {old} revoked", session),
                )
                ended.append(session)
        forensic = [
            {"session": s, "participant": p, "at": float(at), "kid": old}
            for s, p, at, _, _, _ in joins
        ]
        return {"revokedKid": old, "activeKid": new, "endedSessions": ended, "joins": forensic}
