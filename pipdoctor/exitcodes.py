"""Named exit codes: the documented contract for scripts (README, "Exit codes")."""

OK = 0
FINDINGS = 1  # explain/check: at least one warning or error finding
USAGE = 2  # bad arguments, unreadable or binary input
OUTPUT_FAILED = 3  # pipdoctor could not write its own output (stdout closed or full); a reader that left is not this
INTERRUPTED = 130  # Ctrl-C in pipdoctor itself (128 + SIGINT)


def from_wait_status(returncode: int) -> int:
    """Map a child's exit code as os.waitstatus_to_exitcode gives it (negative for a signal) to a shell's status:
    128+N for signal N."""
    return 128 - returncode if returncode < 0 else returncode
