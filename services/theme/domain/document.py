"""A theme version's document: design tokens, locales with their copy, calls to action
that point at copy, and content blocks of HTML. Pure: no I/O."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Block", "Cta", "LayoutSelection", "ThemeDocument"]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class Cta(BaseModel):
    """A call to action: its label is the copy ``key`` in ``locale``."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    locale: str = Field(min_length=2, max_length=16)
    key: str = Field(min_length=1, max_length=64)


class Block(BaseModel):
    """A content block: markup kept only in its sanitised form."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    html: str = Field(max_length=200_000)


class LayoutSelection(BaseModel):
    """Which layout preset of the front-end platform a surface (home, booking) uses."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    preset_key: str = Field(alias="presetKey", pattern=_ID)


class ThemeDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(max_length=120)
    colors: dict[str, str] = Field(default_factory=dict)
    locales: list[str] = Field(default_factory=list, max_length=50)
    default_locale: str = Field("", alias="defaultLocale", max_length=16)
    copy_: dict[str, dict[str, str]] = Field(default_factory=dict, alias="copy")
    ctas: list[Cta] = Field(default_factory=list, max_length=200)
    blocks: list[Block] = Field(default_factory=list, max_length=200)
    layout_selections: dict[str, LayoutSelection] = Field(
        default_factory=dict, alias="layoutSelections", max_length=20
    )

    def dumped(self) -> dict[str, object]:
        return self.model_dump(by_alias=True)
