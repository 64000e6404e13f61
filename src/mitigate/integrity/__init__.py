"""Integrity: digests, a rotating Ed25519 key ring, signed envelopes and licenses, signed
URLs, and a verifier that falls back to the last known good copy.

.. versionadded:: 0.1
"""

from mitigate.integrity.digests import b64url, b64url_decode, sha256, sha256_file
from mitigate.integrity.download import DownloadResult, adownload, download
from mitigate.integrity.envelope import (
    DEFAULT_LICENSE_LIFETIME,
    BundleEnvelope,
    EnvelopeSigner,
    License,
    read_bundle_envelope,
    verify_bundle,
    verify_license,
)
from mitigate.integrity.errors import (
    DeviceRevokedError,
    IntegrityError,
    KeyRingError,
    SignedUrlError,
)
from mitigate.integrity.keyring import DEFAULT_OVERLAP, KeyRing, Signature
from mitigate.integrity.keyset import KeyCache, KeySet, KeySource, PublicKey, jwk_thumbprint
from mitigate.integrity.signed_url import DEFAULT_URL_TTL, SignedTarget, UrlSigner
from mitigate.integrity.trust import DeviceTrust
from mitigate.integrity.verifier import (
    BundleStore,
    BundleVerifier,
    FileBundleStore,
    MemoryBundleStore,
    StoredBundle,
    TamperReport,
    Verdict,
)

__all__ = [
    "DEFAULT_LICENSE_LIFETIME",
    "DEFAULT_OVERLAP",
    "DEFAULT_URL_TTL",
    "BundleEnvelope",
    "BundleStore",
    "BundleVerifier",
    "DeviceRevokedError",
    "DeviceTrust",
    "DownloadResult",
    "EnvelopeSigner",
    "FileBundleStore",
    "IntegrityError",
    "KeyCache",
    "KeyRing",
    "KeyRingError",
    "KeySet",
    "KeySource",
    "License",
    "MemoryBundleStore",
    "PublicKey",
    "Signature",
    "SignedTarget",
    "SignedUrlError",
    "StoredBundle",
    "TamperReport",
    "UrlSigner",
    "Verdict",
    "adownload",
    "b64url",
    "b64url_decode",
    "download",
    "jwk_thumbprint",
    "read_bundle_envelope",
    "sha256",
    "sha256_file",
    "verify_bundle",
    "verify_license",
]
