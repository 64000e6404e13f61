"""Licence status, as a Readium LCP status document names it: ready, active, revoked,
expired. Pure: the caller passes the facts and the time."""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_LIFETIME = 30 * 86_400.0
"""Seed: the licence envelope's expiresAt defaults to 30 days."""


class LicenseState(enum.StrEnum):
    READY = "ready"  # issued, the device has not fetched it yet
    ACTIVE = "active"  # on the device, inside its window
    REVOKED = "revoked"  # the server took it back
    EXPIRED = "expired"  # its expiresAt has passed


@dataclass(frozen=True, slots=True)
class LicenseRecord:
    license_id: str
    bundle_id: str
    device_id: str
    issued_at: float
    expires_at: float
    fetched: bool = False
    revoked: bool = False


def license_state(record: LicenseRecord, now: float) -> LicenseState:
    """Revocation wins over expiry; an unfetched licence is ready until it expires."""
    if record.revoked:
        return LicenseState.REVOKED
    if now >= record.expires_at:
        return LicenseState.EXPIRED
    return LicenseState.ACTIVE if record.fetched else LicenseState.READY


def lifetime_for(tenant_lifetimes: dict[str, float], tenant: str) -> float:
    """The tenant's configured licence lifetime, else the seed's 30 days.

    >>> lifetime_for({"acme": 7 * 86_400.0}, "acme") / 86_400
    7.0
    >>> lifetime_for({}, "other") / 86_400
    30.0
    """
    value = tenant_lifetimes.get(tenant, DEFAULT_LIFETIME)
    if not value > 0:
        raise ValueError(f"licence lifetime of tenant {tenant!r} must be > 0 s, not {value!r}")
    return value
