"""Allow-list HTML sanitising with nh3 (ammonia): at write, and again at render.

At render, :func:`sanitize` cleans whatever is stored (rows that bypassed the write path
included). At write, :func:`sanitize_for_write` refuses markup the sanitiser would
change and lists the offending parts, so nothing is silently altered in storage: the
caller fixes the input, or stores exactly what it sees. Only the tags and attributes of
the policy pass; SVG, MathML, scripts, styles, frames, forms and every ``on*`` handler
never do, and URLs keep only http, https and mailto (or relative). Markup longer than
``max_length`` or nested deeper than ``max_depth`` is never parsed (a linear pre-scan
checks first): refused at write (``MITIGATE.HTML.TOO_LARGE`` / ``TOO_DEEP``), shown as
escaped text at render.

>>> sanitize('<p onclick="steal()">hi <script>alert(1)</script></p>')
'<p>hi </p>'
>>> sanitize_for_write('<p>Hello <a href="https://example.com">world</a></p>')
'<p>Hello <a href="https://example.com" rel="noopener noreferrer">world</a></p>'
>>> sanitize_for_write('<p>x<svg onload=alert(1)></svg></p>', field="block.body")
Traceback (most recent call last):
...
mitigate.HtmlRejectedError: [MITIGATE.HTML.UNSAFE] block.body: not allowed: \
<svg>, <svg onload>; remove the listed parts; only the allowed tags are kept

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from types import MappingProxyType

import nh3

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.guard.errors import HTML_TOO_DEEP, HTML_TOO_LARGE, HtmlRejectedError
from mitigate.observe.events import HtmlRejected
from mitigate.observe.observers import Observer, Observers

__all__ = ["DEFAULT_HTML_POLICY", "HtmlCheck", "HtmlPolicy", "sanitize", "sanitize_for_write"]

DEFAULT_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
        "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1",
        "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
        "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
    }
)  # fmt: skip
DEFAULT_ATTRIBUTES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "*": frozenset({"title", "lang", "dir"}),
        "a": frozenset({"href"}),
        "img": frozenset({"src", "alt", "width", "height"}),
        "td": frozenset({"colspan", "rowspan"}),
        "th": frozenset({"colspan", "rowspan", "scope"}),
        "col": frozenset({"span"}),
        "colgroup": frozenset({"span"}),
        "ol": frozenset({"start", "reversed"}),
        "time": frozenset({"datetime"}),
        "blockquote": frozenset({"cite"}),
        "q": frozenset({"cite"}),
        "del": frozenset({"cite", "datetime"}),
        "ins": frozenset({"cite", "datetime"}),
        "details": frozenset({"open"}),
    }
)
DEFAULT_URL_SCHEMES = frozenset({"http", "https", "mailto"})

# Never allowed, whatever a policy says: foreign content (SVG, MathML) and everything
# that runs code, loads documents or submits forms.
FORBIDDEN_TAGS = frozenset(
    {
        "svg", "math", "script", "style", "iframe", "frame", "frameset", "object", "embed",
        "applet", "base", "link", "meta", "form", "input", "button", "textarea", "select",
        "option", "template", "noscript", "xmp", "plaintext", "noembed", "noframes", "portal",
        "foreignobject", "annotation-xml", "slot",
    }
)  # fmt: skip
FORBIDDEN_ATTRIBUTES = frozenset({"style", "srcdoc", "formaction", "xmlns", "rel"})
# Tags whose content goes with them (the text of a script is not text to keep).
_DROP_CONTENT = frozenset({"script", "style", "template", "noscript", "xmp", "noembed"})
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "action", "longdesc", "background"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# html5ever adds these when the input leaves them implied; they change nothing.
_IMPLIED = frozenset({"tbody"})


@dataclass(frozen=True, slots=True)
class HtmlCheck:
    """The result of checking markup: the clean form, and what the sanitiser removed."""

    clean: str
    offending: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.offending)


@dataclass(frozen=True, slots=True)
class HtmlPolicy:
    """Which tags, attributes (per tag, ``"*"`` for all) and URL schemes are allowed."""

    tags: frozenset[str] = DEFAULT_TAGS
    attributes: Mapping[str, frozenset[str]] = field(default_factory=lambda: DEFAULT_ATTRIBUTES)
    url_schemes: frozenset[str] = DEFAULT_URL_SCHEMES
    link_rel: str | None = "noopener noreferrer"
    # Checked by a linear pre-scan before the sanitiser runs: html5ever's tree building
    # is quadratic in nesting depth (1 MB of nested <div> took 35 s).
    max_length: int = 1_000_000  # characters
    max_depth: int = 256
    _cleaner: nh3.Cleaner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for cap in ("max_length", "max_depth"):
            value = getattr(self, cap)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError("html policy", f"{cap} must be an integer >= 1, not {value!r}")
        tags = frozenset(t.lower() for t in self.tags)
        bad_tags = sorted(tags & FORBIDDEN_TAGS)
        if bad_tags:
            raise ConfigError("html policy", f"these tags can never be allowed: {bad_tags}")
        attributes = {
            t.lower(): frozenset(a.lower() for a in v) for t, v in self.attributes.items()
        }
        for tag, names in attributes.items():
            bad = sorted(n for n in names if n.startswith("on") or n in FORBIDDEN_ATTRIBUTES)
            if bad:
                raise ConfigError(
                    "html policy", f"attributes {bad} on {tag!r} can never be allowed"
                )
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "attributes", MappingProxyType(attributes))
        object.__setattr__(
            self,
            "_cleaner",
            nh3.Cleaner(
                tags=set(tags),
                clean_content_tags=set(_DROP_CONTENT),
                attributes={t: set(v) for t, v in attributes.items()},
                url_schemes=set(self.url_schemes),
                link_rel=self.link_rel,
                strip_comments=True,
            ),
        )

    def sanitize(self, html: str) -> str:
        """The render path: clean whatever is stored. Markup over a cap (it bypassed the
        write path) is not parsed at all: it is shown as escaped, inert text."""
        if self.over_cap(html) is not None:
            return self._inert(html)
        return self._cleaner.clean(html)

    def _inert(self, html: str) -> str:
        # Escaped, the markup has no tags left to nest, so the sanitiser runs in linear
        # time; it still drops what it drops in any text (NUL, CR), so rendering the
        # result again gives the same bytes.
        return self._cleaner.clean(escape(html, quote=False))

    def over_cap(self, html: str) -> tuple[str, str] | None:
        """``(code, detail)`` when ``html`` is longer or nested deeper than the policy
        allows, in one linear pass; None otherwise."""
        if len(html) > self.max_length:
            return HTML_TOO_LARGE, f"markup longer than {self.max_length} characters"
        if _depth_exceeds(html, self.max_depth):
            return HTML_TOO_DEEP, f"markup nested deeper than {self.max_depth} levels"
        return None

    def check(self, html: str) -> HtmlCheck:
        """Clean ``html`` and list what cleaning removed or rewrote (empty when nothing)."""
        capped = self.over_cap(html)
        if capped is not None:
            return HtmlCheck(self._inert(html), (capped[1],))
        clean = self._cleaner.clean(html)
        if clean == html:  # byte for byte what the sanitiser returns: nothing changed
            return HtmlCheck(clean, ())
        source = _Tokens.of(html)
        offending = self._offending(source)
        if not offending and source.normalized(self.link_rel) != _Tokens.of(clean).normalized(
            self.link_rel
        ):
            offending.append(f"markup the sanitiser rewrites: {_excerpt(html)}")
        return HtmlCheck(clean, tuple(dict.fromkeys(offending)))

    def sanitize_for_write(
        self,
        html: str,
        *,
        field: str = "html",
        observers: Iterable[Observer] = (),
        clock: Clock | None = None,
    ) -> str:
        """The write path: the clean form when cleaning changes nothing, else raise
        :class:`HtmlRejectedError` with the offending parts (and an ``HtmlRejected`` event)."""
        capped = self.over_cap(html)
        result = HtmlCheck(html, (capped[1],)) if capped is not None else self.check(html)
        if not result.changed:
            return result.clean
        obs = observers if isinstance(observers, Observers) else Observers(observers)
        if obs:
            obs.emit(
                HtmlRejected(
                    target="html.write",
                    at=(clock or default_clock()).now(),
                    field=field,
                    offending=result.offending,
                )
            )
        if capped is not None:
            raise HtmlRejectedError(
                field,
                result.offending,
                code=capped[0],
                hint="split the content or flatten its nesting; it was not sanitised",
            )
        raise HtmlRejectedError(field, result.offending)

    def _offending(self, tokens: _Tokens) -> list[str]:
        found: list[str] = []
        everywhere = self.attributes.get("*", frozenset())
        for kind, tag, attrs in tokens.items:
            if kind != "start":
                found.append(tag)
                continue
            if tag not in self.tags:
                found.append(f"<{tag}>")
            allowed = everywhere | self.attributes.get(tag, frozenset())
            for name, value in attrs:
                if tag == "a" and name == "rel" and value == self.link_rel:
                    continue  # exactly what the sanitiser sets on links
                if name not in allowed:
                    found.append(f"<{tag} {name}>")
                elif name in _URL_ATTRIBUTES and not self._url_ok(value):
                    found.append(f"<{tag} {name}={_excerpt(value, 40)!r}>")
        return found

    def _url_ok(self, value: str) -> bool:
        # Browsers ignore whitespace and control characters inside a scheme
        # ("java\tscript:"), so they are removed before reading it.
        squeezed = re.sub(r"[\x00-\x20\x7f]+", "", value)
        match = _SCHEME.match(squeezed)
        return match is None or match.group(1).lower() in self.url_schemes


DEFAULT_HTML_POLICY = HtmlPolicy()


def sanitize(html: str, policy: HtmlPolicy = DEFAULT_HTML_POLICY) -> str:
    """Clean ``html`` for rendering (see the module text)."""
    return policy.sanitize(html)


def sanitize_for_write(
    html: str,
    *,
    field: str = "html",
    policy: HtmlPolicy = DEFAULT_HTML_POLICY,
    observers: Iterable[Observer] = (),
    clock: Clock | None = None,
) -> str:
    """Refuse markup the sanitiser would change; return the form to store."""
    return policy.sanitize_for_write(html, field=field, observers=observers, clock=clock)


_Attrs = tuple[tuple[str, str], ...]


class _Tokens(HTMLParser):
    """The markup as a flat list: start tags with attributes, other constructs, and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, str, _Attrs]] = []
        self.text: list[str] = []
        self.stream: list[str | tuple[str, _Attrs]] = []

    @classmethod
    def of(cls, html: str) -> _Tokens:
        parser = cls()
        parser.feed(html)
        parser.close()
        return parser

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        seen: dict[str, str] = {}
        for name, value in attrs:
            seen.setdefault(name, value or "")  # html5ever keeps the first of duplicates
        pairs = tuple(seen.items())
        self.items.append(("start", tag, pairs))
        self.stream.append((tag, pairs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.stream.append(data)

    def handle_comment(self, data: str) -> None:
        self.items.append(("other", "<!-- comment -->", ()))

    def handle_decl(self, decl: str) -> None:
        self.items.append(("other", f"<!{decl.split()[0] if decl.split() else ''}>", ()))

    def unknown_decl(self, data: str) -> None:
        self.items.append(("other", "<![...]>", ()))

    def handle_pi(self, data: str) -> None:
        self.items.append(("other", "<?...?>", ()))

    def normalized(self, link_rel: str | None) -> list[object]:
        out: list[object] = []
        for item in self.stream:
            if isinstance(item, str):
                text = item.replace("\r\n", "\n").replace("\r", "\n")
                if out and isinstance(out[-1], str):
                    out[-1] += text
                elif text:
                    out.append(text)
                continue
            tag, pairs = item
            if tag in _IMPLIED and not pairs:
                continue
            if tag == "a" and link_rel is not None:
                pairs = tuple(p for p in pairs if p[0] != "rel")
            out.append((tag, tuple(sorted(pairs))))
        return out


# Elements that never nest: void elements, and those whose start tag closes an open one
# of their kind (p, li, td, ...), which html5ever closes implicitly.
_NO_DEPTH = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "tbody", "thead",
        "tfoot", "option", "optgroup", "rb", "rt", "rp", "rtc",
    }
)  # fmt: skip
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")


def _depth_exceeds(html: str, limit: int) -> bool:
    """Whether the tags nest deeper than ``limit``, in one pass. Conservative: an end
    tag closes only the innermost open element of its name, so misnested markup counts
    deeper than a browser would build it, never shallower."""
    stack: list[str] = []
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _NO_DEPTH:
            continue
        if match.group(1):
            if stack and stack[-1] == name:
                stack.pop()
        else:
            stack.append(name)
            if len(stack) > limit:
                return True
    return False


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
