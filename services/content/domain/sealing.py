"""Bundle encryption: AES-256-GCM under a fresh data key; the data key is wrapped by the
key ring (the KMS) for storage and sealed for the device's X25519 key for delivery.
Pure computation: keys and bytes in, bytes out."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12
_INFO = b"content.bundle.data-key.v1"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encrypt(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def decrypt(data_key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Raises ``cryptography.exceptions.InvalidTag`` when a byte was changed."""
    return AESGCM(data_key).decrypt(sealed[:NONCE], sealed[NONCE:], aad)


def public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _kek(shared: bytes, aad: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=aad, info=_INFO).derive(shared)


def seal_for_device(data_key: bytes, device_public: bytes, aad: bytes) -> bytes:
    """ECIES-style: an ephemeral X25519 key agrees a KEK with the device's key."""
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(device_public))
    return public_bytes(ephemeral.public_key()) + encrypt(_kek(shared, aad), data_key, aad)


def open_on_device(sealed_key: bytes, device_private: X25519PrivateKey, aad: bytes) -> bytes:
    ephemeral = X25519PublicKey.from_public_bytes(sealed_key[:32])
    shared = device_private.exchange(ephemeral)
    return decrypt(_kek(shared, aad), sealed_key[32:], aad)
