"""Errors meant for an operator: one clear line, a non-zero exit status, no traceback.

Library code raises these; only `main()` functions turn them into messages and exit
codes, so the same code can be used from tests and the daemon.
"""


class CmError(Exception):
    """A failure the operator can act on; `str()` is the whole message."""

    status = 1


class UsageError(CmError):
    """Bad command-line arguments or input files: exit status 2, as argparse does."""

    status = 2


class NotAuthorized(CmError):
    """The caller's identity does not allow the operation."""

    status = 3


class Unreachable(CmError):
    """A daemon could not be reached; the message says why, as far as it is known."""

    status = 4


class FieldError(UsageError):
    """A request field with a bad value; the message starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
