"""The KMS port for data keys: wrap and unwrap a bundle's AES-GCM data key under a
key-encryption key held by the local key ring (production: a KMS's Encrypt/Decrypt)."""

from __future__ import annotations

from ..domain import sealing


class LocalKms:
    """Embedded KMS: one AES-256 key-encryption key in process memory."""

    def __init__(self, kek: bytes | None = None) -> None:
        self._kek = kek or sealing.new_data_key()
        self.calls = 0

    async def wrap(self, data_key: bytes, context: str) -> bytes:
        self.calls += 1
        return sealing.encrypt(self._kek, data_key, context.encode())

    async def unwrap(self, wrapped: bytes, context: str) -> bytes:
        self.calls += 1
        return sealing.decrypt(self._kek, wrapped, context.encode())
