"""Dead letters: why a message could not be read, as headers next to its unchanged bytes.

Header names follow the spirit of Kafka Streams' KIP-1034: the error class and message, and
where the record came from, so an operator can find, fix and replay it.
"""

from __future__ import annotations

from shared import fastcodec
from shared.codec import MAX_PROBLEMS, describe_problems
from shared.message_size import MAX_MESSAGE_BYTES  # the input's bound, declared there
from shared.schema_problems import Problems, validate
from shared.schemas import Transaction, TransactionView

INVALID_JSON = "InvalidJSON"
SCHEMA_ERROR = "SchemaError"
EMPTY_MESSAGE = "EmptyMessage"
MESSAGE_TOO_LARGE = "MessageTooLarge"

H_ERROR_CLASS = "error.class"
H_ERROR_MESSAGE = "error.message"
H_SOURCE_TOPIC = "source.topic"
H_SOURCE_PARTITION = "source.partition"
H_SOURCE_OFFSET = "source.offset"

#: Longest error message kept in a header (a broken 1 MB message must not make a 1 MB header).
MAX_MESSAGE_CHARS = 2_000


class DecodeFailure(Exception):
    """A message that is not a valid `Transaction`: the error class and a readable reason."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(error_class, message)
        self.error_class = error_class
        self.message = message

    def __str__(self) -> str:
        return f"{self.error_class}: {self.message}"


def decode_transaction(value: bytes | None) -> Transaction:
    """Parse one message value; raise `DecodeFailure` saying what is wrong with it.

    Nothing else escapes: any exception while decoding or validating one message (a bug in
    a validator, an overflow, a recursion limit) is that message's failure, named by the
    exception's class, so it is dead-lettered instead of stopping the partition.
    """
    if not value:
        raise DecodeFailure(EMPTY_MESSAGE, "the message has no value")
    if len(value) > MAX_MESSAGE_BYTES:
        raise DecodeFailure(MESSAGE_TOO_LARGE, too_large(len(value)))
    try:
        # the first problems and their count, at a bound on memory (`shared.schema_problems`)
        found = validate(value, Transaction, MAX_PROBLEMS)
    except Exception as exc:  # poison is data, not a crash (see the docstring)
        message = str(exc)[:MAX_MESSAGE_CHARS] or "(no message)"
        raise DecodeFailure(type(exc).__name__, message) from exc
    if not isinstance(found, Problems):
        return found
    # pydantic's reader refuses a message with that one problem, so the first tell
    error_class = (INVALID_JSON if any(e["type"] == "json_invalid" for e in found.first)
                   else SCHEMA_ERROR)
    raise DecodeFailure(error_class, describe_problems(found.first, found.count))


def too_large(size: int) -> str:
    """The reason a message of `size` bytes is refused unread."""
    return (f"the message is {size:,} bytes, over the {MAX_MESSAGE_BYTES:,} a transaction "
            "can take (every field at its bound); not read")


def decode_record(value: bytes | None) -> TransactionView:
    """`decode_transaction(value)` as a light record: the fast decoder's when it vouches for
    the message (almost always), else the schema's verdict (its record, or `DecodeFailure`
    with its reason), so accepting, rejecting and reasons are exactly the schema's."""
    if value:
        rec = fastcodec.decode_record(value)
        if rec is not None:
            return rec
    return schema_record(value)


def schema_record(value: bytes | None) -> TransactionView:
    """The schema's verdict on `value` as a record (or `DecodeFailure`): `decode_record`'s
    slow path, for a caller that already asked the fast decoder."""
    return fastcodec.from_transaction(decode_transaction(value))


def dead_letter_headers(
    failure: DecodeFailure, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """The headers of a dead letter (values UTF-8)."""
    return [
        (H_ERROR_CLASS, failure.error_class.encode()),
        (H_ERROR_MESSAGE, failure.message[:MAX_MESSAGE_CHARS].encode()),
        (H_SOURCE_TOPIC, topic.encode()),
        (H_SOURCE_PARTITION, str(partition).encode()),
        (H_SOURCE_OFFSET, str(offset).encode()),
    ]
