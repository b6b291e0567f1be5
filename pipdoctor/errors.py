"""Errors that reach the user as one line (cli.main is the one place that catches them)."""


class UsageError(Exception):
    """Bad input from the user: an unknown option or user, an unreadable or binary log (exit 2)."""


class OutputError(Exception):
    """pipdoctor could not write its own output: stdout closed, a full disk, an I/O error (exit 3)."""
