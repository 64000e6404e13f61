"""Every error class has a well-formed, unique code documented in docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mitigate
from mitigate import errors

CODE = re.compile(r"^MITIGATE\.[A-Z]+(\.[A-Z_]+)?$")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _all_error_classes() -> list[type[mitigate.MitigateError]]:
    seen: list[type[mitigate.MitigateError]] = []
    stack: list[type[mitigate.MitigateError]] = [mitigate.MitigateError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen


def test_codes_are_well_formed_and_unique() -> None:
    classes = _all_error_classes()
    codes = [cls.code for cls in classes]
    assert len(classes) >= 10
    for cls in classes:
        assert CODE.match(cls.code), f"{cls.__name__} has a malformed code {cls.code!r}"
    assert len(codes) == len(set(codes)), f"duplicate codes: {sorted(codes)}"


def test_every_code_has_a_row_in_the_docs() -> None:
    text = DOCS.read_text()
    for cls in _all_error_classes():
        assert f"`{cls.code}`" in text, f"{cls.code} ({cls.__name__}) is missing in docs/errors.md"


def test_message_names_code_target_and_what_to_do() -> None:
    err = mitigate.BulkheadFullError("media.check", "20 in flight, 0 queued")
    assert str(err) == (
        "[MITIGATE.BULKHEAD.FULL] media.check: 20 in flight, 0 queued; "
        "shed load or raise max_concurrent / max_queued"
    )


def test_runbook_is_appended() -> None:
    err = mitigate.BreakerOpenError(
        "kms.sign",
        "open after 10 failures in 30s",
        retry_after=42.0,
        runbook="runbooks/content/build-failures.md",
    )
    assert str(err).endswith("Runbook: runbooks/content/build-failures.md")
    assert err.retry_after == 42.0


def test_refusals_are_rejections() -> None:
    for cls in (
        errors.BreakerOpenError,
        errors.BulkheadFullError,
        errors.RateLimitedError,
        errors.BudgetExhaustedError,
    ):
        assert issubclass(cls, errors.RejectedError)
    assert not issubclass(errors.AttemptTimeoutError, errors.RejectedError)


def test_instance_code_refines_class_code() -> None:
    err = mitigate.ConfigError(None, "bad", code="MITIGATE.CONFIG.DURATION")
    assert err.code == "MITIGATE.CONFIG.DURATION"
    assert mitigate.ConfigError.code == "MITIGATE.CONFIG.INVALID"
    with pytest.raises(mitigate.ConfigError, match=r"^\[MITIGATE.CONFIG.DURATION\] bad$"):
        raise err


def test_public_names_read_as_mitigate() -> None:
    assert repr(mitigate.ConfigError) == "<class 'mitigate.ConfigError'>"


SRC = Path(__file__).resolve().parents[1] / "src" / "mitigate"
CODE_LITERAL = re.compile(r"[\"'](MITIGATE\.[A-Z]+\.[A-Z_]+)[\"']")


def test_every_code_raised_in_src_is_documented() -> None:
    documented = "\n".join(p.read_text() for p in DOCS.parent.glob("**/*.md"))
    literals = {
        m.group(1) for path in SRC.rglob("*.py") for m in CODE_LITERAL.finditer(path.read_text())
    }
    assert len(literals) > 20
    missing = sorted(
        code
        for code in literals
        if f"`{code}`" not in documented and f"`{code.rsplit('.', 1)[1]}`" not in documented
    )
    assert not missing, f"codes raised in src but documented nowhere in docs/: {missing}"
