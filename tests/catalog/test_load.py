"""Catalog.load and catalog.policy: pipelines built from the catalog, detection in process."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

import mitigate
from mitigate.catalog import Catalog, CatalogError
from mitigate.clock import VirtualClock
from mitigate.errors import BreakerOpenError, ConfigError
from mitigate.observe.events import AlertRaised, Event
from mitigate.observe.observers import Recorder
from mitigate.testing import FlakyDependency

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalogs" / "content.yaml"


@pytest.fixture
def catalog(virtual_clock: VirtualClock, recorder: Recorder) -> Catalog:
    return Catalog.load(EXAMPLE, clock=virtual_clock, observers=[recorder])


def test_policies_are_built_once_and_cached(catalog: Catalog) -> None:
    sign = catalog.policy("kms.sign")
    assert sign is catalog.policy("kms.sign")
    assert sign.target == "kms.sign"
    assert catalog.names() == sorted(catalog.model.policies)
    assert "kms.sign" in catalog and "kms.verify" not in catalog
    assert repr(catalog).startswith("<Catalog 'content' from ")


def test_concurrent_first_use_builds_one_pipeline(catalog: Catalog) -> None:
    built: list[object] = []
    threads = [
        threading.Thread(target=lambda: built.append(catalog.policy("objects.put")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(p) for p in built}) == 1


def test_unknown_policy_lists_the_closest_names(catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as caught:
        catalog.policy("kms.sing")
    assert caught.value.code == "MITIGATE.CONFIG.UNKNOWN_POLICY"
    assert str(caught.value) == (
        "[MITIGATE.CONFIG.UNKNOWN_POLICY] kms.sing: no policy of that name in catalog "
        "'content'; did you mean 'kms.sign'?"
    )
    with pytest.raises(
        ConfigError, match=re.escape("known: asset.fetch, assistant.config, bundle.create")
    ):
        catalog.policy("zzz")


async def test_retry_schedule_comes_from_the_catalog(
    autojump_clock: VirtualClock, recorder: Recorder
) -> None:
    catalog = Catalog.load(EXAMPLE, clock=autojump_clock, observers=[recorder])
    fetch = FlakyDependency(fail_times=3, then=b"asset")
    assert await catalog.policy("asset.fetch").acall(fetch.acall) == b"asset"
    assert recorder.values("retry.scheduled", "delay") == [0.5, 2.0, 5.0]
    assert autojump_clock.now() == 7.5


def test_exp_cap_row_takes_the_catalog_default_base(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    catalog = Catalog.load(EXAMPLE, clock=virtual_clock, observers=[recorder])
    step = FlakyDependency(fail_times=5, then="registered")
    assert catalog.policy("publish.step").call(step) == "registered"
    assert recorder.values("retry.scheduled", "delay") == [4.0, 8.0, 16.0, 30.0, 30.0]


def test_fallback_value_answers_while_the_breaker_is_open(
    catalog: Catalog, recorder: Recorder
) -> None:
    config = catalog.policy("assistant.config")
    gateway = FlakyDependency(fail_times=100)
    for _ in range(7):
        assert config.call(gateway) == {"assistant": "default", "generated": False}
    assert gateway.calls == 5  # the breaker opened after 5 failures in 30 s
    assert recorder.count("breaker.opened") == 1
    assert recorder.count("fallback.used") == 7


def test_provided_handler_becomes_the_fallback(catalog: Catalog, recorder: Recorder) -> None:
    queued: list[str] = []

    def queue_it(bundle: str) -> str:
        queued.append(bundle)
        return "preparing offline content"

    catalog.provide("content.fallback.1", queue_it)
    create = catalog.policy("bundle.create")
    kms_down = FlakyDependency(fail_times=100)
    assert create.call(kms_down, "b-1") == "preparing offline content"
    assert queued == ["b-1"]
    assert recorder.count("fallback.used") == 1
    with pytest.raises(ConfigError, match="already built"):
        catalog.provide("content.fallback.1", queue_it)
    with pytest.raises(ConfigError, match=re.escape("did you mean 'content.fallback.1'")):
        catalog.provide("content.fallback.01", queue_it)


def test_a_fallback_without_handler_or_value_says_what_to_do(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match=r"catalog.provide\('content.fallback.1', handler\)"):
        catalog.policy("bundle.create")


def test_observe_reaches_built_and_future_pipelines(virtual_clock: VirtualClock) -> None:
    catalog = Catalog.load(EXAMPLE, clock=virtual_clock)
    sign = catalog.policy("kms.sign")
    late = Recorder()
    catalog.observe(late)
    sign.call(FlakyDependency(fail_times=1, then="sig"))
    catalog.policy("asset.fetch").call(FlakyDependency(fail_times=0, then="a"))
    assert late.count("retry.scheduled") == 1
    assert {e.target for e in late.events} == {"kms.sign", "asset.fetch"}


def test_detection_rules_raise_alerts_from_pipeline_events(
    catalog: Catalog, recorder: Recorder, virtual_clock: VirtualClock
) -> None:
    sign = catalog.policy("kms.sign")
    kms = FlakyDependency(fail_times=1000)
    for _ in range(4):  # 4 calls x 4 attempts: the 10th failure in 30 s opens the breaker
        with pytest.raises((ConnectionError, BreakerOpenError)):
            sign.call(kms)
    assert kms.calls == 10
    alerts = [e for e in recorder.events if isinstance(e, AlertRaised)]
    assert [a.rule for a in alerts] == ["content.rule.kms-breaker-open"]
    assert alerts[0].target == "kms.sign"
    assert alerts[0].severity is mitigate.Severity.ERROR
    assert catalog.detector.firing() == ["content.rule.kms-breaker-open"]


def test_pipelines_no_rule_reads_keep_their_fast_path(catalog: Catalog) -> None:
    # kms.* has a breaker rule; cdn.get is read by no rule (the CDN digest rule counts an
    # integrity event the service emits, not a pipeline event)
    assert catalog.detector in list(catalog.policy("kms.sign").observers)
    catalog.provide("content.fallback.3", lambda *a: "origin")
    assert catalog.detector not in list(catalog.policy("cdn.get").observers)
    assert catalog.detector.watches("bundle.create")
    assert not catalog.detector.watches("asset.fetch")


def test_custom_events_and_gauges_feed_rules(catalog: Catalog, recorder: Recorder) -> None:
    class BuilderOom(Event):
        name = "builder.oom"

    catalog.observe(catalog.detector)  # the service's own events go through the catalog
    catalog.detector(BuilderOom(target="builder", at=0.0))
    catalog.report("content_saga_building_oldest_seconds", 290)
    catalog.report("content_saga_building_oldest_seconds", 301)
    rules = [e.rule for e in recorder.events if isinstance(e, AlertRaised)]
    assert rules == ["content.rule.builder-oom", "content.rule.saga-building"]


def test_failure_modes_and_experiments_by_id(catalog: Catalog) -> None:
    assert catalog.failure_mode("content.fm.1.7").title == "Publish saga split-brain"
    assert catalog.experiment("content.chaos.1").target == "kms.sign"
    with pytest.raises(ConfigError, match=re.escape("did you mean 'content.chaos.1'")):
        catalog.experiment("content.chaos.10")


# ----------------------------------------------------------------- invalid catalogs


def load_text(tmp_path: Path, text: str) -> CatalogError:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(path)
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            "service: s\npolicies:\n  a.b:\n    timeout: [1]\n",
            4,
            "policies.a.b.timeout",
            "valid number",
        ),
        (
            "service: s\npolicies:\n  a.b:\n    fallback: s.none\n",
            4,
            "policies.a.b.fallback",
            "no fallback 's.none'",
        ),
        (
            "service: s\npolicies:\n  a.b:\n    retry: {max: 3, backoff: '50ms, 2x', budget: 1s}\n",
            4,
            "policies.a.b.retry",
            "'2x' is not a duration",
        ),
        (
            "service: s\nfailure_modes:\n  - {id: s.fm.1, title: a}\n  - {id: s.fm.1, title: b}\n",
            4,
            "failure_modes[1].id",
            "already used",
        ),
        (
            "service: s\npolicies:\n  a.b:\n    retry: {max_retries: 1, schedule: [1], tries: 2}\n",
            4,
            "policies.a.b.retry.tries",
            "unknown field",
        ),
        (
            "service: s\npolicies:\n  a.b:\n    retry: {max: 5, backoff: exp cap 30s}\n",
            4,
            "policies.a.b.retry",
            "no base delay",
        ),
    ],
)
def test_invalid_catalog_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    error = load_text(tmp_path, text)
    [finding] = error.findings
    assert (finding.file, finding.line, finding.field) == (str(tmp_path / "bad.yaml"), line, field)
    assert words in finding.message
    assert f"bad.yaml:{line}: error" in str(error)
    assert error.code == "MITIGATE.CONFIG.CATALOG"
    assert isinstance(error, ConfigError)


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    error = load_text(
        tmp_path,
        "service: s\npolicies:\n  a.b: {timeout: soon, retry: {max_retries: -1}}\n"
        "failure_modes:\n  - {id: s.fm.1}\n",
    )
    assert [f.field for f in error.findings] == [
        "policies.a.b.retry.max_retries",
        "policies.a.b.timeout",
        "failure_modes[0].title",
    ]


def test_from_text_and_from_model(virtual_clock: VirtualClock) -> None:
    catalog = Catalog.from_text("service: s\npolicies:\n  a.b: {timeout: 2}\n", clock=virtual_clock)
    again = Catalog(catalog.model, clock=virtual_clock)
    assert again.policy("a.b").describe() == catalog.policy("a.b").describe()
    with pytest.raises(CatalogError, match=re.escape("no policy, fallback or switch 'x.y'")):
        Catalog(
            mitigate.CatalogModel.model_validate(
                {
                    "service": "s",
                    "failure_modes": [{"id": "s.fm.1", "title": "t", "mitigated_by": ["x.y"]}],
                }
            )
        )
