"""What the core gives for one row: a `Verdict`, the scored row's verdict and provenance
fields (`ScoredTransaction`'s own, so `shared.columns.SCORED_ROW`'s) with their defaults.

The streaming shell writes it with its input (`shared.fastcodec.encode_scored`), without
building a `ScoredTransaction`; `scored_fields` joins both into the row's field dict.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.schemas import VERDICT_DEFAULTS, ScoredTransaction, Transaction, TransactionView


def _field(name: str) -> tuple[str, Any, Any]:
    info = ScoredTransaction.model_fields[name]
    if info.is_required():  # required of a message (`is_flag`): the declared default here
        return (name, Any, VERDICT_DEFAULTS[name])
    if info.default_factory is not None:
        return (name, Any, msgspec.field(default_factory=info.default_factory))  # type: ignore[arg-type]
    return (name, Any, info.default)


#: The fields the core computes, in the row's order (after the input's).
FIELDS: tuple[str, ...] = tuple(
    n for n in ScoredTransaction.model_fields if n not in Transaction.model_fields)
_INPUT: tuple[str, ...] = tuple(Transaction.model_fields)

#: One row's verdict, by name (values as `ScoredTransaction` holds them).
Verdict: Any = msgspec.defstruct(
    "Verdict", [_field(n) for n in FIELDS], kw_only=True, gc=False, module=__name__)
_values = msgspec.structs.astuple


def verdict_fields(verdict: Any) -> dict[str, Any]:
    """A verdict's fields as a dict, in order."""
    return dict(zip(FIELDS, _values(verdict), strict=True))


def scored_fields(tx: TransactionView, verdict: Any) -> dict[str, Any]:
    """The scored row's field dict: the input's fields, then the verdict's."""
    data = (dict(tx.__dict__) if isinstance(tx, Transaction)
            else {name: getattr(tx, name) for name in _INPUT})
    data.update(zip(FIELDS, _values(verdict), strict=True))
    return data
