"""The check's findings about pip's configuration itself (PD205) and about an account it could not read (PD206)."""

from __future__ import annotations

from pipdoctor.checker import CODES
from pipdoctor.findings import Evidence, Finding

_ROWS = {code: (name, severity) for code, name, severity in CODES}


def _finding(code: str, message: str, why: str, paths=(), evidence=()) -> Finding:
    name, severity = _ROWS[code]
    return Finding(code, name, severity, message=message, why=why, paths=tuple(paths),
                   evidence=tuple(Evidence(text) for text in evidence))


def _config_path(source: str):
    """The file of a source spelled "config file PATH [section] name" (locations), else None."""
    if not source.startswith("config file "):
        return None
    return source[len("config file "):].rpartition(" [")[0] or source[len("config file "):]


def input_finding(error) -> Finding:
    """pip would stop on this setting (locations.PipInputError) before it uses any cache."""
    path = _config_path(error.source)
    return _finding(
        "PD205",
        f"pip stops before it uses any cache: {error.message} (from {error.source}).",
        why=("pip reads every config file it finds and every PIP_* variable before it does anything, and a "
             "value it cannot use (a file that is not INI, a value an option cannot take, an interpreter it "
             "cannot locate, a path it cannot resolve) ends the run with an error or a traceback: nothing is "
             "installed and no cache is used."),
        paths=[path] if path else [],
        evidence=[f"from {error.source}"],
    )


def unusable_findings(unusable) -> list:
    """One finding per config file pipdoctor did not read: ((path, why), ...) from CacheLocation.unusable."""
    return [_finding(
        "PD205",
        f"pip's config file {path} is unusable: {why}. pipdoctor did not read it; the cache shown is where "
        "pip goes without it.",
        why=("pip opens every config file it finds and reads it to the end: a FIFO makes it wait, a device "
             "makes it read without end, and a file over 1 MiB is not one pip was meant to read. pipdoctor reads "
             "config files only as regular files of at most 1 MiB, with the user's own rights (the name may be "
             "a symlink to somewhere else)."),
        paths=[path],
        evidence=[f"{path}: {why}"],
    ) for path, why in unusable]


def unreadable_finding(label: str, reason: str) -> Finding:
    """The account could not be checked at all; the others still are."""
    return _finding(
        "PD206",
        f"{label} could not be checked: {reason}. Nothing is known about its pip cache.",
        why=("pipdoctor reads an account's pip config files with that account's own rights, in a process of "
             "its own with a time limit; when that process gives no answer, guessing the cache would be wrong."),
        evidence=[reason],
    )
