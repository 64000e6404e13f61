"""The importer on small documents of many shapes (none of them a seed)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mitigate.catalog.markdown import Unmapped, import_markdown, render_markdown
from mitigate.catalog.markdown.layout import MARKER


def test_numbered_sections_with_labelled_bullets() -> None:
    doc = """1. Scenarios
1.1 Disk fills up
- Cause: log rotation stopped.
- Detection: disk used > 90% for 10 min
- Mitigation:
- Old logs are compressed.
- Writes go to the spare volume.
- Runbook:
runbooks/disk.md
"""
    fm = import_markdown(doc, service="ledger").catalog.failure_modes[0]
    assert (fm.id, fm.title, fm.trigger) == (
        "ledger.fm.1.1",
        "Disk fills up",
        "log rotation stopped.",
    )
    assert fm.automatic_mitigation == "Old logs are compressed.\nWrites go to the spare volume."
    assert fm.runbook == "runbooks/disk.md"
    assert fm.detection_rules == ["ledger.rule.1.1"]


def test_inline_runs_split_only_at_known_labels() -> None:
    doc = """1.1 Cache outage
- Detection: hits < 50%. - Blast radius: all - Side note: keep. - Impact: slow pages.
- Mitigation: serve from origin - no cache at all.
"""
    fm = import_markdown(doc, service="web").catalog.failure_modes[0]
    assert fm.detection == "hits < 50%."
    assert fm.blast_radius == "all - Side note: keep."
    assert fm.user_impact == "slow pages."
    assert fm.automatic_mitigation == "serve from origin - no cache at all."


def test_a_symptom_after_a_finished_failure_mode_starts_the_next_one() -> None:
    doc = """2. Failures
2.1 Queue stalls
- Symptom: consumers idle.
- Mitigation: restart consumers.
- Symptom: messages arrive twice after a redeploy.
- Mitigation: dedupe by message id.
2.3 Disk slow
- Symptom: p99 write latency doubles.
- Mitigation: move hot tables.
"""
    fms = import_markdown(doc, service="bus").catalog.failure_modes
    assert [fm.id for fm in fms] == ["bus.fm.2.1", "bus.fm.2.2", "bus.fm.2.3"]
    assert fms[1].title == "messages arrive twice after a redeploy"
    assert fms[1].automatic_mitigation == "dedupe by message id."


def test_labels_in_other_words_bold_and_misspelt() -> None:
    doc = """## Checkout timeout
- **Root cause:** the tax service is slow.
- **How detected**: checkout latency > 2 s sustained 5 min
- Customer experience: spinner, then an error.
- Mitgation: cached tax rates.
- Recovery steps: scale the tax service.
- Playbook: https://wiki.example.org/checkout-timeout
- RTO: 15 min
- Owner team: payments
"""
    result = import_markdown(doc, service="shop")
    fm = result.catalog.failure_modes[0]
    assert fm.trigger == "the tax service is slow."
    assert fm.detection == "checkout latency > 2 s sustained 5 min"
    assert fm.user_impact == "spinner, then an error."
    assert fm.automatic_mitigation == "cached tax rates."
    assert fm.manual_mitigation == "scale the tax service."
    assert fm.runbook == "https://wiki.example.org/checkout-timeout"
    assert fm.details == {"RTO": "15 min", "Owner team": "payments"}
    assert result.unmapped == []


def test_runbook_paths_glued_to_the_next_word() -> None:
    doc = "1.1 Failover\n- Detection: probe fails.\n- Manual mitigation: runbooks/db.mdfor steps.\n"
    fm = import_markdown(doc, service="db").catalog.failure_modes[0]
    assert fm.runbook == "runbooks/db.md"
    assert fm.manual_mitigation == "runbooks/db.md for steps."


def test_row_per_failure_table_with_any_column_names() -> None:
    doc = """## Risks
