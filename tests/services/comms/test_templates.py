"""Templates fail closed: a missing file, a bad name or a placeholder without a value is
an error, never a blank or partial message."""

from __future__ import annotations

from pathlib import Path

import pytest
from services.comms.domain.templates import TemplateMissingError, Templates
from services.comms.settings import HERE


def test_shipped_template_renders() -> None:
    body = Templates(HERE / "templates").render(
        "sms", "appointment-reminder", {"when": "Monday 10:00"}
    )
    assert body == {"body": "Reminder: your appointment is on Monday 10:00. Reply STOP to opt out."}


@pytest.mark.parametrize(
    ("channel", "key", "values"),
    [
        ("sms", "no-such-template", {"when": "x"}),
        ("sms", "appointment-reminder", {}),  # $when has no value
        ("sms", "../settings", {}),
        ("../x", "appointment-reminder", {}),
    ],
)
def test_missing_or_unfillable_template_is_an_error(
    channel: str, key: str, values: dict[str, str]
) -> None:
    with pytest.raises(TemplateMissingError):
        Templates(HERE / "templates").render(channel, key, values)


def test_a_deploy_is_seen_without_restart(tmp_path: Path) -> None:
    templates = Templates(tmp_path)
    assert not templates.exists("sms", "late")
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "late.json").write_text('{"body": "hi $name"}')
    assert templates.render("sms", "late", {"name": "x"}) == {"body": "hi x"}
