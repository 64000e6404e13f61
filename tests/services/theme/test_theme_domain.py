"""The pure parts: publish validation, locale references, and the bundle build (same
input, same bytes and digest; blocks sanitised)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st
from services.theme.domain.bundle import build_bundle
from services.theme.domain.document import ThemeDocument
from services.theme.domain.validation import locale_references, publish_violations
from services.theme.harness import sample_document

import mitigate


def test_a_sample_document_is_publishable() -> None:
    assert publish_violations(ThemeDocument.model_validate(sample_document())) == []


def test_every_invalid_field_is_reported_with_its_path() -> None:
    doc = ThemeDocument.model_validate(
        sample_document(
            name=" ",
            colors={"primary": "red", "background": "#fff", "text": "#000000"},
            defaultLocale="de",
            ctas=[{"id": "a", "locale": "en", "key": "missing"}],
        )
    )
    paths = [v.path for v in publish_violations(doc)]
    assert paths == ["name", "colors.background", "colors.primary", "defaultLocale", "ctas[0].key"]


def test_locale_references_list_only_that_locales_ctas() -> None:
    doc = ThemeDocument.model_validate(sample_document())
    assert locale_references(doc, "fr") == ["ctas[0] (hero-cta: book)"]
    assert locale_references(doc, "en") == []


@given(name=st.text(max_size=40), html=st.text(max_size=200), revision=st.integers(1, 10**6))
def test_the_bundle_is_a_pure_function(name: str, html: str, revision: int) -> None:
    doc = ThemeDocument.model_validate(
        sample_document(name=name, blocks=[{"id": "b", "html": html}])
    )
    again = ThemeDocument.model_validate(doc.dumped())
    first = build_bundle("t", revision, doc, mitigate.sanitize)
    second = build_bundle("t", revision, again, mitigate.sanitize)
    assert first == second
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()


def test_the_bundle_holds_only_sanitised_markup() -> None:
    doc = ThemeDocument.model_validate(
        sample_document(blocks=[{"id": "b", "html": "<p>x<script>alert(1)</script></p>"}])
    )
    bundle = build_bundle("t", 1, doc, mitigate.sanitize)
    assert b"<script" not in bundle.data and b"<p>x</p>" in bundle.data
