"""JSON encoding and decoding of messages (pydantic-core does both in Rust, without copies)."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shared.errors import SchemaError
from shared.schemas import Transaction, escape_controls

M = TypeVar("M", bound=BaseModel)

#: At most this many problems are listed (a message with 10,000 unknown fields is one line).
MAX_PROBLEMS = 10
#: A field name longer than this is cut in a reason (names come from the bad input).
MAX_NAME_CHARS = 40


def encode(message: BaseModel) -> bytes:
    """Serialise a message to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_defaults=False).encode()


def encode_fields(fields: dict[str, Any]) -> bytes:
    """`encode` of a `Transaction` from its field dict, about five times faster (orjson).

    `fields` is a validated transaction's `__dict__` (or the dict the CSV reader validated);
    a hypothesis test proves the bytes equal `encode`'s for any valid `Transaction`.
    """
    return orjson.dumps(fields)


def encode_fast(tx: Transaction) -> bytes:
    """`encode(tx)`, byte for byte, for the producer's hot path."""
    return orjson.dumps(tx.__dict__)


def decode(data: bytes | str, model: type[M]) -> M:
    """Parse and validate one JSON message; raise `SchemaError` naming the bad fields."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise SchemaError(describe_validation_error(exc)) from exc


def field_name(part: str | int) -> str:
    """A field path part as shown: cut, and any character of the text rule escaped (an
    attribute name the schema refused is in the path)."""
    text = str(part)
    return escape_controls(text if len(text) <= MAX_NAME_CHARS
                           else text[:MAX_NAME_CHARS] + "…")


def validation_errors(exc: ValidationError) -> list[ErrorDetails]:
    """`exc`'s problems as `describe_errors` reads them (a list of one dict per problem: a
    refused message of 20,000 members makes 20,000; build it once)."""
    return exc.errors(include_url=False, include_input=False, include_context=False)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: `field: reason`, the field path dotted (`json` for bad JSON).

    Bounded whatever the input: names are cut to 40 characters, at most 10 problems listed.
    """
    return describe_errors(validation_errors(exc))


def describe_errors(errors: list[ErrorDetails]) -> str:
    """`describe_validation_error` of the problems `validation_errors` listed."""
    parts = []
    for err in errors[:MAX_PROBLEMS]:
        loc = ".".join(field_name(p) for p in err["loc"]) or "json"
        parts.append(f"{loc}: {err['msg']}")
    if len(errors) > MAX_PROBLEMS:
        parts.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "; ".join(parts)
