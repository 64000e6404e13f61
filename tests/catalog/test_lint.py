"""Lint: every code, with file and line, and the example content catalog."""

from __future__ import annotations

from pathlib import Path

from mitigate.catalog.build import build_breaker, build_retry
from mitigate.catalog.lint import CODES, lint_file
from mitigate.catalog.source import read_catalog

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalogs" / "content.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def codes(path: Path) -> list[tuple[str, int | None, str]]:
    return [(f.code, f.line, f.field) for f in lint_file(path)]


def test_retry_that_cannot_fit_its_budget(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\n"
        "policies:\n"
        "  asset.fetch:\n"
        "    retry: {max: 3, backoff: '500ms, 2s, 5s', budget: 5s}\n"
        "  db.write:\n"
        "    retry: {max: 3, backoff: '10ms, 50ms, 200ms', budget: 300ms}\n",
    )
    [finding] = lint_file(path)
    assert (finding.code, finding.level, finding.line) == ("retry-over-budget", "error", 4)
    assert finding.field == "policies.asset.fetch.retry.budget"
    assert "7.5s, over the 5s budget: the last 1 of 3 retries can never start" in finding.message


def test_breaker_reset_shorter_than_window(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\npolicies:\n  kms.sign:\n    breaker:\n"
        "      trip: 10 fail / 60s\n      reset: 30s\n",
    )
    assert codes(path) == [("breaker-reset-short", 6, "policies.kms.sign.breaker.reset")]


def test_exp_cap_without_a_base_cannot_be_built(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\npolicies:\n  publish.step:\n"
        "    retry: {max: 5, backoff: exp cap 30s, budget: 15 min}\n",
    )
    [finding] = lint_file(path)
    assert (finding.code, finding.line) == ("policy-invalid", 4)
    assert "no base delay" in finding.message and "defaults.retry.base" in finding.message


def test_completeness_findings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\n"
        "policies:\n"
        "  a.b: {timeout: 1s}\n"
        "fallbacks:\n"
        "  - {id: s.fallback.1, primary: p, fallback: f, policy: a.b}\n"
        "detection_rules:\n"
        "  - {id: s.rule.1, signal: relay liveness fails}\n"
        "failure_modes:\n"
        "  - id: s.fm.1\n"
        "    title: Relay crash loop\n"
        "    detection: relay liveness fails\n"
        "    automatic_mitigation: restart\n"
        "    runbook: runbooks/relay.md\n"
        "  - id: s.fm.2\n"
        "    title: Covered\n"
        "    detection_rules: [s.rule.1]\n"
        "    mitigated_by: [a.b]\n"
        "    runbook: runbooks/known.md\n"
        "    experiments: [s.chaos.1]\n"
        "experiments:\n"
        "  - {id: s.chaos.1, title: kill relay, fault: kill}\n"
        "runbooks:\n"
        "  - {path: runbooks/known.md}\n",
    )
    found = [(f.code, f.line, f.message) for f in lint_file(path)]
    assert found == [
        (
            "fm-no-detection",
            9,
            "s.fm.1: its detection is described but no detection rule evaluates it",
        ),
        (
            "fm-no-mitigation",
            9,
            "s.fm.1: its automatic mitigation names no policy, fallback or switch",
        ),
        ("runbook-unindexed", 13, "runbooks/relay.md is not in the runbook index"),
        ("fm-no-experiment", 9, "s.fm.1: no experiment proves its mitigation"),
        (
            "rule-not-evaluable",
            7,
            "s.rule.1: text only; give kind, event or metric, op, threshold (and window) so it "
            "can run and be exported",
        ),
        ("fallback-unattached", 5, "s.fallback.1 names policy 'a.b', whose fallback is None"),
    ]
    assert {f.level for f in lint_file(path)} == {"warning"}


def test_schema_problems_are_findings_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\npolicies:\n  a.b:\n    retry:\n      max: 3\n      backof: 1s\n"
        "    timeout: soon\n",
    )
    found = codes(path)
    assert ("unknown-field", 6, "policies.a.b.retry.backof") in found
    assert ("schema", 7, "policies.a.b.timeout") in found


