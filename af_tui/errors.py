"""The project's error type: a message for a person, one line; the CLI prints it and exits non-zero."""


class AfError(Exception):
    """Bad input or an unusable environment: what went wrong and what to do, in one line."""

    exit_code = 2
