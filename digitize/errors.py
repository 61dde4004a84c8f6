"""One error hierarchy for the whole project.

Every error knows the stage it came from, whether trying again can help, and
the process exit code the CLI should use. The library raises; only the CLI
turns errors into exit codes. Messages say what went wrong, naming the file,
and how to fix it where we know.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ExitCode",
    "exit_codes_help",
    "DigitizeError",
    "ConfigError",
    "MissingDependencyError",
    "IntakeError",
    "MetadataError",
    "PageReadError",
    "UnsupportedFileError",
    "EmptyItemError",
    "ImageStageError",
    "OCRError",
    "OutputError",
    "TransliterationError",
    "StorageError",
    "StorageUnavailableError",
    "VerificationError",
    "CatalogError",
    "AuditError",
    "BatchLockedError",
    "ReviewError",
    "AccountError",
    "SearchQueryError",
]


class ExitCode(IntEnum):
    """The process exit codes of the ``digitize`` command (listed in its ``--help``)."""

    OK = 0
    ITEM_FAILED = 1
    CONFIG = 2
    MISSING_DEPENDENCY = 3
    INTAKE = 4
    PROCESSING = 5
    TRANSLITERATION = 6
    STORAGE = 7
    CATALOG = 8
    AUDIT_FAILED = 9
    BATCH_LOCKED = 10
    REVIEW = 11

    @property
    def description(self) -> str:
        """What the code means, for ``digitize --help``."""
        return _EXIT_CODE_MEANINGS[self]


_EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "every item is done",
    ExitCode.ITEM_FAILED: "an item (or a hot-folder batch) failed; the report names it and why",
    ExitCode.CONFIG: "the settings are invalid or contradict each other",
    ExitCode.MISSING_DEPENDENCY: "an external program, model or font is not installed",
    ExitCode.INTAKE: "the batch folder or an item in it does not follow the scanner format",
    ExitCode.PROCESSING: "an image stage, OCR or building an output file failed",
    ExitCode.TRANSLITERATION: "the input to the transliterator is invalid",
    ExitCode.STORAGE: "the object store refused or lost a file",
    ExitCode.CATALOG: "the e-library catalog refused a registration",
    ExitCode.AUDIT_FAILED: "digitize audit found a stored object missing, changed or unexpected",
    ExitCode.BATCH_LOCKED: "another digitize run is processing the same batch; nothing was done (see --wait)",
    ExitCode.REVIEW: "a review decision was refused (no such item, not in review, or pages that failed)",
}


def exit_codes_help() -> str:
    """The exit-code table for the command's help, one paragraph per code (generated, never retyped)."""
    lines = [f"{code.value} {code.name}: {code.description}." for code in ExitCode]
    return "Exit codes:\n\n" + "\n\n".join(lines)


class DigitizeError(Exception):
    """Base class of every error this project raises on purpose."""

    stage: str = "digitize"
    retryable: bool = False
    exit_code: ExitCode = ExitCode.ITEM_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message

    def __reduce__(self) -> tuple[type[DigitizeError], tuple[str]]:
        # keep errors picklable across worker processes
        return (self.__class__, (self.message,))


class ConfigError(DigitizeError):
    """The settings are invalid or contradict each other."""

    stage = "settings"
    exit_code = ExitCode.CONFIG


class MissingDependencyError(DigitizeError):
    """An external program, model or font is not installed."""

    stage = "setup"
    exit_code = ExitCode.MISSING_DEPENDENCY


class IntakeError(DigitizeError):
    """The scanner output does not follow the batch format."""

    stage = "intake"
    exit_code = ExitCode.INTAKE


class MetadataError(IntakeError):
    """An item's metadata file is missing or invalid."""


class PageReadError(IntakeError):
    """A page image cannot be read: empty, truncated, corrupt or too large."""


class UnsupportedFileError(IntakeError):
    """A file in an item folder is not a page format we accept."""


class EmptyItemError(IntakeError):
    """An item folder holds no pages."""


class ImageStageError(DigitizeError):
    """An image stage (deskew, cleaning) failed on a page."""

    stage = "image"
    exit_code = ExitCode.PROCESSING


class OCRError(DigitizeError):
    """Tesseract failed on a page."""

    stage = "ocr"
    exit_code = ExitCode.PROCESSING
    # A crashed recognizer may work on a second try; a bad model will not,
    # but that is caught up front by the version/model probe.
    retryable = True


class OutputError(DigitizeError):
    """Building an output file (PDF, text, metadata) failed."""

    stage = "output"
    exit_code = ExitCode.PROCESSING


class TransliterationError(DigitizeError):
    """Input to the transliterator is invalid (for example not UTF-8)."""

    stage = "transliteration"
    exit_code = ExitCode.TRANSLITERATION


class StorageError(DigitizeError):
    """Object storage refused or lost a file."""

    stage = "storage"
    exit_code = ExitCode.STORAGE


class StorageUnavailableError(StorageError):
    """The object store cannot be reached or answered with a server error."""

    retryable = True


class VerificationError(StorageError):
    """A stored object does not match the local file (size or checksum)."""

    retryable = True


class CatalogError(DigitizeError):
    """The e-library catalog refused a registration."""

    stage = "catalog"
    exit_code = ExitCode.CATALOG
    retryable = True


class AuditError(DigitizeError):
    """An audit of the store found a loss: an object missing, changed or unexpected.

    Not retryable: reading again does not bring lost bytes back; restore the
    object from a copy (the audit report names each one) and audit again.
    """

    stage = "audit"
    exit_code = ExitCode.AUDIT_FAILED


class BatchLockedError(DigitizeError):
    """Another run holds the batch's lock (see ``scanners/run_lock.py``); the message names it.

    Not retryable here: the caller chooses to stop or to wait (``digitize run --wait``).
    """

    stage = "run"
    exit_code = ExitCode.BATCH_LOCKED


class ReviewError(DigitizeError):
    """A review decision was refused: the item is unknown, not in review, or has pages that failed.

    Not retryable: the item's state has to change first (the message says how).
    """

    stage = "review"
    exit_code = ExitCode.REVIEW


class AccountError(DigitizeError):
    """A staff account cannot be made, changed or signed in to; the message names the field or the cause.

    Not retryable: the input has to change (another name, a longer password).
    """

    stage = "staff"
    exit_code = ExitCode.CONFIG


class SearchQueryError(DigitizeError):
    """A search cannot be understood as written (no word to search, an unbalanced quote); the message says why.

    Not retryable: the query has to change. The web answers it 400 with the message.
    """

    stage = "search"
    exit_code = ExitCode.CONFIG
