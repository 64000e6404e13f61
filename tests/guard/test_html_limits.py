"""HTML sanitising cannot be made to burn CPU: size and nesting depth are capped by a
linear pre-scan before the sanitiser runs (html5ever's tree building is quadratic in the
depth of nested blocks)."""

from __future__ import annotations

import pytest

from mitigate.errors import ConfigError
from mitigate.guard.errors import HtmlRejectedError
from mitigate.guard.html import DEFAULT_HTML_POLICY, HtmlPolicy, sanitize, sanitize_for_write


@pytest.mark.parametrize("opener", ["<div>", "<p><div>", "<table><tr><td>", "<ul><li>"])
def test_markup_nested_past_the_cap_is_refused_at_write(opener: str) -> None:
    html = opener * 2000
    with pytest.raises(HtmlRejectedError) as refused:
        sanitize_for_write(html, field="block.body")
    assert refused.value.code == "MITIGATE.HTML.TOO_DEEP"
    assert "deeper than 256" in str(refused.value)


def test_markup_past_the_size_cap_is_refused_at_write() -> None:
    policy = HtmlPolicy(max_length=1000)
    with pytest.raises(HtmlRejectedError) as refused:
        policy.sanitize_for_write("<p>" + "x" * 1000 + "</p>")
    assert refused.value.code == "MITIGATE.HTML.TOO_LARGE"
    assert "1000 characters" in str(refused.value)


def test_the_render_path_shows_over_cap_markup_as_inert_text() -> None:
    html = "<div>" * 2000 + "<img src=x onerror=alert(1)>"
    out = sanitize(html)
    assert "<" not in out and "&lt;img" in out  # escaped: nothing renders as markup


def test_over_cap_markup_renders_the_same_on_a_second_pass() -> None:
    # Found by bench/fuzz.py: the inert text kept a NUL (and CRs) that the sanitiser
    # drops from any text, so sanitising the rendered output changed it again.
    html = "<div>" * 300 + "a\x00b\r\nc\rd"
    once = sanitize(html)
    assert "\x00" not in once and "\r" not in once
    assert sanitize(once) == once
    assert sanitize_for_write(once) == once


def test_ordinary_nesting_and_implied_end_tags_pass() -> None:
    nested = "<div>" * 100 + "deep" + "</div>" * 100
    assert sanitize_for_write(nested) == nested
    # Unclosed <p>, <li>, <td> close each other: they are not nesting.
    lists = "<ul>" + "<li>item" * 1000 + "</ul>"
    assert "item" in sanitize_for_write(lists)
    assert DEFAULT_HTML_POLICY.max_depth == 256


def test_caps_are_checked_at_configuration() -> None:
    with pytest.raises(ConfigError, match="max_depth"):
        HtmlPolicy(max_depth=0)
    with pytest.raises(ConfigError, match="max_length"):
        HtmlPolicy(max_length=0)
