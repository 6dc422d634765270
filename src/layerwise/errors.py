"""Errors meant for people: each carries one sentence that says what is wrong and what to do.

The CLI prints the message of a `LayerwiseError` as it is and exits non-zero; anything else
escaping is a bug and keeps its traceback.
"""


class LayerwiseError(Exception):
    """Base class for errors whose message is written for the user."""

    exit_code = 1


class DataError(LayerwiseError):
    """A dataset file is missing, malformed, corrupt or cannot be written."""


class ConfigError(LayerwiseError, ValueError):
    """A configuration value or command-line flag is invalid."""

    exit_code = 2


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt, so partial files are removed."""
