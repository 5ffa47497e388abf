"""SOURCE_DATE_EPOCH, the reproducible-builds convention: the one rule for its value.

The dashboard build takes its time from it (dashboard.reproducible). Any process that
imports scipy (scikit-learn does: `auditstream`, `python -m detector`) reads it too, in
numpy.f2py, which dies with a traceback on anything but an integer, blank included. So the
entry points check it before those imports (`check_environment`).
"""

from __future__ import annotations

import os

from shared.errors import AuditstreamError

#: 9999-12-31T23:59:59Z: the last second a `datetime` (the model's timestamps) can hold.
MAX_EPOCH = 253_402_300_799


class BuildEpochError(AuditstreamError):
    """SOURCE_DATE_EPOCH or run.json's event_time_max is not a time."""


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH in Unix seconds, None when unset or blank; `BuildEpochError` unless
    it is ASCII digits (around blanks) up to `MAX_EPOCH`."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    digits = raw.lstrip("0") or "0"
    if not (raw.isascii() and raw.isdigit()) or len(digits) > len(str(MAX_EPOCH)) \
            or int(digits) > MAX_EPOCH:
        shown = f"{raw[:40]!r}{'...' if len(raw) > 40 else ''}"
        raise BuildEpochError(
            f"SOURCE_DATE_EPOCH must be whole seconds since 1970 (0 to {MAX_EPOCH}, the "
            f"end of 9999), not {shown}; set it to a Unix time, e.g. "
            f"$(git log -1 --format=%ct), or unset it")
    return int(digits)


def check_environment() -> None:
    """Before scipy is imported: a blank SOURCE_DATE_EPOCH is removed (the build reads blank
    as unset) and any other is held to the rule (`BuildEpochError`, exit 2)."""
    if os.environ.get("SOURCE_DATE_EPOCH", "set").strip() == "":
        del os.environ["SOURCE_DATE_EPOCH"]
    source_date_epoch()
