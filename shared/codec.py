"""JSON encoding and decoding of messages (pydantic-core does both in Rust, without copies)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.errors import SchemaError

M = TypeVar("M", bound=BaseModel)


def encode(message: BaseModel) -> bytes:
    """Serialise a message to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_defaults=False).encode()


def decode(data: bytes | str, model: type[M]) -> M:
    """Parse and validate one JSON message; raise `SchemaError` naming the bad fields."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise SchemaError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: `field: reason`, the field path dotted (`json` for bad JSON)."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "json"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
