"""Compact JWS (RFC 7515) with EdDSA (RFC 8037): the wire form of every envelope.

``header.payload.signature``, each base64url; the signature covers the exact bytes of the
first two parts, so nothing is re-serialised before checking it. Parsing is strict: a
fixed header (``alg`` EdDSA only, ``kid``, ``typ``), bounded sizes, no duplicate JSON keys,
no NaN, no floats where integers are expected. Anything else is MALFORMED.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url, b64url_decode
from mitigate.integrity.errors import IntegrityError
from mitigate.integrity.keyring import KeyRing

# An envelope is a few hundred bytes; anything near this is not one of ours.
MAX_TOKEN_CHARS = 16 * 1024
_HEADER_KEYS = frozenset({"alg", "kid", "typ"})


def seal(ring: KeyRing, typ: str, claims: Mapping[str, Any]) -> tuple[str, str]:
    """Sign ``claims`` with the ring's active key; returns (token, kid)."""
    kid = ring.active_kid
    header = _encode({"alg": "EdDSA", "kid": kid, "typ": typ})
    payload = _encode(claims)
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = ring.sign(signing_input)
    if signature.kid != kid:  # rotated between reading the kid and signing: sign again
        return seal(ring, typ, claims)
    return f"{header}.{payload}.{b64url(signature.value)}", kid


class Parsed:
    """A token split and decoded, signature not yet checked."""

    __slots__ = ("claims", "kid", "signature", "signing_input", "token", "typ")

    def __init__(
        self,
        kid: str,
        typ: str,
        claims: dict[str, Any],
        signing_input: bytes,
        signature: bytes,
        token: str,
    ) -> None:
        self.token = token
        self.kid = kid
        self.typ = typ
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature


def parse(token: str | bytes, typ: str, subject: str) -> Parsed:
    """Split and decode ``token``; raise MALFORMED unless it is a well-formed ``typ``."""
    try:
        if isinstance(token, bytes | bytearray):
            token = bytes(token).decode("ascii")
        if not isinstance(token, str):
            raise ValueError("a token is text")
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError(f"longer than {MAX_TOKEN_CHARS} characters")
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("a token has three dot-separated parts")
        header = _decode(parts[0])
        if set(header) != _HEADER_KEYS:
            raise ValueError(f"header fields must be {sorted(_HEADER_KEYS)}")
        if header["alg"] != "EdDSA":
            raise ValueError("only alg EdDSA is accepted")
        kid = header["kid"]
        if not isinstance(kid, str) or not 0 < len(kid) <= 128:
            raise ValueError("kid must be a short string")
        if header["typ"] != typ:
            raise ValueError(f"typ is {header['typ']!r}, expected {typ!r}")
        claims = _decode(parts[1])
        signature = b64url_decode(parts[2])
        if len(signature) != 64:
            raise ValueError("an Ed25519 signature has 64 bytes")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    except (ValueError, TypeError, UnicodeError, RecursionError) as exc:
        raise IntegrityError(subject, f"malformed envelope: {exc}", code=codes.MALFORMED) from None
    return Parsed(kid, typ, claims, signing_input, signature, token)


def _encode(obj: Mapping[str, Any]) -> str:
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return b64url(raw.encode("ascii"))


def _decode(part: str) -> dict[str, Any]:
    value = json.loads(
        b64url_decode(part).decode("utf-8"),
        object_pairs_hook=_unique_keys,
        parse_constant=_no_constants,
        parse_float=_no_floats,
    )
    if not isinstance(value, dict):
        raise ValueError("each part must be a JSON object")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate field {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _no_floats(text: str) -> Any:
    raise ValueError(f"non-integer number {text[:20]!r}")


def claim_int(claims: Mapping[str, Any], name: str, *, minimum: int = 0) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    if not minimum <= value < 2**63:
        raise ValueError(f"{name} out of range")
    return value


def claim_str(claims: Mapping[str, Any], name: str, *, max_len: int = 512) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise ValueError(f"{name} must be a non-empty string of at most {max_len} characters")
    return value
