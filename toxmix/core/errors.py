"""The one error type users see: a one-line message and exit code 2."""


class ToxmixError(Exception):
    """A user-facing error whose message says what went wrong and what to do."""

    exit_code = 2
