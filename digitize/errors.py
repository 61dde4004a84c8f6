"""One error hierarchy for the whole project.

Every error knows the stage it came from, whether trying again can help, and
the process exit code the CLI should use. The library raises; only the CLI
turns errors into exit codes. Messages say what went wrong, naming the file,
and how to fix it where we know.
"""

from __future__ import annotations

__all__ = [
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
]


class DigitizeError(Exception):
    """Base class of every error this project raises on purpose."""

    stage: str = "digitize"
    retryable: bool = False
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message

    def __reduce__(self):  # keep errors picklable across worker processes
        return (self.__class__, (self.message,))


class ConfigError(DigitizeError):
    """The settings are invalid or contradict each other."""

    stage = "settings"
    exit_code = 2


class MissingDependencyError(DigitizeError):
    """An external program, model or font is not installed."""

    stage = "setup"
    exit_code = 3


class IntakeError(DigitizeError):
    """The scanner output does not follow the batch format."""

    stage = "intake"
    exit_code = 4


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
    exit_code = 5


class OCRError(DigitizeError):
    """Tesseract failed on a page."""

    stage = "ocr"
    exit_code = 5
    # A crashed recognizer may work on a second try; a bad model will not,
    # but that is caught up front by the version/model probe.
    retryable = True


class OutputError(DigitizeError):
    """Building an output file (PDF, text, metadata) failed."""

    stage = "output"
    exit_code = 5


class TransliterationError(DigitizeError):
    """Input to the transliterator is invalid (for example not UTF-8)."""

    stage = "transliteration"
    exit_code = 6


class StorageError(DigitizeError):
    """Object storage refused or lost a file."""

    stage = "storage"
    exit_code = 7


class StorageUnavailableError(StorageError):
    """The object store cannot be reached or answered with a server error."""

    retryable = True


class VerificationError(StorageError):
    """A stored object does not match the local file (size or checksum)."""

    retryable = True


class CatalogError(DigitizeError):
    """The e-library catalog refused a registration."""

    stage = "catalog"
    exit_code = 8
    retryable = True
