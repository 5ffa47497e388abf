"""Strings as integer codes: the kernel compares codes where the core compares strings."""

from __future__ import annotations


class Codes:
    """A dictionary encoder: each new value takes the next code, in order of first arrival
    (deterministic for one partition's input). Outputs never depend on a code's value, only
    on codes being equal exactly when their strings are (docs/kernel.md, "Strings as
    codes"), so codes are not stored in checkpoints."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value: str) -> int:
        """`value`'s code, a new one on its first arrival."""
        c = self.codes.get(value)
        if c is None:
            c = self.codes[value] = len(self.values)
            self.values.append(value)
        return c

    def value(self, code: int) -> str:
        """The string behind `code`."""
        return self.values[code]
