"""Every environment variable a settings class reads is named in README.md or docs/*.md, with
its default beside it: a newcomer who reads only the docs finds every setting the code takes
(a walk through the docs found `KAFKA_CLIENT_ID` and `PRODUCER_MIX` named nowhere, and the
sink's settings only as bare field names)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from auditstream.broker.settings import BrokerSettings
from detector.settings import DetectorSettings
from producer.settings import ProducerSettings
from shared.settings import KafkaSettings, TopicSettings, env_names
from sink.settings import ExportSettings, SinkSettings

ROOT = Path(__file__).resolve().parents[2]
CLASSES: tuple[type[BaseSettings], ...] = (
    KafkaSettings, TopicSettings, ExportSettings, SinkSettings, DetectorSettings,
    ProducerSettings, BrokerSettings,
)
#: The detection core's knobs are documented where they are declared, each with its
#: description (docs/detector.md's `DETECTOR_CORE__<KNOB>` row points there).
CORE = "DETECTOR_CORE__"
#: How far after a variable's name its default may stand: the rest of a table row, or of
#: the sentence in prose.
WINDOW = 400


def _docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8")
                     for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _names() -> list[str]:
    """Every variable but the core's knobs (and `DETECTOR_CORE`, all of them as one JSON)."""
    return sorted({n for c in CLASSES for n in env_names(c)
                   if not n.startswith(CORE) and n != CORE.rstrip("_")})


def _defaults() -> dict[str, object]:
    """Each variable's default, for the scalar ones (a number, a flag, a word)."""
    found: dict[str, object] = {}
    for cls in CLASSES:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for name, field in cls.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                continue
            if field.default is not PydanticUndefined and isinstance(
                    field.default, (bool, int, float, str)):
                found[f"{prefix}{name.upper()}"] = field.default
    return found


def _spellings(value: object) -> set[str]:
    """How the docs may write a default: `true`, `10000` or `10,000`, `7200` for 7200.0."""
    if isinstance(value, bool):
        return {str(value).lower()}
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return {str(value), f"{value:,}"}
    return {str(value)}


def _occurrences(text: str, name: str) -> list[int]:
    return [m.end() for m in re.finditer(rf"(?<![A-Z_]){re.escape(name)}(?![A-Z_0-9])", text)]


def test_every_setting_is_named_in_the_docs() -> None:
    text = _docs()
    missing = [n for n in _names() if not _occurrences(text, n)]
    assert missing == [], f"settings the code reads but no doc names: {missing}"


@pytest.mark.parametrize("name", sorted(_defaults()))
def test_each_setting_is_named_with_its_default(name: str) -> None:
    text = _docs()
    spellings = _spellings(_defaults()[name])
    pattern = re.compile("|".join(rf"(?<![\w.]){re.escape(s)}(?![\w]|\.\d)"
                                  for s in sorted(spellings)))
    windows = [text[end:end + WINDOW].split("\n\n")[0] for end in _occurrences(text, name)]
    windows = [w.split("\n|")[0] for w in windows]  # a table row ends at its line
    assert any(pattern.search(w) for w in windows), (
        f"{name}: no doc names it with its default {sorted(spellings)}")


def test_the_core_knobs_point_where_they_are_declared() -> None:
    assert "`DETECTOR_CORE__<KNOB>` | see `detector/core/config.py`" in (
        ROOT / "docs" / "detector.md").read_text(encoding="utf-8")


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


#: Where a setting is written `NAME` (DEFAULT ...): the README's Configuration table and
#: docs/producer.md's "In containers" (the README sends a reader there for each
#: `PRODUCER_*` default).
SLOTS = {
    "README.md": ("## Configuration", "A variable of one of these prefixes"),
    "docs/producer.md": ("## In containers", "## APIs others call"),
}


def _slots() -> list[tuple[str, str, str]]:
    """(page, variable, what its parenthesis opens with) for every `NAME` (... there."""
    found = []
    for page, (start, end) in SLOTS.items():
        text = _between((ROOT / page).read_text(encoding="utf-8"), start, end)
        for m in re.finditer(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`\s+\(([^)]*)", text):
            found.append((page, m.group(1), m.group(2)))
    return found


def test_a_parenthesis_after_a_setting_opens_with_its_default() -> None:
    """The parenthesis is the default's place in these lists: the README's
    `KAFKA_SECURITY_PROTOCOL` (`SASL_SSL`) read as a default of SASL_SSL, where it is
    PLAINTEXT."""
    defaults = _defaults()
    wrong = []
    for page, name, slot in _slots():
        if name not in defaults or defaults[name] is None:
            continue
        opening = slot.removeprefix("default ").lstrip("`")
        if not any(opening.startswith(s) for s in _spellings(defaults[name])):
            wrong.append(f"{page}: {name} ({slot[:40]}: the default is {defaults[name]!r}")
    assert wrong == []


def test_in_containers_lists_every_producer_setting() -> None:
    """README: each `PRODUCER_*` setting "listed with its default in docs/producer.md ("In
    containers")" (`PRODUCER_FLUSH_TIMEOUT_S` was only in the replay section)."""
    text = _between((ROOT / "docs" / "producer.md").read_text(encoding="utf-8"),
                    *SLOTS["docs/producer.md"])
    names = [n for n in env_names(ProducerSettings) if n.startswith("PRODUCER_")]
    assert [n for n in names if not _occurrences(text, n)] == []
    defaults = _defaults()
    listed = {name for _, name, _ in _slots()}
    assert sorted(n for n in names if n in defaults and n not in listed) == []
