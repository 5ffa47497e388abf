"""One root exception for the project, small typed subclasses, and the exit-code table.

Every command of `auditstream` (and each service's `python -m`) exits with one of `ExitCode`;
an expected failure is an `AuditstreamError` whose `exit_code` says which, printed as one
line (the cause and what to do), never as a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes of every command (README, "Exit codes")."""

    OK = 0
    #: Some input rows were rejected (each reported with its line); the rest were processed.
    ROWS_REJECTED = 1
    #: Bad usage, configuration or input file, or a fatal client error (e.g. fenced).
    USAGE = 2
    #: Kafka accepted the work but did not finish it: undelivered messages, a stuck transaction.
    KAFKA_INCOMPLETE = 3
    #: No Kafka broker answered at the configured address within the wait (KAFKA_STARTUP_WAIT_S;
    #: the services' DETECTOR_/SINK_STARTUP_WAIT_S; for the detector also: the cluster stayed
    #: out of reach, e.g. restarting, past its rewind wait, or its transaction coordinator not
    #: ready for the transactional id, CONCURRENT_TRANSACTIONS, past the wait).
    KAFKA_UNREACHABLE = 4
    #: Output could not be written: disk full, read-only folder, permission denied.
    OUTPUT_UNWRITABLE = 5
    #: The exports folder (or a build's folder) is held by another running writer.
    LOCKED = 6
    #: The same input offset failed the process repeatedly (a bug, not data): see the log.
    POISON_PILL = 7
    #: An unexpected exception (a bug, not the input): its traceback is printed. Not 1,
    #: Python's own code for it, which here means "some rows rejected, the rest processed".
    BUG = 70
    #: Interrupted (SIGINT / Ctrl-C).
    INTERRUPTED = 130


class AuditstreamError(Exception):
    """Root of every error auditstream raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(AuditstreamError):
    """An argument or path that cannot be used as given (a file where a folder is needed)."""


class SchemaError(AuditstreamError):
    """A message or row does not match the transaction schema."""


class KafkaWiringError(AuditstreamError):
    """Kafka could not be reached or configured; keeps librdkafka's error code when there is one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class KafkaUnreachableError(KafkaWiringError):
    """No broker answered at the configured bootstrap address in time."""

    exit_code = ExitCode.KAFKA_UNREACHABLE
    #: The last error of the wait, to name again when a longer wait gives up.
    detail = ""


class OutputError(AuditstreamError, OSError):
    """An output file or folder cannot be written (disk full, read-only, permissions).

    Also an `OSError` (the failure it names is one), so code that treats a write as best
    effort (`except OSError`) tolerates it as it did the OSError it replaces. Its `errno` is
    None: `shared.outputs` passes it on as it is, never wrapped a second time.
    """

    exit_code = ExitCode.OUTPUT_UNWRITABLE


class LockedError(AuditstreamError):
    """A resource (an exports folder) is held by another running process."""

    exit_code = ExitCode.LOCKED


class PoisonPillError(AuditstreamError):
    """The same input record failed the process repeatedly: a bug to fix, not bad data."""

    exit_code = ExitCode.POISON_PILL


class BrokerError(AuditstreamError):
    """The local broker could not be fetched, started or stopped."""
