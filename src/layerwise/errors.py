"""Errors meant for people: each carries one sentence that says what is wrong and what to do.

The CLI prints the message of a `LayerwiseError` as it is and exits non-zero; anything else
escaping is a bug and keeps its traceback.
"""


class LayerwiseError(Exception):
    """Base class for errors whose message is written for the user."""

    exit_code = 1


class DataError(LayerwiseError):
    """A dataset file is missing, malformed, corrupt or cannot be written."""


class DataValueError(DataError, ValueError):
    """Data passed in Python has the wrong values or shape: ragged, NaN, mismatched lengths."""


class DataTypeError(DataError, TypeError):
    """Data passed in Python is of a kind or dtype layerwise cannot use (objects, strings)."""


class ConfigError(LayerwiseError, ValueError):
    """A configuration value or command-line flag is invalid. `field` names the config field
    at fault ("TrainConfig.lr") where there is one; the CLI says its flag instead."""

    exit_code = 2

    def __init__(self, *args, field: str | None = None):
        super().__init__(*args)
        self.field = field


class ConfigTypeError(ConfigError, TypeError):
    """A config field holds a value of the wrong type (a float batch size, a dict for a
    config)."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt, so partial files are removed."""
