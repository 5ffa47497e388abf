"""How a refusal of `generate` names an option: as the command line's `--start 1969-12-31`
(`as_option`), or as the setting the container (`python -m producer`) reads in its place,
`PRODUCER_START=1969-12-31` (`producer.settings.as_setting`). Each check builds its words
with its caller's `Naming`; no message is rewritten afterwards (pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Naming(Protocol):
    """An option of `auditstream generate`, and the value a message quotes for it (None:
    the option alone), as one caller names it."""

    def __call__(self, option: str, value: str | None = None) -> str: ...


def as_option(option: str, value: str | None = None) -> str:
    """The command line's words: `--start 1969-12-31`, `--publish`."""
    return option if value is None else f"{option} {value}"


class OptionsRefused(ValueError):
    """A check's refusal that names options: `words(naming)` says it in a caller's names;
    as a plain `ValueError`, in the command line's."""

    def __init__(self, words: Callable[[Naming], str]) -> None:
        super().__init__(words(as_option))
        self.words = words
