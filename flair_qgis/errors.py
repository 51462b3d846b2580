"""Exceptions the core raises for problems a user can fix."""


class FlairError(Exception):
    """Bad input or environment. The message names the culprit and the fix; show it as is."""


class Cancelled(FlairError):
    """The user cancelled the run. Nothing was written."""

    def __init__(self, message: str = "cancelled by the user; no output was written") -> None:
        super().__init__(message)
