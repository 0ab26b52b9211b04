"""Typed import errors, each carrying one sentence a person can act on.

Why typed: the CLI, the chat upload worker and the tests all need to tell "this file is not
a Health export" apart from "this file is hostile" or "the import was cancelled", and each
must be able to show ``user_message`` verbatim without leaking a traceback.
"""

from __future__ import annotations


class ImportError_(Exception):
    """Base of every rejection; ``user_message`` is safe to show to the user."""

    user_message = "The import failed."

    def __init__(self, user_message: str | None = None, detail: str | None = None) -> None:
        if user_message:
            self.user_message = user_message
        self.detail = detail
        super().__init__(detail or self.user_message)


class NotHealthExport(ImportError_):
    user_message = ("This file is not an Apple Health export: upload the export.zip (or the "
                    "export.xml inside it) from the Health app.")


class UnsafeInput(ImportError_):
    user_message = ("This file contains XML entity or external references, which Apple Health "
                    "exports never do, so it was rejected for safety.")


class ZipBombDetected(ImportError_):
    user_message = ("This zip file expands to far more data than an Apple Health export would, "
                    "so it was rejected for safety.")


class TruncatedExport(ImportError_):
    user_message = ("This export is incomplete or damaged (the file ends too early); export "
                    "again from the Health app and retry. Your previous data was not changed.")


class ImportCancelled(ImportError_):
    user_message = "The import was cancelled; your previous data was not changed."


class ImportInProgress(ImportError_):
    user_message = "Another import for this user is still running; try again when it finishes."
