"""A streaming tripwire for script files: dynamic code (eval, Function) and network calls.

Static scanning is a tripwire, not a sandbox: it catches the plain forms an importer
should never let through unreviewed (``eval(``, ``new Function(``, string timers,
``fetch(``, ``XMLHttpRequest``, ``WebSocket``, ``sendBeacon``, ``EventSource``,
``importScripts(``), and misses code built at run time. Text is scanned in chunks with an
overlap, so a call split across two reads is still seen.

>>> scan = ScriptScan()
>>> scan.feed(b"var x = 1; ev"); scan.feed(b"al(payload)")
>>> scan.findings()
[('script_eval', 'eval(')]
>>> is_script("player/index.HTML"), is_script("img/logo.png")
(True, False)

.. versionadded:: 0.1
"""

from __future__ import annotations

import codecs
import re

__all__ = ["SCRIPT_SUFFIXES", "ScriptScan", "is_script"]

# Files a browser may run as script, or that carry script (HTML, SVG, XML with XSLT).
SCRIPT_SUFFIXES = frozenset(
    {
        ".js",
        ".mjs",
        ".cjs",
        ".jsx",
        ".ts",
        ".html",
        ".htm",
        ".xhtml",
        ".shtml",
        ".svg",
        ".xml",
        ".xsl",
        ".xslt",
        ".hta",
        ".php",
        ".vbs",
    }
)

_EVAL = re.compile(
    r"""\beval\s*\(|\bFunction\s*\(|\bset(?:Timeout|Interval)\s*\(\s*['"`]"""
    r"""|\[\s*['"]eval['"]\s*\]|\bexecScript\s*\(""",
)
_NETWORK = re.compile(
    r"\bfetch\s*\(|\bXMLHttpRequest\b|\bWebSocket\b|\bsendBeacon\b|\bEventSource\b"
    r"|\bimportScripts\s*\(|\bRTCPeerConnection\b"
)
# Longer than any match, so a match straddling two chunks is inside the overlap.
_OVERLAP = 64


def is_script(name: str) -> bool:
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in SCRIPT_SUFFIXES


class ScriptScan:
    """Feed the bytes of one file; read the findings (kind, matched text) at the end."""

    __slots__ = ("_decoder", "_eval", "_network", "_tail")

    def __init__(self) -> None:
        self._tail = ""
        self._eval: str | None = None
        self._network: str | None = None
        self._decoder: codecs.IncrementalDecoder | None = None

    def feed(self, chunk: bytes) -> None:
        if self._eval is not None and self._network is not None:
            return
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder(_codec(chunk))(errors="replace")
        text = self._tail + self._decoder.decode(chunk)
        if self._eval is None and (m := _EVAL.search(text)):
            self._eval = m.group(0)
        if self._network is None and (m := _NETWORK.search(text)):
            self._network = m.group(0)
        self._tail = text[-_OVERLAP:]

    def findings(self) -> list[tuple[str, str]]:
        out = []
        if self._eval is not None:
            out.append(("script_eval", self._eval))
        if self._network is not None:
            out.append(("script_network", self._network))
        return out


def _codec(first: bytes) -> str:
    # latin-1 maps every byte to one character: never fails, keeps ASCII identifiers.
    # UTF-16 text would hide every identifier from a byte-wise scan: decode it as such.
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "latin-1"
