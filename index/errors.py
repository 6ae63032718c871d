"""Errors the engine raises; each carries the process exit code the CLI should use."""

from __future__ import annotations

from config.exits import EXIT_DATA, EXIT_USAGE


class QabotError(Exception):
    """A failure the user can act on; the message is one line, shown as-is."""

    exit_code = EXIT_DATA


class DataError(QabotError):
    """Bad input data: a source file, a batch line, an index on disk."""

    exit_code = EXIT_DATA


class SourceError(DataError):
    """A source file or folder cannot be read or makes no valid document."""


class IndexLoadError(DataError):
    """The index on disk is missing, corrupt or was built with other settings."""


class IndexWriteError(DataError):
    """The index cannot be written: a read-only or full file system, a path in the way."""


class StoreError(DataError):
    """The vector store outside the index folder (Milvus) cannot be reached or fails."""


class StoreSwitched(IndexLoadError):
    """The Milvus collection an index names is gone: a rebuild switched to a new one (the
    engine loads the index again)."""


class UsageError(QabotError):
    """The request itself is wrong (empty question, unknown document name)."""

    exit_code = EXIT_USAGE


def unknown_document(doc: str, names: list[str]) -> UsageError:
    """The error for an unknown document name, listing (some of) the known ones."""
    names = sorted(names)
    shown = ", ".join(names[:20]) + (f", … ({len(names)} in all)" if len(names) > 20 else "")
    return UsageError(f"unknown document {doc!r}; known documents: {shown}")


class ModelError(QabotError):
    """The embedding model cannot be loaded or fails verification."""

    exit_code = EXIT_DATA
