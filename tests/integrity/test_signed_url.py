"""Signed URLs: HMAC over path, hash and expiry; 10-minute default TTL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from mitigate.clock import VirtualClock
from mitigate.errors import ConfigError
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import sha256
from mitigate.integrity.errors import SignedUrlError
from mitigate.integrity.signed_url import DEFAULT_URL_TTL, UrlSigner

SECRET = b"s" * 32
DIGEST = sha256(b"object")


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    params.update(changes)
    return f"{parts.path}?{urlencode(params)}"


def test_default_ttl_is_ten_minutes(virtual_clock: VirtualClock) -> None:
    assert DEFAULT_URL_TTL == 600
    signer = UrlSigner(SECRET, clock=virtual_clock)
    url = signer.sign("/objects/a", DIGEST)
    virtual_clock.advance(599)
    target = signer.verify_url(url)
    assert target.sha256 == DIGEST and target.path == "/objects/a"
    virtual_clock.advance(1)
    with pytest.raises(SignedUrlError) as info:
        signer.verify_url(url)
    assert info.value.code == codes.URL_EXPIRED


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"exp": "9999999999"},
        {"sig": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"extra": "1"},
        {"exp": "-5"},
        {"sha256": "not base64!"},
    ],
)
def test_any_change_to_the_query_is_refused(change: dict[str, str], virtual_clock) -> None:
    signer = UrlSigner(SECRET, clock=virtual_clock)
    url = _with(signer.sign("/objects/a", DIGEST), **change)
    with pytest.raises(SignedUrlError) as info:
        signer.verify_url(url)
    assert info.value.code == "MITIGATE.URL.INVALID"


def test_the_path_is_signed(virtual_clock: VirtualClock) -> None:
    signer = UrlSigner(SECRET, clock=virtual_clock)
    url = signer.sign("/objects/a", DIGEST)
    with pytest.raises(SignedUrlError):
        signer.verify("/objects/b", urlsplit(url).query)


def test_expired_is_only_said_of_urls_we_issued(virtual_clock: VirtualClock) -> None:
    signer = UrlSigner(SECRET, clock=virtual_clock)
    forged = UrlSigner(b"f" * 32, clock=virtual_clock).sign("/objects/a", DIGEST)
    virtual_clock.advance(3600)
    with pytest.raises(SignedUrlError) as info:
        signer.verify_url(forged)
    assert info.value.code == "MITIGATE.URL.INVALID"


def test_previous_secrets_verify_during_rotation(virtual_clock: VirtualClock) -> None:
    old = UrlSigner(b"o" * 32, clock=virtual_clock)
    url = old.sign("/objects/a", DIGEST)
    new = UrlSigner(b"n" * 32, clock=virtual_clock, previous=[b"o" * 32])
    assert new.verify_url(url).path == "/objects/a"
    assert UrlSigner(b"n" * 32, clock=virtual_clock).sign("/objects/a", DIGEST) != url


@pytest.mark.parametrize("path", ["objects/a", "/objects/../secret", "/a/./b", "/a\nb", "/a?b"])
def test_paths_must_be_plain(path: str, virtual_clock: VirtualClock) -> None:
    signer = UrlSigner(SECRET, clock=virtual_clock)
    with pytest.raises(ValueError):
        signer.sign(path, DIGEST)
    with pytest.raises(SignedUrlError):
        signer.verify(path, "sha256=x&exp=1&sig=y")


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ConfigError):
        UrlSigner(b"short")
