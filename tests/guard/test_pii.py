"""PII guard: protected fields from models or paths, nested walks, never echoing the value."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from mitigate.clock import VirtualClock
from mitigate.guard import (
    PiiLeakError,
    Protected,
    assert_no_protected,
    find_protected,
    protected_fields,
    redact,
)
from mitigate.observe.observers import Recorder
from mitigate.observe.service_events import PiiLeakBlocked

SECRET_PHONE = "+33 6 12 34 56 78"


class Recipient(BaseModel):
    name: str
    phone: Annotated[str, Protected("SMS only")]


class Author(BaseModel):
    display: str
    email: Annotated[str | None, Protected()] = None
    birth: Annotated[str, Protected] = ""  # the bare class works too


class Notice(BaseModel):
    title: str
    author: Author
    recipients: list[Recipient] = []
    by_team: dict[str, Recipient] = {}
    backup: Author | None = None
    contact: Annotated[str, Field(alias="contactEmail"), Protected()] = ""


def test_protected_fields_follow_nested_models_lists_dicts_and_aliases() -> None:
    assert protected_fields(Notice) == {
        "author.email",
        "author.birth",
        "recipients[].phone",
        "by_team.*.phone",
        "backup.email",
        "backup.birth",
        "contactEmail",
    }


def test_a_clean_payload_passes() -> None:
    payload = {"title": "t", "author": {"display": "A"}, "recipients": [{"name": "n"}]}
    assert_no_protected(payload, Notice)
    assert find_protected(payload, Notice) == []


def test_a_leak_names_the_concrete_path_never_the_value() -> None:
    payload = {
        "title": "t",
        "author": {"display": "A"},
        "recipients": [{"name": "a"}, {"name": "b"}, {"name": "c", "phone": SECRET_PHONE}],
    }
    with pytest.raises(PiiLeakError) as info:
        assert_no_protected(payload, Notice, where="comms.webhook")
    err = info.value
    assert err.code == "MITIGATE.PII.LEAK"
    assert err.path == "recipients[2].phone" and err.paths == ["recipients[2].phone"]
    assert "comms.webhook" in str(err) and "recipients[2].phone" in str(err)
    assert SECRET_PHONE not in str(err) and SECRET_PHONE not in repr(err.args)


def test_every_leak_is_listed_and_an_event_fires_per_field() -> None:
    rec = Recorder()
    payload = {
        "author": {"email": "a@x.io", "birth": "1990"},
        "by_team": {"ops": {"phone": SECRET_PHONE}},
        "contactEmail": "c@x.io",
    }
    with pytest.raises(PiiLeakError) as info:
        assert_no_protected(
            payload, Notice, where="content.event", observers=[rec], clock=VirtualClock(7)
        )
    assert sorted(info.value.paths) == [
        "author.birth", "author.email", "by_team.ops.phone", "contactEmail",
    ]  # fmt: skip
    assert "and 3 more" in str(info.value)
    events = rec.of(PiiLeakBlocked)
    assert sorted(e.path for e in events) == sorted(info.value.paths)
    assert all(e.target == "content.event" and e.at == 7.0 for e in events)
    assert SECRET_PHONE not in repr([e.fields() for e in events])


def test_field_paths_without_a_model() -> None:
    payload = {"user": {"profile": {"email": "x@y.z"}}, "email_count": 3}
    # A bare name matches that key at any depth; a dotted path only there.
    assert find_protected(payload, {"email"}) == ["user.profile.email"]
    assert find_protected(payload, {"profile.email"}) == []
    assert find_protected(payload, {"user.profile.email"}) == ["user.profile.email"]
    assert find_protected(payload, {"user.*.email"}) == ["user.profile.email"]
    assert find_protected(payload, "email") == ["user.profile.email"]  # one path, not letters
    listed = {"rows": [[{"ssn": "1"}], [{"ssn": "2"}]]}
    assert find_protected(listed, {"rows[][].ssn"}) == ["rows[0][0].ssn", "rows[1][0].ssn"]


def test_none_carries_nothing_and_model_instances_are_checked() -> None:
    assert find_protected({"author": {"email": None}}, Notice) == []
    notice = Notice(title="t", author=Author(display="A", email="a@x.io"))
    with pytest.raises(PiiLeakError, match=r"author\.email"):
        assert_no_protected(notice, Notice)


def test_redact_replaces_only_protected_values() -> None:
    payload = {"title": "t", "recipients": [{"name": "n", "phone": SECRET_PHONE}]}
    clean = redact(payload, Notice)
    assert clean == {"title": "t", "recipients": [{"name": "n", "phone": "[redacted]"}]}
    assert payload["recipients"][0]["phone"] == SECRET_PHONE  # the original is untouched
    assert_no_protected(redact(payload, Notice, replacement=None), Notice)


def test_a_model_whose_types_do_not_resolve_is_refused_not_read_as_empty() -> None:
    from mitigate.errors import ConfigError

    class Broken(BaseModel):
        owner: Undefined  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ConfigError) as info:
        protected_fields(Broken)
    assert info.value.code == "MITIGATE.CONFIG.PII"
