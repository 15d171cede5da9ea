"""The one error type users see.

Library code raises :class:`AnnotateError` with a sentence a person can act on; the CLI prints
that sentence (and the fix, when there is one) and exits non-zero without a traceback.
"""

from __future__ import annotations


class AnnotateError(Exception):
    """A user-facing error: a problem with input, configuration or a server, not a bug.

    ``message`` says what went wrong in one sentence; ``hint`` says what to do about it.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(AnnotateError):
    """Settings or the workspace are unusable."""


class InputError(AnnotateError):
    """A file given by the user cannot be used as it is."""

    exit_code = 2