| No | Scenario | Why | Signal | Effect | Contain | Restore |
|---|
| 7 | Token cache cold | All pods restart | auth latency > 1 s | Slow | Warm-up | Scale IdP |
"""
    fm = import_markdown(doc, service="auth").catalog.failure_modes[0]
    assert (fm.id, fm.title, fm.trigger) == ("auth.fm.7", "Token cache cold", "All pods restart")
    assert (fm.detection, fm.user_impact) == ("auth latency > 1 s", "Slow")
    assert (fm.automatic_mitigation, fm.manual_mitigation) == ("Warm-up", "Scale IdP")


def test_rows_without_numbers_take_the_section_number_and_a_letter() -> None:
    doc = """## 3. Stores
### 3.1 Blob store
| Failure | Impact | Mitigation & Response |
| :-- | :-- | :-- |
| **Put fails** | Upload lost | **Mitigation:** retry.<br>**Response:** page storage on-call. |
| **Get slow** | Pages slow | retry on a replica |
### 3.2 Cache
| Failure | Impact | Mitigation |
| --- | --- | --- |
| Evictions | Misses | bigger cache |
"""
    fms = import_markdown(doc, service="files").catalog.failure_modes
    assert [fm.id for fm in fms] == ["files.fm.3.1a", "files.fm.3.1b", "files.fm.3.2a"]
    assert [fm.category for fm in fms] == ["Blob store", "Blob store", "Cache"]
    first = fms[0]
    assert (first.title, first.automatic_mitigation, first.manual_mitigation) == (
        "Put fails",
        "retry.",
        "page storage on-call.",
    )
    assert fms[1].automatic_mitigation == "retry on a replica"


def test_policy_sections_in_table_and_bullet_forms() -> None:
    doc = """## Retry policy
| Call | Retries | Wait | Deadline |
|---|---|---|---|
| Inventory read | 2 | 100ms, 300ms | 1s |
## Circuit breakers
### Inventory
- Trip: 5 fail / 10s
- Reset: 20s
## Timeouts
| Call | Timeout |
|---|---|
| Inventory read | 250ms |
## Bulkheads
| Call | Max concurrent | Max queued |
|---|---|---|
| Inventory read | 20 | 5 |
## Rate limits
| Client | Limit |
|---|---|
| Partner API | 60/min |
## Fallbacks
- Inventory read → last known stock (users see "stock may be stale")
"""
    result = import_markdown(doc, service="shop")
    policies = result.catalog.policies
    read = policies["inventory.read"]
    assert read.retry is not None and (read.retry.max, read.retry.backoff, read.retry.budget) == (
        2,
        "100ms, 300ms",
        "1s",
    )
    assert read.timeout == "250ms"
    assert read.bulkhead is not None and (
        read.bulkhead.max_concurrent,
        read.bulkhead.max_queued,
    ) == (20, 5)
    breaker = policies["inventory"].breaker
    assert breaker is not None and (breaker.trip, breaker.reset) == ("5 fail / 10s", "20s")
    limit = policies["partner.api"].rate_limit
    assert limit is not None and limit.limit == "60/min"
    fallback = result.catalog.fallbacks[0]
    assert (fallback.primary, fallback.fallback, fallback.user_sees) == (
        "Inventory read",
        "last known stock",
        "stock may be stale",
    )
    assert result.unmapped == []


def test_rows_that_cannot_be_mapped_are_reported_with_their_line() -> None:
    doc = """# Orders
