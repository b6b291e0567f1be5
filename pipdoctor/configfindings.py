"""The check's findings about the installer's configuration itself (PD205) and about an account it could not read
(PD206)."""

from __future__ import annotations

from pipdoctor.checker import CODES
from pipdoctor.findings import Evidence, Finding

_ROWS = {code: (name, severity) for code, name, severity in CODES}

# Why an input the installer cannot use stops it, per installer (pip: pip/_internal/configuration.py and its
# option parser; uv: uv/src/lib.rs loads every config file before any command, a parse error is exit 2).
_STOPS_WHY = {
    "pip": ("pip reads every config file it finds and every PIP_* variable before it does anything, and a "
            "value it cannot use (a file that is not INI, a value an option cannot take, an interpreter it "
            "cannot locate, a path it cannot resolve) ends the run with an error or a traceback: nothing is "
            "installed and no cache is used."),
    "uv": ("uv reads its config files (uv.toml, a project's pyproject.toml [tool.uv]) and its UV_* variables "
           "before any command, and a file that does not parse, a field it does not know or a value an option "
           "cannot take ends the run (exit 2): nothing is installed and no cache is used."),
}


def _finding(code: str, message: str, why: str, paths=(), evidence=(), tool: str = "pip") -> Finding:
    name, severity = _ROWS[code]
    return Finding(code, name, severity, message=message, why=why, paths=tuple(paths),
                   evidence=tuple(Evidence(text) for text in evidence), tool=tool)


def _config_path(source: str):
    """The file of a source that names one, else None: pip's "config file PATH [section] name"
    (installers/pip/locations.py), uv's "config file PATH[ key]" and "pyproject.toml PATH [tool.uv] key"
    (installers/uv/locations.py _file_source)."""
    if source.startswith("pyproject.toml "):
        rest = source[len("pyproject.toml "):]
        return rest.rpartition(" [tool.uv] ")[0] or rest
    if not source.startswith("config file "):
        return None
    rest = source[len("config file "):]
    if " [" in rest:
        return rest.rpartition(" [")[0] or rest
    for key in (" cache-dir", " no-cache"):
        if rest.endswith(key):
            return rest[:-len(key)]
    return rest


def input_finding(error, tool: str = "pip") -> Finding:
    """The installer would stop on this setting (pip's PipInputError, uv's UvInputError) before it uses any
    cache."""
    path = _config_path(error.source)
    return _finding(
        "PD205",
        f"{tool} stops before it uses any cache: {error.message} (from {error.source}).",
        why=_STOPS_WHY[tool],
        paths=[path] if path else [],
        evidence=[f"from {error.source}"],
        tool=tool,
    )


def unusable_findings(unusable, tool: str = "pip") -> list:
    """One finding per config file pipdoctor did not read: ((path, why), ...) from CacheLocation.unusable."""
    return [_finding(
        "PD205",
        f"{tool}'s config file {path} is unusable: {why}. pipdoctor did not read it; the cache shown is where "
        f"{tool} goes without it.",
        why=(f"{tool} opens every config file it finds and reads it to the end: a FIFO makes it wait, a device "
             f"makes it read without end, and a file over 1 MiB is not one {tool} was meant to read. pipdoctor "
             "reads config files only as regular files of at most 1 MiB, with the user's own rights (the name may "
             "be a symlink to somewhere else)."),
        paths=[path],
        evidence=[f"{path}: {why}"],
        tool=tool,
    ) for path, why in unusable]


def unreadable_finding(label: str, reason: str, tool: str = "pip") -> Finding:
    """The account could not be checked at all; the others still are."""
    return _finding(
        "PD206",
        f"{label} could not be checked: {reason}. Nothing is known about its {tool} cache.",
        why=(f"pipdoctor reads an account's {tool} config files with that account's own rights, in a process of "
             "its own with a time limit; when that process gives no answer, guessing the cache would be wrong."),
        evidence=[reason],
        tool=tool,
    )
