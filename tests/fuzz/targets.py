"""Fuzz targets: hostile inputs for every parser that reads what an attacker controls.

A target is a hypothesis strategy and a function that feeds one input to the code under
test and checks what must hold. A *crash* is an exception that is not the target's
documented error type (``expected``); a property the target checks (a range inside the
file, a replay that never crosses clients) fails with :class:`PropertyViolatedError`, which
is never expected, so it counts as a crash too.

``strategy`` is the input space: the bounded pytest run draws a few dozen inputs from it,
``bench/fuzz.py`` runs it for minutes.

Used by tests/fuzz/test_fuzz.py (a few seconds, derandomized) and bench/fuzz.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import stat
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["TARGETS", "PropertyViolatedError", "Target"]


class PropertyViolatedError(AssertionError):
    """The input ran, but what the target promises did not hold."""


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], object]
    expected: tuple[type[BaseException], ...]


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise PropertyViolatedError(what)


# Text that looks like the real thing half of the time, anything the other half.
def _mixed(fragments: st.SearchStrategy[str], *, max_size: int = 40) -> st.SearchStrategy[str]:
    pieces = st.one_of(fragments, fragments, st.text(max_size=12))
    return st.lists(pieces, max_size=max_size).map("".join)


# --------------------------------------------------------------------------- notation

_NOTATION_TOKENS = st.sampled_from(
    [
        "0", "1", "3", "50", "200", "1.5", "99999999999999999999", "9" * 400, "ms", "s",
        "m", "min", "h", "d", "days", "exp", "cap", "max", "to", "–", "—", "-", "..",
        ",", ";", "/", " ", "(", ")", "(saga timeout)", "total", "fail", "fails", "in",
        "per", "x", "\u00b2", "\u0663", "e9", ".", "nan", "inf",
    ]
)  # fmt: skip
_NOTATION_TEXT = _mixed(_NOTATION_TOKENS, max_size=12)


def _notation(args: tuple[str, str, str, str, str]) -> object:
    from mitigate.errors import ConfigError
    from mitigate.policy.notation import (
        format_duration,
        parse_breaker,
        parse_duration,
        parse_retry,
    )

    text, backoff, budget, trip, base = args
    results: list[object] = []
    for call in (
        lambda: parse_duration(text),
        lambda: parse_retry(max=text, backoff=backoff, budget=budget, base=base or None),
        lambda: parse_breaker(trip, budget),
    ):
        try:
            results.append(call())
        except ConfigError:
            continue
    try:
        seconds = parse_duration(text)
    except ConfigError:
        return results
    _check(seconds >= 0 and seconds == seconds, f"duration {seconds!r} from {text!r}")
    again = parse_duration(format_duration(seconds))
    _check(abs(again - seconds) <= 1e-6 * max(1.0, seconds), f"round trip {text!r}")
    return results


NOTATION = Target(
    "notation",
    st.tuples(_NOTATION_TEXT, _NOTATION_TEXT, _NOTATION_TEXT, _NOTATION_TEXT, _NOTATION_TEXT),
    _notation,
    expected=(),  # ConfigError is caught inside: anything else is a crash
)


# --------------------------------------------------------------------------- catalog

_KEYS = st.sampled_from(
    [
        "service", "policies", "a.b", "retry", "max", "backoff", "budget", "breaker",
        "trip", "reset", "timeout", "bulkhead", "max_concurrent", "rate_limit", "limit",
        "failure_modes", "id", "title", "detection_rules", "kind", "threshold", "window",
        "fallbacks", "value", "defaults", "base", "<<", "switches", "experiments",
    ]
)  # fmt: skip
_YAML_SCALARS = st.one_of(
    _NOTATION_TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
)
_YAML_DATA = st.recursive(
    _YAML_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_KEYS, st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=30,
)
_YAML_SNIPPETS = st.sampled_from(
    [
        "a: &a [x, x]\nb: &b [*a, *a]\n",
        "p: &p {q: *p}\n",
        "x: " + "[" * 200 + "]" * 200 + "\n",
        "x: 1" + ":59" * 50 + "\n",
        "x: 2001-13-45\n",
        "x: !!binary AAA=\n",
        "x: !!python/object:os.system {}\n",
        "x: !!set {a, b}\n",
        "? [a, b]\n: c\n",
        "x: 0x" + "f" * 60 + "\n",
        "x: .inf\n",
        "\t\x00\x07\n",
        "<<: {timeout: 1}\n",
        "<<: [1, 2]\n",
        "%YAML 1.1\n---\nx: 1\n",
        "--- a\n--- b\n",
    ]
)


@st.composite
def _catalog_text(draw: st.DrawFn, *, bombs: bool = True) -> str:
    import yaml

    data = draw(_YAML_DATA)
    base: dict[str, Any] = {"service": "s"}
    if isinstance(data, dict):
        base.update(data)
    else:
        base["policies"] = {"a.b": data}
    try:
        text = yaml.safe_dump(base, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError):
        text = "service: s\n"
    if bombs and draw(st.booleans()):
        text += draw(_YAML_SNIPPETS)
    if draw(st.integers(0, 4)) == 0:
        # a random byte flip: half-broken YAML
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        text = text[:at] + draw(st.text(max_size=3)) + text[at + 1 :]
    return text


def _catalog(text: str) -> object:
    from mitigate.catalog.load import Catalog

    catalog = Catalog.from_text(text)
    # "a catalog that loads never fails on a first call": build every policy
    for name in catalog.names():
        catalog.policy(name)
    return catalog


def _catalog_expected() -> tuple[type[BaseException], ...]:
    from mitigate.catalog.findings import CatalogError

    return (CatalogError,)


CATALOG = Target("catalog", _catalog_text(), _catalog, expected=_catalog_expected())


# --------------------------------------------------------------------------- markdown

_MD_FRAGMENTS = st.sampled_from(
    [
        "# content-service failure modes\n", "## Retry\n", "## Circuit breakers\n",
        "## Fallbacks\n", "## Failure modes\n", "### FM-1: KMS down\n",
        "| Target | Max | Backoff | Budget |\n", "|---|---|---|---|\n",
        "| kms.sign | 3 | 50ms, 200ms, 500ms | 1s |\n", "| a | 5 | exp cap 30s | 15 min |\n",
        "| Dependency | Trip | Reset |\n", "| kms | 10 fail / 30s | 60s |\n",
        "| x | 99999999999999999999 | exp 1s–2s | 9" + "9" * 300 + "s |\n",
        "- **Detection:** error rate > 20% over 5 min\n", "- **Mitigation:** retry\n",
        "- **Runbook:** runbooks/kms.md\n", "```\ncode\n```\n", "> quote\n", ":::note\n",
        "<!-- mitigate:catalog v1 -->\n", "|", "||||\n", "| a |\n", "\n", "* ", "1. ",
        "**", "`", "[link](x)", "\u200b", "\r\n",
    ]
)  # fmt: skip


def _markdown(text: str) -> object:
    from mitigate.catalog.markdown.importer import import_markdown

    return import_markdown(text, source="fuzz.md")


def _markdown_expected() -> tuple[type[BaseException], ...]:
    from mitigate.errors import ConfigError

    return (ConfigError,)


MARKDOWN = Target(
    "markdown", _mixed(_MD_FRAGMENTS, max_size=60), _markdown, expected=_markdown_expected()
)


# --------------------------------------------------------------------------- envelope

_NOW = 1_800_000_000.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _Keys:
    ring: Any
    bundle_token: str
    license_token: str


_KEYS_CACHE: list[_Keys] = []


def _keys() -> _Keys:
    if not _KEYS_CACHE:
        from mitigate.clock import VirtualClock
        from mitigate.integrity.envelope import EnvelopeSigner
        from mitigate.integrity.keyring import KeyRing

        clock = VirtualClock(wall_start=_NOW)
        ring = KeyRing.generate(clock=clock)
        signer = EnvelopeSigner(ring)
        bundle = signer.sign_bundle("course", b"content", version=3, expires_in=3600)
        license_ = signer.issue_license("course", "tablet-1")
        _KEYS_CACHE.append(_Keys(ring, bundle.token, license_.token))
    return _KEYS_CACHE[0]


@st.composite
def _token(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    keys = _keys()
    kind = draw(st.sampled_from(["bundle", "license"]))
    good = keys.bundle_token if kind == "bundle" else keys.license_token
    how = draw(st.sampled_from(["flip", "splice", "forge", "random", "same"]))
    if how == "flip":
        at = draw(st.integers(0, len(good) - 1))
        token = good[:at] + draw(st.text(min_size=1, max_size=3)) + good[at + 1 :]
    elif how == "splice":
        parts = good.split(".")
        parts[draw(st.integers(0, len(parts) - 1))] = draw(
            st.one_of(st.text(max_size=30), st.just(""))
        )
        token = ".".join(parts)
    elif how == "forge":
        header = draw(
            st.dictionaries(
                st.sampled_from(["alg", "kid", "typ", "crit", "b64"]),
                st.one_of(st.text(max_size=10), st.integers(), st.none(), st.lists(st.integers())),
            )
        )
        claims = draw(
            st.dictionaries(
                st.sampled_from(["sub", "ver", "sha256", "size", "iat", "exp", "dev", "jti"]),
                st.one_of(
                    st.text(max_size=10),
                    st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(),
                    st.none(),
                ),
            )
        )
        token = ".".join(
            [
                _b64(json.dumps(header).encode()),
                _b64(json.dumps(claims).encode()),
                good.split(".")[-1],
            ]
        )
    elif how == "random":
        token = draw(st.text(max_size=200))
    else:
        token = good
    content = draw(st.one_of(st.just(b"content"), st.binary(max_size=20)))
    return kind + ":" + token, content, token == good


def _envelope(arg: tuple[str, bytes, bool]) -> object:
    from mitigate.integrity.envelope import verify_bundle, verify_license

    labelled, content, unchanged = arg
    kind, _, token = labelled.partition(":")
    keys = _keys()
    if kind == "bundle":
        env = verify_bundle(token, content, keys.ring, now=_NOW + 10, bundle="course")
        _check(unchanged or env.token == keys.bundle_token, "a changed bundle token verified")
        return env
    lic = verify_license(token, keys.ring, now=_NOW + 10, device="tablet-1")
    _check(unchanged or lic.token == keys.license_token, "a changed license token verified")
    return lic


def _integrity_expected() -> tuple[type[BaseException], ...]:
    from mitigate.integrity.errors import IntegrityError

    return (IntegrityError,)


ENVELOPE = Target("envelope", _token(), _envelope, expected=_integrity_expected())


# --------------------------------------------------------------------------- archive

_NAMES = st.one_of(
    st.sampled_from(
        [
            "index.html", "../evil", "/abs", "a/../../b", "C:\\x", "dir/", "a\x00b", "x" * 300,
            "nested.zip", "script.js", "s.svg", "ok.txt", "dup.txt", "DUP.TXT", "link",
        ]
    ),
    st.text(min_size=1, max_size=20),
)  # fmt: skip


@st.composite
def _archive(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=300))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for _ in range(draw(st.integers(0, 5))):
            name = draw(_NAMES)
            info = zipfile.ZipInfo(name)
            info.compress_type = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            if draw(st.integers(0, 3)) == 0:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            data = draw(
                st.one_of(
                    st.binary(max_size=100),
                    st.just(b"\0" * 50_000),
                    st.just(b"<script>alert(1)</script>"),
                )
            )
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # duplicate names are part of the test
                    archive.writestr(info, data)
            except (ValueError, UnicodeEncodeError):
                continue
    raw = bytearray(buffer.getvalue())
    for _ in range(draw(st.integers(0, 3))):
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    if raw and draw(st.integers(0, 4)) == 0:
        del raw[draw(st.integers(0, len(raw) - 1)) :]  # truncated upload
    return bytes(raw)


def _inspect(data: bytes) -> object:
    from mitigate.guard.archive import inspect_archive

    report = inspect_archive(io.BytesIO(data))
    _check(report.total_uncompressed >= 0, "negative uncompressed size")
    return report


ARCHIVE = Target(
    "archive",
    _archive(),
    _inspect,
    expected=(),  # "never raises on hostile input"
)


# --------------------------------------------------------------------------- html

_HTML_FRAGMENTS = st.sampled_from(
    [
        "<p>", "</p>", "<a href='javascript:alert(1)'>", "<a href=\"java\tscript:x\">",
        "<a href='https://e.com'>", "</a>", "<img src=x onerror=alert(1)>", "<svg onload=x>",
        "<script>", "</script>", "<style>", "<math>", "<table><tr><td>", "</td></tr></table>",
        "<div title='&quot;'>", "</div>", "<!--", "-->", "<![CDATA[", "]]>", "&amp;", "&#0;",
        "&#x110000;", "<", ">", "\"", "'", "<b>", "</b>", "<ul><li>", "<noscript>", "<template>",
        "<iframe srcdoc='<script>'>", "<p style='x'>", "<br/>", "<time datetime=x>",
    ]
)  # fmt: skip


@st.composite
def _html(draw: st.DrawFn, *, max_depth: int) -> str:
    text = draw(_mixed(_HTML_FRAGMENTS, max_size=40))
    depth = draw(st.integers(0, max_depth))
    tag = draw(st.sampled_from(["div", "b", "span", "table", "ul", "a"]))
    return f"<{tag}>" * depth + text + f"</{tag}>" * draw(st.integers(0, depth))


def _sanitize(html: str) -> object:
    from mitigate.guard.errors import HtmlRejectedError
    from mitigate.guard.html import sanitize, sanitize_for_write

    clean = sanitize(html)
    _check(sanitize(clean) == clean, "sanitize is not idempotent")
    try:
        stored = sanitize_for_write(clean)
    except HtmlRejectedError as exc:
        raise PropertyViolatedError(f"sanitised output refused at write: {exc}") from None
    _check(stored == clean, "write changed already clean markup")
    return clean


HTML = Target(
    "html",
    _html(max_depth=5000),
    _sanitize,
    expected=(),
)


# --------------------------------------------------------------------------- range


@st.composite
def _range_header(
    draw: st.DrawFn, *, alphabet: st.SearchStrategy[str], noise: st.SearchStrategy[str]
) -> tuple[str, int]:
    number = st.one_of(
        st.integers(0, 2000).map(str),
        st.text(alphabet, min_size=1, max_size=4),
        st.text(noise, max_size=6),
    )
    unit = draw(st.one_of(st.just("bytes"), st.sampled_from(["Bytes", " bytes ", "items", ""])))
    spec = draw(number) + draw(st.sampled_from(["-", "", "--", " - "])) + draw(number)
    if draw(st.booleans()):
        spec += "," + draw(number) + "-" + draw(number)
    return f"{unit}={spec}", draw(st.integers(0, 1500))


def _range(arg: tuple[str, int]) -> object:
    from mitigate.web.signed_urls import parse_range

    header, size = arg
    result = parse_range(header, size)
    if isinstance(result, tuple):
        start, end = result
        _check(0 <= start <= end < size, f"range {result} outside a {size}-byte object")
    return result


# digits by Python's str.isdigit() that are not ASCII: superscripts, other scripts
_ODD_DIGITS = st.sampled_from("\u00b2\u00b9\u2083\u0663\u0ed3\u096a\uff15\U0001d7ce")
RANGE = Target(
    "range",
    _range_header(
        alphabet=st.one_of(_ODD_DIGITS, st.sampled_from("0123456789")), noise=st.characters()
    ),
    _range,
    expected=(),
)


# --------------------------------------------------------------------------- idempotency


@dataclass(frozen=True)
class _Request:
    auth: bytes | None
    key: bytes | None
    body: bytes
    method: str
    extra: tuple[tuple[bytes, bytes], ...]
    chunks: int
    truncated: bool


@st.composite
def _request(draw: st.DrawFn, *, tenants: int) -> _Request:
    auths = [b"Bearer a", b"Bearer b", b"Bearer c"][:tenants]
    auth = draw(st.sampled_from([*auths, None])) if tenants > 1 else auths[0]
    key = draw(
        st.one_of(
            st.sampled_from([b"k-1", b"k-2", b"", b" ", b"k" * 300, b"\xff\xfe", b"k\x00"]),
            st.binary(max_size=20),
            st.none(),
        )
    )
    extra: list[tuple[bytes, bytes]] = []
    if tenants > 1 and draw(st.booleans()):
        extra.append((b"authorization", draw(st.sampled_from(auths))))  # duplicate header
    if draw(st.booleans()):
        extra.append((b"idempotency-key", draw(st.sampled_from([b"k-1", b"k-2"]))))
    return _Request(
        auth=auth,
        key=key,
        body=draw(st.sampled_from([b"", b'{"a": 1}', b'{"a": 2}', b"\x00" * 10])),
        method=draw(st.sampled_from(["POST", "PATCH", "GET", "PUT"])),
        extra=tuple(extra),
        chunks=draw(st.integers(1, 3)),
        truncated=draw(st.booleans()) if tenants > 1 else False,
    )


async def _idempotency_run(requests: list[_Request]) -> None:
    from mitigate.durable.idempotency import DatabaseIdempotencyStore
    from mitigate.durable.sqlite import SqliteStore
    from mitigate.web.idempotency import IdempotencyMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        who = dict(scope["headers"]).get(b"authorization", b"-")
        payload = json.dumps({"who": who.decode("latin-1"), "len": len(body)}).encode()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": payload})

    db = await SqliteStore.open(":memory:")
    try:
        middleware = IdempotencyMiddleware(app, DatabaseIdempotencyStore(db))
        for request in requests:
            await _one(middleware, request)
    finally:
        await db.aclose()


async def _one(middleware: Any, request: _Request) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if request.auth is not None:
        headers.append((b"authorization", request.auth))
    if request.key is not None:
        headers.append((b"idempotency-key", request.key))
    headers.extend(request.extra)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": "/charges",
        "raw_path": b"/charges",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
    }
    size = max(1, len(request.body) // request.chunks)
    parts = [request.body[i : i + size] for i in range(0, len(request.body), size)] or [b""]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    if request.truncated:
        messages = [*messages[:-1], {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    if start is None:
        _check(request.truncated, "no response to a complete request")
        return
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if start["status"] == 500 and b"authorization" not in dict(headers):
        # documented: no tenant and no credential to scope the key is a deployment error
        _check(b"MITIGATE.IDEMPOTENCY.NO_SCOPE" in body, f"500 without NO_SCOPE: {body[:80]!r}")
        return
    _check(start["status"] < 500, f"status {start['status']} from the middleware")
    if start["status"] == 201 and body:
        answered = json.loads(body)
        who = dict(headers).get(b"authorization", b"-").decode("latin-1")
        _check(answered["who"] == who, f"{who} was answered with {answered['who']}'s response")


def _idempotency(requests: list[_Request]) -> object:
    asyncio.run(_idempotency_run(requests))
    return None


IDEMPOTENCY = Target(
    "idempotency",
    st.lists(_request(tenants=3), min_size=1, max_size=6),
    _idempotency,
    expected=(),
)


TARGETS: dict[str, Target] = {
    t.name: t for t in (MARKDOWN, CATALOG, NOTATION, ENVELOPE, ARCHIVE, HTML, RANGE, IDEMPOTENCY)
}
