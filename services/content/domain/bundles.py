"""Offline bundles: what the learner sees while one is prepared, and which failures are
worth retrying."""

from __future__ import annotations

import enum
from dataclasses import dataclass

PREPARING = "preparing offline content"


class BundleStatus(enum.StrEnum):
    PREPARING = "preparing"  # queued: the learner sees PREPARING
    READY = "ready"
    FAILED = "failed"  # permanent: e.g. the device has no key; support must act


class DeviceKeyMissingError(Exception):
    """Permanent: the device registered no public key, so nothing can be sealed for it.
    Retrying cannot help; the job goes to the dead-letter queue with this reason."""

    code = "CONTENT.DEVICE.KEY_MISSING"


class StorageFullError(OSError):
    """The worker's disk (object store) is full: ENOSPC. Transient from the job's point
    of view: space is freed or the store grows, and the retry succeeds."""

    code = "CONTENT.STORAGE.FULL"


@dataclass(frozen=True, slots=True)
class BundleRequest:
    tenant: str
    device_id: str
    course_id: str

    @property
    def bundle_id(self) -> str:
        """One bundle per (device, course): a learner asking twice gets the same job."""
        return f"{self.course_id}@{self.device_id}"


def is_permanent(error: BaseException) -> bool:
    return isinstance(error, DeviceKeyMissingError)
