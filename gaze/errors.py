"""The error raised for a bad configuration value or input file, and how a command reports it."""

import sys


class ConfigError(ValueError):
    """A configuration value, or an input file, that the run cannot use."""


def exit_with_error(message: str, status: int = 2) -> None:
    """Ends the process with `message` as one `error: ...` line on stderr and exit `status`."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(status)
