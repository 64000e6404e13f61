"""Unique ids and references that resolve, located by line."""

from __future__ import annotations

from mitigate.catalog.check import check_references
from mitigate.catalog.source import read_yaml, validate

TEXT = """\
service: content
policies:
  kms.sign:
    retry: {id: content.retry.1, max_retries: 1, schedule: [0.1]}
    fallback: content.fallback.9
fallbacks:
  - id: content.fallback.1
    primary: build now
    fallback: queue it
    policy: kms.sing
detection_rules:
  - id: content.rule.open
    signal: breaker opened
failure_modes:
  - id: content.fm.1
    title: Build fails
    detection_rules: [content.rule.open, content.rule.opne]
    mitigated_by: [kms.sign, content.retry.1, content.fallback.1, objects.put]
    experiments: [content.chaos.1]
  - id: content.retry.1
    title: Clashes with a policy part id
experiments:
  - id: content.chaos.2
    title: KMS down
    fault: outage
    failure_modes: [content.fm.1, content.fm.2]
"""


def test_duplicates_and_unknown_references_with_lines() -> None:
    doc = read_yaml(TEXT, "content.yaml")
    model, schema = validate(doc)
    assert schema == [] and model is not None
    found = [(f.line, f.code, f.field, f.message) for f in check_references(model, doc)]
    assert found == [
        (
            20,
            "duplicate-id",
            "failure_modes[1].id",
            "id 'content.retry.1' is already used by a policy part at policies.kms.sign.retry.id",
        ),
        (
            5,
            "unknown-ref",
            "policies.kms.sign.fallback",
            "no fallback 'content.fallback.9'; did you mean 'content.fallback.1'?",
        ),
        (
            10,
            "unknown-ref",
            "fallbacks[0].policy",
            "no policy 'kms.sing'; did you mean 'kms.sign'?",
        ),
        (
            17,
            "unknown-ref",
            "failure_modes[0].detection_rules[1]",
            "no detection rule 'content.rule.opne'; did you mean 'content.rule.open'?",
        ),
        (
            18,
            "unknown-ref",
            "failure_modes[0].mitigated_by[3]",
            "no policy, fallback or switch 'objects.put'",
        ),
        (
            19,
            "unknown-ref",
            "failure_modes[0].experiments[0]",
            "no experiment 'content.chaos.1'; did you mean 'content.chaos.2'?",
        ),
        (
            26,
            "unknown-ref",
            "experiments[0].failure_modes[1]",
            "no failure mode 'content.fm.2'; did you mean 'content.fm.1', 'content.retry.1'?",
        ),
    ]
    assert all(
        f.file == "content.yaml" and f.level == "error" for f in check_references(model, doc)
    )


def test_a_consistent_catalog_has_no_findings() -> None:
    doc = read_yaml(
        "service: s\n"
        "policies:\n  a.b: {fallback: s.fallback.1}\n"
        "fallbacks:\n  - {id: s.fallback.1, primary: p, fallback: f, policy: a.b}\n"
        "failure_modes:\n  - {id: s.fm.1, title: t, mitigated_by: [a.b, s.fallback.1]}\n"
    )
    model, _ = validate(doc)
    assert model is not None and check_references(model, doc) == []


def test_mitigated_by_may_name_a_switch_and_nothing_else_unknown() -> None:
    text = """\
service: content
switches:
  - id: content.guard.html
    description: sanitise HTML before it is stored
failure_modes:
  - id: content.fm.1
    title: Script injected
    mitigated_by: [content.guard.html, content.guard.htm]
"""
    model, findings = validate(read_yaml(text, "catalog.yaml"))
    assert findings == [] and model is not None
    problems = [(f.field, f.message) for f in check_references(model)]
    assert problems == [
        (
            "failure_modes[0].mitigated_by[1]",
            "no policy, fallback or switch 'content.guard.htm'; did you mean 'content.guard.html'?",
        )
    ]


def test_a_switch_id_shares_the_id_namespace() -> None:
    text = """\
service: content
policies:
  kms.sign: {timeout: 1s}
switches:
  - id: kms.sign
"""
    model, _ = validate(read_yaml(text, "catalog.yaml"))
    assert model is not None
    [finding] = check_references(model)
    assert finding.code == "duplicate-id" and "policy" in finding.message


def test_real_time_rows_must_name_rows_of_the_catalog() -> None:
    from mitigate.catalog.check import check_references
    from mitigate.catalog.model import CatalogModel

    model = CatalogModel.model_validate(
        {
            "service": "s",
            "failure_modes": [{"id": "s.fm.1", "title": "t"}],
            "real_time": ["s.fm.1", "s.chaos.9"],
        }
    )
    [finding] = check_references(model)
    assert finding.code == "unknown-ref" and "s.chaos.9" in finding.message
