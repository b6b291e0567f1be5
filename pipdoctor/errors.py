"""Errors that reach the user as one line and exit 2 (cli.main is the one place that catches them)."""


class UsageError(Exception):
    """Bad input from the user: an unknown option or user, an unreadable or binary log."""