Sibling docs: ARCHITECTURE
## 1. Retries
| Op | Max | Backoff | Budget |
|---|---|---|---|
| Order write | 3 | whenever it suits | 1s |
## 2. Fallbacks
| Primary | Fallback |
|---|---|
| Pricing | |
## 3. Glossary
- Saga: a sequence of local transactions.
"""
    result = import_markdown(doc, service="orders")
    lines = [item.line for item in result.unmapped]
    # each row, and the heading of each section from which nothing could be drafted
    assert lines == [2, 3, 6, 7, 10, 11, 12]
    assert "not mapped" in result.unmapped[2].text and "backoff" in result.unmapped[2].text
    assert all(isinstance(item, Unmapped) for item in result.unmapped)


def test_chaos_bullets_glued_on_one_line() -> None:
    doc = "## Chaos\n- Kill the cache for 1 min. - Drop 5% of queue messages for 2 min.\n"
    experiments = import_markdown(doc, service="q").catalog.experiments
    assert [(e.id, e.fault, e.target, e.duration, e.rate) for e in experiments] == [
        ("q.chaos.1", "outage", "cache", "1 min", None),
        ("q.chaos.2", "drop", "queue", "2 min", 0.05),
    ]


def test_detection_prose_makes_no_rule() -> None:
    doc = "1.1 Drift\n- Detection: nightly scanner finds it.\n- Mitigation: revert.\n"
    catalog = import_markdown(doc, service="cfg").catalog
    assert catalog.detection_rules == []
    assert catalog.failure_modes[0].detection_rules == []


def test_service_name_and_sources() -> None:
    doc = "# Billing service: risks\n\n1.1 Invoice lost\n- Symptom: none.\n- Mitigation: resend.\n"
    result = import_markdown(doc, source="docs/FAILURE_MODES.md")
    assert result.catalog.service == "billing"
    assert result.catalog.source == "docs/FAILURE_MODES.md"
    assert result.catalog.failure_modes[0].source == "docs/FAILURE_MODES.md:3"


def test_json_output_shape() -> None:
    result = import_markdown(
        "# T\nStray words here\n- Symptom: x.\n- Mitigation: y.\n", service="t"
    )
    data = json.loads(json.dumps(result.to_json()))
    assert data["catalog"]["service"] == "t"
    assert data["catalog"]["failure_modes"][0]["title"] == "x"
    assert data["unmapped"] == [{"line": 2, "text": "Stray words here"}]


def test_canonical_document_with_an_unknown_section_reports_it() -> None:
    doc = f"{MARKER}\n# x\n- Service: `x`\n## Glossary\n- Saga: steps\n"
    result = import_markdown(doc)
    assert result.catalog.service == "x"
    assert [item.line for item in result.unmapped] == [4, 5]


def test_a_rendered_document_without_its_marker_still_imports() -> None:
    doc = "1.1 Disk full\n- Cause: logs.\n- Detection: disk > 90%\n- Mitigation: rotate.\n"
    catalog = import_markdown(doc, service="d").catalog
    rendered = render_markdown(catalog).split("\n", 1)[1]  # drop the marker
    again = import_markdown(rendered, service="d").catalog
    assert [fm.id for fm in again.failure_modes] == ["d.fm.1.1"]
    assert again.failure_modes[0].trigger == "logs."


_FRAGMENTS = st.sampled_from(
    ["- ", "1.1 ", "2. ", "## ", "| ", " | ", "|---|", "Cause: ", "Detection: ", "Mitigation:",
     "Max", "Backoff", "Trip", "Retries", "Circuit breakers", "Chaos", "Fallbacks", "Principles",
     "Runbooks", "runbooks/x.md", "> 5 in 5 min", "50ms, 200ms", "10 fail / 30s", "exp cap 30s",
     "**", "<br>", "→ verify x", "Kill the cache for 30s", "\\|", "`", ":::", "Symptom: ",
     "Error budget", "ID", "P-1", "Service: x", "Timeout", "2s", "abc", "#", " "]
)  # fmt: skip
_DOCUMENTS = st.lists(st.lists(_FRAGMENTS, max_size=6).map("".join), max_size=20).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(_DOCUMENTS)
def test_any_document_imports_without_error_and_its_draft_round_trips(text: str) -> None:
    result = import_markdown(text)
    last = max(len(text.splitlines()), 1)
    assert all(1 <= item.line <= last for item in result.unmapped)
    assert import_markdown(render_markdown(result.catalog)).catalog == result.catalog


def test_bold_lines_title_the_failure_modes_below_them() -> None:
    doc = """# Wallet risks
## Known failures

**Balance cache stale**
- Symptom: balances lag behind the ledger.
- Mitigation: read through on mismatch.

**Top-up provider down**
- Trigger: provider answers 5xx.
- Mitigation: queue top-ups.
"""
    result = import_markdown(doc, service="wallet")
    titles = [(fm.id, fm.title) for fm in result.catalog.failure_modes]
    assert titles == [
        ("wallet.fm.1", "Balance cache stale"),
        ("wallet.fm.2", "Top-up provider down"),
    ]
    assert result.unmapped == []