def test_duplicates_and_references_are_lint_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\n"
        "failure_modes:\n"
        "  - {id: s.fm.1, title: a, runbook: r.md, mitigated_by: [a.c], experiments: [s.x]}\n"
        "  - {id: s.fm.1, title: b}\n"
        "policies:\n  a.b: {}\n  a.b: {}\n",
    )
    found = [(f.code, f.line) for f in lint_file(path) if f.level == "error"]
    assert found == [
        ("duplicate-key", 7),
        ("duplicate-id", 4),
        ("unknown-ref", 3),
        ("unknown-ref", 3),
    ]


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    assert codes(write(tmp_path, "service: [s\n")) == [("yaml", 2, "")]
    [missing] = lint_file(tmp_path / "nope.yaml")
    assert missing.code == "io" and "No such file" in missing.message


def test_ignore_leaves_codes_out(tmp_path: Path) -> None:
    path = write(tmp_path, "service: s\nfailure_modes:\n  - {id: s.fm.1, title: t}\n")
    assert {f.code for f in lint_file(path)} == {
        "fm-no-detection",
        "fm-no-mitigation",
        "fm-no-runbook",
        "fm-no-experiment",
    }
    assert (
        lint_file(path, ignore=["fm-no-runbook", "fm-no-experiment"])[0].code == "fm-no-detection"
    )


def test_every_code_is_documented_in_the_module() -> None:
    import mitigate.catalog.lint as lint

    assert lint.__doc__ is not None
    for code in CODES:
        assert f"``{code}``" in lint.__doc__


# ----------------------------------------------------------------- the example catalog


def test_example_content_catalog_has_only_the_known_gaps() -> None:
    found = {(f.code, f.message.split(":")[0]) for f in lint_file(EXAMPLE)}
    assert all(f.level == "warning" for f in lint_file(EXAMPLE))
    expected = {("rule-not-evaluable", "content.rule.tamper-repeated")}
    # The document names one runbook; the others are gaps the catalog owner must fill.
    expected |= {("fm-no-runbook", f"content.fm.1.{n}") for n in range(2, 11)}
    # Four chaos experiments cover four failure modes.
    expected |= {("fm-no-experiment", f"content.fm.1.{n}") for n in (3, 4, 5, 6, 8, 9)}
    # Mitigations done by the service itself, not by a policy the catalog builds.
    expected |= {("fm-no-mitigation", f"content.fm.1.{n}") for n in (3, 4, 6, 8, 9)}
    expected |= {("fm-no-detection", "content.fm.1.9")}
    assert found == expected


def test_example_content_catalog_carries_the_seed_numbers() -> None:
    _, model, findings = read_catalog(EXAMPLE)
    assert findings == [] and model is not None
    assert [m.id for m in model.failure_modes] == [f"content.fm.1.{n}" for n in range(1, 11)]
    retries = {
        spec.retry.id: build_retry(spec.retry, model.defaults, target)
        for target, spec in model.policies.items()
        if spec.retry is not None
    }
    assert sorted(retries) == [f"content.retry.{n}" for n in range(1, 6)]
    table = {rid: (r.max_retries, r.delays(), r.budget) for rid, r in retries.items()}
    assert table["content.retry.1"] == (3, (0.05, 0.2, 0.5), 1.0)
    assert table["content.retry.2"] == (5, (0.1, 0.2, 0.4, 0.8, 1.6), 30.0)
    assert retries["content.retry.2"].cap == 10.0
    assert table["content.retry.3"] == (3, (0.5, 2.0, 5.0), 10.0)
    assert table["content.retry.4"] == (5, (4.0, 8.0, 16.0, 30.0, 30.0), 900.0)
    assert table["content.retry.5"] == (5, (4.0, 8.0, 16.0, 32.0, 60.0), 600.0)
    breakers = {
        spec.breaker.id: build_breaker(spec.breaker)
        for spec in model.policies.values()
        if spec.breaker is not None
    }
    assert {k: (b.failures, b.window, b.reset) for k, b in breakers.items()} == {
        "content.breaker.1": (10, 30.0, 60.0),
        "content.breaker.2": (10, 30.0, 60.0),
        "content.breaker.3": (5, 30.0, 60.0),
    }
    assert [f.id for f in model.fallbacks] == [f"content.fallback.{n}" for n in range(1, 5)]
    assert model.fallbacks[0].user_sees == "preparing offline content"
    experiments = {e.id: e for e in model.experiments}
    assert sorted(experiments) == [f"content.chaos.{n}" for n in range(1, 5)]
    assert (experiments["content.chaos.1"].fault, experiments["content.chaos.1"].duration) == (
        "outage",
        "30s",
    )
    assert (experiments["content.chaos.2"].rate, experiments["content.chaos.2"].duration) == (
        0.1,
        "2 min",
    )
    assert experiments["content.chaos.4"].duration == "60s"
